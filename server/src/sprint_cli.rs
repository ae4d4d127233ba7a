//! `cybergraph sprint prove|verify|bench`: Sprint from the command line.

use std::{path::Path, time::Instant};

use anyhow::{Context, Result, bail};
use base64::{Engine as _, engine::general_purpose::STANDARD};
use engine::{
    NeuronKey,
    sprint::{
        Model, Profile, Seed, node_seed,
        proof::{Lane, Proof, fraud_threshold, prove as prove_lane, random_seed, sample},
        sprint_seed,
    },
};
use serde_json::json;

fn profile(name: &str) -> Result<Profile> {
    Profile::named(name).with_context(|| format!("unknown profile {name:?} (tiny, small, paper)"))
}

fn seed(hex_material: &str) -> Result<Seed> {
    let material = hex::decode(hex_material).context("--seed is hex")?;
    Ok(sprint_seed(&material))
}

/// Iterates the lane for `seconds`, keeps the hits, signs and writes the proof as JSON
/// `{"claim": base64 DAG-CBOR, "signature": base64}`.
pub(crate) fn prove(
    profile_name: &str,
    seconds: f64,
    key: &Path,
    seed_hex: &str,
    lane: Lane,
    out: &Path,
) -> Result<()> {
    let profile = profile(profile_name)?;
    let key = NeuronKey::read(key)?;
    let sprint = seed(seed_hex)?;
    let model = Model::new(profile, sprint);
    let start = Instant::now();
    let (proof, tried) = prove_lane(&model, &key, lane, |_| start.elapsed().as_secs_f64() < seconds);
    let file = json!({ "claim": STANDARD.encode(proof.claim.encode()), "signature": STANDARD.encode(proof.signature) });
    std::fs::write(out, serde_json::to_string_pretty(&file)?).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}",
        json!({ "tried": tried, "hits": proof.claim.nonces.len(), "expected": tried as f64 / f64::from(profile.hit_odds) })
    );
    Ok(())
}

/// Checks the stateless rules, recomputes a random sample and applies the binomial test.
pub(crate) fn verify(profile_name: &str, proof_file: &Path, seed_hex: &str) -> Result<()> {
    let profile = profile(profile_name)?;
    let sprint = seed(seed_hex)?;
    let text = std::fs::read_to_string(proof_file).with_context(|| format!("reading {}", proof_file.display()))?;
    let file: serde_json::Value = serde_json::from_str(&text).context("the proof file is not JSON")?;
    let field = |name: &str| -> Result<Vec<u8>> {
        let text = file[name].as_str().with_context(|| format!("the proof file has no {name:?}"))?;
        STANDARD.decode(text).with_context(|| format!("{name} is not base64"))
    };
    let signature: [u8; 64] =
        field("signature")?.try_into().map_err(|_| anyhow::anyhow!("signature is not 64 bytes"))?;
    let proof = Proof::decode(&field("claim")?, signature)?;
    proof.check(&profile, &sprint)?;
    let model = Model::new(profile, sprint);
    // The prover cannot predict this sample: it comes from this machine's randomness.
    let picked = sample(&random_seed(), proof.claim.nonces.len(), 200);
    let failures = proof.failures(&model, &picked) as u64;
    let threshold = fraud_threshold(picked.len() as u64, 5e-4, 1e-7);
    let verdict = if failures >= threshold { "fraud" } else { "valid" };
    println!(
        "{}",
        json!({ "weight": proof.claim.nonces.len(), "sampled": picked.len(), "failures": failures, "threshold": threshold, "verdict": verdict })
    );
    if verdict == "fraud" {
        bail!("{failures} of {} sampled nonces failed (threshold {threshold})", picked.len());
    }
    Ok(())
}

/// Weight generation and single-threaded reference nonces per second for one profile.
pub(crate) fn bench(profile_name: &str, seconds: f64) -> Result<()> {
    let profile = profile(profile_name)?;
    let start = Instant::now();
    let model = Model::new(profile, sprint_seed(b"bench"));
    let weights = start.elapsed().as_secs_f64();
    let node = node_seed(&[1; 32]);
    let start = Instant::now();
    let (mut nonces, mut hits) = (0u64, 0u64);
    while start.elapsed().as_secs_f64() < seconds {
        hits += u64::from(model.evaluate(&node, nonces).hit);
        nonces += 1;
    }
    let summary = json!({
        "profile": profile.name,
        "parameters": profile.parameters(),
        "weight_generation_s": weights,
        "weight_bytes": profile.parameters() * 4,
        "reference_nonces_per_s": nonces as f64 / start.elapsed().as_secs_f64(),
        "nonces": nonces,
        "hits": hits,
        "expected_hits": nonces as f64 / f64::from(profile.hit_odds),
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
