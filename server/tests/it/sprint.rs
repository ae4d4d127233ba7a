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

/// `serve --sprint tiny`: the node proves in windows beside its other work; each window's proof
/// verifies with the seed material written beside it, the counters move, queries still answer,
/// and SIGTERM stops the job cleanly.
#[test]
fn the_node_runs_sprint_as_a_background_job() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    init_chain(&data, 1);
    let key = root.path().join("sprint.key");
    run_cli(&["key", "new", "--out", key.to_str().unwrap()]);
    let config = root.path().join("node.toml");
    std::fs::write(&config, format!("sprint_window_s = 0.5\nsprint_key = {:?}\n", key.to_str().unwrap())).unwrap();
    let node = NodeProcess::start_with(&data, 100, &["--sprint", "tiny", "--config", config.to_str().unwrap()]);
    let window = |k: usize| data.join("sprint").join(format!("window-{k}.json"));
    let first = window(0);
    // Every window's proof verifies. The prover runs at the lowest CPU priority, so on a loaded
    // machine a window may try a single round of nonces and find no hit (at 1/16 odds, 32
    // nonces miss 13% of the time): the windows are read until two are in and one has a hit.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut verified, mut weight) = (0, 0);
    while verified < 2 || weight == 0 {
        let file = window(verified);
        if !file.exists() {
            assert!(Instant::now() < deadline, "{verified} Sprint windows, {weight} hits");
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let proof: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let seed = proof["seed"].as_str().unwrap();
        let verdict: Value = serde_json::from_str(
            run_cli(&["sprint", "verify", "--profile", "tiny", "--proof", file.to_str().unwrap(), "--seed", seed])
                .trim(),
        )
        .unwrap();
        assert_eq!(verdict["verdict"], "valid", "{verdict}");
        weight += verdict["weight"].as_u64().unwrap();
        verified += 1;
    }

    let metrics = ureq::get(&format!("{}/metrics", node.url)).call().unwrap().into_string().unwrap();
    let counter = |name: &str| -> u64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert!(counter("cybergraph_sprint_windows_total") >= 1);
    assert!(counter("cybergraph_sprint_nonces_total") > counter("cybergraph_sprint_hits_total"));
    assert!(counter("cybergraph_sprint_hits_total") > 0);
    assert_eq!(node.get("/status")["chain_id"], "it-chain", "queries still answer");
    node.stop();

    // A restart continues after the last window: nothing is overwritten, no seed is reused.
    let written = std::fs::read_dir(data.join("sprint")).unwrap().count();
    let before = std::fs::read_to_string(&first).unwrap();
    let node = NodeProcess::start_with(&data, 100, &["--sprint", "tiny", "--config", config.to_str().unwrap()]);
    let next = window(written);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !next.exists() {
        assert!(Instant::now() < deadline, "no window after the restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    node.stop();
    assert_eq!(std::fs::read_to_string(&first).unwrap(), before);
    let seeds: std::collections::BTreeSet<String> = std::fs::read_dir(data.join("sprint"))
        .unwrap()
        .map(|entry| {
            let file: Value = serde_json::from_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap()).unwrap();
            file["seed"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(seeds.len(), std::fs::read_dir(data.join("sprint")).unwrap().count(), "every window has its own seed");
}
