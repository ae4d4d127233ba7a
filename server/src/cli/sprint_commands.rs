//! `cybergraph sprint prove|verify|bench`: Sprint from the command line.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use engine::NeuronKey;
use serde_json::json;
use sprint::{
    Model, Profile, Seed,
    file::{read_proof, write_proof},
    node_seed,
    proof::{Lane, fraud_threshold, prove as prove_lane, random_seed, sample},
    sprint_seed,
};

fn profile(name: &str) -> Result<Profile> {
    Profile::named(name).with_context(|| format!("unknown profile {name:?} (tiny, small, paper)"))
}

fn seed(hex_material: &str) -> Result<Seed> {
    let material = hex::decode(hex_material).context("--seed is hex")?;
    Ok(sprint_seed(&material))
}

#[derive(Subcommand, Debug)]
pub(super) enum SprintCommand {
    /// Iterate a nonce lane for a time window and write the signed proof of its hits.
    Prove {
        /// tiny, small or paper.
        #[arg(long)]
        profile: String,
        /// The window.
        #[arg(long)]
        seconds: f64,
        /// The prover's key file.
        #[arg(long)]
        key: PathBuf,
        /// The Sprint's seed material (hex).
        #[arg(long)]
        seed: String,
        /// First nonce of the lane.
        #[arg(long, default_value_t = 0)]
        lane_offset: u64,
        /// Nonce step of the lane (provers in the group).
        #[arg(long, default_value_t = 1)]
        lane_step: u64,
        /// Where to write the proof.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a proof's rules, recompute a random sample of its nonces, apply the fraud test.
    Verify {
        /// The profile it must be for.
        #[arg(long)]
        profile: String,
        /// The proof file.
        #[arg(long)]
        proof: PathBuf,
        /// The Sprint's seed material (hex).
        #[arg(long)]
        seed: String,
    },
    /// Measure weight generation (time, memory) and nonces per second, reference and fast path.
    Bench {
        /// tiny, small or paper (paper generates ~9 GB of weights).
        #[arg(long, default_value = "small")]
        profile: String,
        /// How long to evaluate nonces.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

impl SprintCommand {
    pub(super) fn run(self) -> Result<()> {
        match self {
            SprintCommand::Bench { profile, seconds } => bench(&profile, seconds),
            SprintCommand::Prove { profile, seconds, key, seed, lane_offset, lane_step, out } => {
                let lane = Lane { offset: lane_offset, step: lane_step.max(1) };
                prove(&profile, seconds, &key, &seed, lane, &out)
            }
            SprintCommand::Verify { profile, proof, seed } => verify(&profile, &proof, &seed),
        }
    }
}

/// Iterates the lane for `seconds`, keeps the hits, signs and writes the proof.
fn prove(profile_name: &str, seconds: f64, key: &Path, seed_hex: &str, lane: Lane, out: &Path) -> Result<()> {
    let profile = profile(profile_name)?;
    let key = NeuronKey::read(key)?;
    let model = Model::new(profile, seed(seed_hex)?);
    let start = Instant::now();
    let (proof, tried) =
        prove_lane(&model, key.signing_key(), lane, |_, _| start.elapsed().as_secs_f64() < seconds, &|| {});
    write_proof(out, &proof, &hex::decode(seed_hex)?).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "{}",
        json!({ "tried": tried, "hits": proof.claim.nonces.len(), "expected": tried as f64 / f64::from(profile.hit_odds) })
    );
    Ok(())
}

/// Checks the stateless rules, recomputes a random sample and applies the binomial test.
fn verify(profile_name: &str, proof_file: &Path, seed_hex: &str) -> Result<()> {
    let profile = profile(profile_name)?;
    let sprint = seed(seed_hex)?;
    let (proof, _) = read_proof(proof_file).with_context(|| format!("reading {}", proof_file.display()))?;
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

/// Weight generation (time and peak memory) and nonces per second of one profile: the
/// reference pass on one thread, and the prover's fast path on one thread and on all of them.
fn bench(profile_name: &str, seconds: f64) -> Result<()> {
    let profile = profile(profile_name)?;
    let start = Instant::now();
    let model = Model::new(profile, sprint_seed(b"bench"));
    let weights = start.elapsed().as_secs_f64();
    let key = NeuronKey::from_secret([1; 32]);
    let node = node_seed(&key.address().0);
    let key = key.signing_key();

    let start = Instant::now();
    let (mut reference, mut hits) = (0u64, 0u64);
    while reference == 0 || start.elapsed().as_secs_f64() < seconds {
        hits += u64::from(model.evaluate(&node, reference).hit);
        reference += 1;
    }
    let reference_rate = reference as f64 / start.elapsed().as_secs_f64();

    let fast = |threads: usize| -> Result<(f64, u64, usize)> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
        let start = Instant::now();
        let lane = Lane { offset: 0, step: 1 };
        let (proof, tried) = pool.install(|| {
            prove_lane(&model, key, lane, |tried, _| tried == 0 || start.elapsed().as_secs_f64() < seconds, &|| {})
        });
        Ok((tried as f64 / start.elapsed().as_secs_f64(), tried, proof.claim.nonces.len()))
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (one_rate, _, _) = fast(1)?;
    let (all_rate, tried, fast_hits) = fast(threads)?;
    let summary = json!({
        "profile": profile.name,
        "parameters": profile.parameters(),
        "weight_bytes": profile.parameters() * 4,
        "weight_generation_s": weights,
        "peak_rss_bytes": peak_rss_bytes(),
        "reference_nonces_per_s": reference_rate,
        "reference": { "nonces": reference, "hits": hits, "expected_hits": reference as f64 / f64::from(profile.hit_odds) },
        "fast_nonces_per_s_1_thread": one_rate,
        "fast_nonces_per_s": all_rate,
        "fast_threads": threads,
        "fast": { "nonces": tried, "hits": fast_hits, "expected_hits": tried as f64 / f64::from(profile.hit_odds) },
        "speedup_1_thread": one_rate / reference_rate,
        "speedup_all_threads": all_rate / reference_rate,
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

/// The process's peak resident memory (Linux `VmHWM`), if the platform reports it.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status.lines().find_map(|line| line.strip_prefix("VmHWM:"))?.trim().strip_suffix("kB")?.trim();
    kib.parse::<u64>().ok().map(|k| k * 1024)
}
