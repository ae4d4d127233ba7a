//! `cybergraph sprint prove` and `verify` end to end.

use crate::*;

#[test]
fn a_proof_verifies_under_its_profile_only_and_not_once_tampered() {
    let root = tempfile::tempdir().unwrap();
    let key = root.path().join("prover.key");
    run_cli(&["key", "new", "--out", key.to_str().unwrap()]);
    let proof = root.path().join("proof.json");
    let seed = "00112233";
    let out = run_cli(&[
        "sprint",
        "prove",
        "--profile",
        "tiny",
        "--seconds",
        "1",
        "--key",
        key.to_str().unwrap(),
        "--seed",
        seed,
        "--out",
        proof.to_str().unwrap(),
    ]);
    let made: Value = serde_json::from_str(out.trim()).unwrap();
    assert!(made["hits"].as_u64().unwrap() > 0, "{made}");
    let verdict: Value = serde_json::from_str(
        run_cli(&["sprint", "verify", "--profile", "tiny", "--proof", proof.to_str().unwrap(), "--seed", seed]).trim(),
    )
    .unwrap();
    assert_eq!(verdict["verdict"], "valid");
    assert_eq!(verdict["weight"], made["hits"]);

    let refuse = |args: &[&str]| {
        let out = std::process::Command::new(BIN).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let file = proof.to_str().unwrap();
    assert!(refuse(&["sprint", "verify", "--profile", "small", "--proof", file, "--seed", seed]).contains("profile"));
    assert!(
        refuse(&["sprint", "verify", "--profile", "tiny", "--proof", file, "--seed", "99"]).contains("another Sprint")
    );
    let mut json: Value = serde_json::from_str(&std::fs::read_to_string(&proof).unwrap()).unwrap();
    let signature = json["signature"].as_str().unwrap().to_owned();
    json["signature"] =
        Value::String(format!("{}{}", if signature.starts_with('A') { "B" } else { "A" }, &signature[1..]));
    std::fs::write(&proof, json.to_string()).unwrap();
    assert!(refuse(&["sprint", "verify", "--profile", "tiny", "--proof", file, "--seed", seed]).contains("signature"));
}
