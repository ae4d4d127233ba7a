//! Sprint proofs and their validation (spec/sprint.md §5): the stateless rules every proof must
//! pass, the validator's sample, and the one-sided binomial fraud test.

use serde::{Deserialize, Serialize};

use rayon::prelude::*;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};

use crate::{
    Model, Path, Profile, PublicKey, Seed, Stream, Verdict,
    error::{Result, SprintError},
    node_seed,
    schedule::Schedule,
};

/// Most nonces one proof may carry.
pub const MAX_NONCES: usize = 1 << 20;
/// Largest accepted gap between claimed and recomputed distance (fast paths may round).
pub const DISTANCE_TOLERANCE: f32 = 1e-4;

/// A prover's lane: its nonces are `offset + k·step`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lane {
    /// The first nonce.
    pub offset: u64,
    /// The distance between nonces (the number of provers in the group).
    pub step: u64,
}

/// What a prover claims; signed over its canonical DAG-CBOR.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// The Sprint's seed.
    #[serde(with = "serde_bytes")]
    pub sprint: Seed,
    /// The profile's name.
    pub profile: String,
    /// The profile's hash: a proof never validates under another profile.
    #[serde(with = "serde_bytes")]
    pub profile_hash: Seed,
    /// The prover's public key.
    #[serde(with = "serde_bytes")]
    pub prover: PublicKey,
    /// Its lane.
    pub lane: Lane,
    /// Hit nonces, strictly ascending.
    pub nonces: Vec<u64>,
    /// The distance claimed for each nonce.
    pub distances: Vec<f32>,
}

/// A signed claim.
#[derive(Clone, Debug, PartialEq)]
pub struct Proof {
    /// The claim.
    pub claim: Claim,
    /// ed25519 over the claim's DAG-CBOR.
    pub signature: [u8; 64],
}

impl Claim {
    /// Canonical bytes.
    pub fn encode(&self) -> Vec<u8> {
        serde_ipld_dagcbor::to_vec(self).expect("a claim always encodes")
    }

    /// Signs the claim.
    pub fn sign(self, key: &SigningKey) -> Proof {
        let signature = key.sign(&self.encode()).to_bytes();
        Proof { claim: self, signature }
    }
}

fn invalid(reason: impl Into<String>) -> SprintError {
    SprintError::Malformed(reason.into())
}

impl Proof {
    /// Decodes a claim's DAG-CBOR (canonical only) with its signature.
    pub fn decode(bytes: &[u8], signature: [u8; 64]) -> Result<Self> {
        let claim: Claim = serde_ipld_dagcbor::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if claim.encode() != bytes {
            return Err(SprintError::NonCanonical);
        }
        Ok(Proof { claim, signature })
    }

    /// The stateless rules: profile and its hash, size, order and uniqueness, lane, density
    /// (at most `4 × hit_odds` lane positions per claimed hit once there are 10 or more), and the
    /// signature.
    pub fn check(&self, profile: &Profile, sprint: &Seed) -> Result<()> {
        let c = &self.claim;
        if c.profile != profile.name || c.profile_hash != profile.hash() {
            return Err(invalid(format!("made for profile {:?}, not {:?}", c.profile, profile.name)));
        }
        if c.sprint != *sprint {
            return Err(invalid("made for another Sprint"));
        }
        if c.nonces.len() > MAX_NONCES || c.nonces.len() != c.distances.len() {
            return Err(SprintError::TooLarge {
                nonces: c.nonces.len(),
                distances: c.distances.len(),
                limit: MAX_NONCES,
            });
        }
        if c.lane.step == 0 {
            return Err(invalid("lane step is zero"));
        }
        if c.nonces.windows(2).any(|w| w[0] >= w[1]) {
            return Err(invalid("nonces are not strictly ascending (duplicates or disorder)"));
        }
        if let Some(n) =
            c.nonces.iter().find(|&&n| n < c.lane.offset || !(n - c.lane.offset).is_multiple_of(c.lane.step))
        {
            return Err(invalid(format!("nonce {n} is outside lane {:?}", c.lane)));
        }
        if let Some(&last) = c.nonces.last() {
            let positions = (last - c.lane.offset) / c.lane.step + 1;
            let bound = 4 * u64::from(profile.hit_odds) * c.nonces.len() as u64;
            if c.nonces.len() >= 10 && positions > bound {
                return Err(invalid(format!("{} hits over {positions} lane positions is too sparse", c.nonces.len())));
            }
        }
        let bad_signature = || SprintError::BadSignature(c.prover);
        let key = VerifyingKey::from_bytes(&c.prover).map_err(|_| bad_signature())?;
        let signature = ed25519_dalek::Signature::from_bytes(&self.signature);
        key.verify_strict(&c.encode(), &signature).map_err(|_| bad_signature())
    }

    /// [`Proof::check`] for a proof offered in the block at `height` as a proof of Sprint
    /// number `index`: refused unless the height is inside that Sprint's proof window.
    pub fn check_at(
        &self,
        profile: &Profile,
        sprint: &Seed,
        schedule: &Schedule,
        index: u64,
        height: u64,
    ) -> Result<()> {
        let window = schedule.proof_window(index);
        if !window.contains(&height) {
            let when = if height < window.start { "early" } else { "late" };
            return Err(invalid(format!("{when}: Sprint {index} takes proofs at heights {window:?}, not {height}")));
        }
        self.check(profile, sprint)
    }

    /// Recomputes the sampled nonces; returns how many fail (distance ≥ r, or more than
    /// [`DISTANCE_TOLERANCE`] from the claim).
    pub fn failures(&self, model: &Model, sample: &[usize]) -> usize {
        let node = node_seed(&self.claim.prover);
        sample
            .iter()
            .filter(|&&i| {
                let verdict = model.evaluate(&node, self.claim.nonces[i]);
                !verdict.hit || (verdict.distance - self.claim.distances[i]).abs() > DISTANCE_TOLERANCE
            })
            .count()
    }
}

/// Nonces per fast-path batch: 64 rows share each weight panel, and a batch is short enough
/// that the prover yields quickly when higher-priority work waits.
pub const BATCH: usize = 16;

/// Nonces in one round of [`prove`] on the current rayon pool: [`BATCH`] per thread. A round adds
/// at most this many hits.
pub fn round_nonces() -> usize {
    BATCH * rayon::current_num_threads()
}

/// The prover: walks the lane from its first nonce in rounds of [`round_nonces`] (the fast path,
/// bit-identical to the reference), asking `more(tried, hits)` before each round (the caller's
/// deadline and size cap); each worker calls `pause` after every attention
/// and feed-forward block of its batch (the caller's chance to let higher-priority work run). Every nonce of a started
/// round is evaluated and counted, so the lane stays dense and `tried` exact however often the
/// prover is held up. Keeps the hits, signs the claim, returns it with `tried`.
pub fn prove(
    model: &Model,
    key: &SigningKey,
    lane: Lane,
    mut more: impl FnMut(u64, usize) -> bool,
    pause: &(dyn Fn() + Sync),
) -> (Proof, u64) {
    let node = node_seed(&key.verifying_key().to_bytes());
    let round = round_nonces() as u64;
    let (mut nonces, mut distances, mut tried) = (Vec::new(), Vec::new(), 0u64);
    while more(tried, nonces.len()) {
        // The lane's last nonce must fit in a u64; a round past it is never started.
        let Some(batch) = (tried..tried + round)
            .map(|k| lane.offset.checked_add(k.checked_mul(lane.step)?))
            .collect::<Option<Vec<u64>>>()
        else {
            break;
        };
        let verdicts: Vec<Vec<Verdict>> =
            batch.par_chunks(BATCH).map(|chunk| model.evaluate_batch(&node, chunk, Path::Fast, pause)).collect();
        for (&nonce, verdict) in batch.iter().zip(verdicts.iter().flatten()) {
            if verdict.hit {
                nonces.push(nonce);
                distances.push(verdict.distance);
            }
        }
        tried += round;
    }
    let profile = model.profile();
    let claim = Claim {
        sprint: *model.sprint(),
        profile: profile.name.into(),
        profile_hash: profile.hash(),
        prover: key.verifying_key().to_bytes(),
        lane,
        nonces,
        distances,
    };
    (claim.sign(key), tried)
}

/// A seed from the operating system's randomness, for a validator's own sample.
pub fn random_seed() -> Seed {
    use rand_core::RngCore;
    let mut seed = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut seed);
    seed
}

/// The validator's sample: `size` distinct positions of `count` claimed nonces, drawn from a
/// seed the prover cannot know ([`crate::sample_seed`] on the chain, OS randomness offline).
pub fn sample(seed: &Seed, count: usize, size: usize) -> Vec<usize> {
    let mut stream = Stream::new(seed);
    let mut picked = stream.permutation(count);
    picked.truncate(size.min(count));
    picked.sort_unstable();
    picked.into_iter().map(|i| i as usize).collect()
}

/// The smallest failure count `k` with `P(Bin(n, p) ≥ k) ≤ alpha`: at `k` or more failures in a
/// sample of `n`, honest noise at rate `p` is rejected with false-positive rate at most `alpha`.
pub fn fraud_threshold(n: u64, p: f64, alpha: f64) -> u64 {
    // P(X = 0) and then the recurrence P(X = k+1) = P(X = k)·(n−k)/(k+1)·p/(1−p).
    let mut term = (1.0 - p).powf(n as f64);
    let mut below = 0.0;
    for k in 0..=n {
        if 1.0 - below <= alpha {
            return k;
        }
        below += term;
        term *= (n - k) as f64 / (k + 1) as f64 * p / (1.0 - p);
    }
    n + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SMALL, TINY, sprint_seed};

    fn honest(key: &SigningKey, model: &Model, lane: Lane, tries: u64) -> Proof {
        prove(model, key, lane, |tried, _| tried < tries, &|| {}).0
    }

    #[test]
    fn an_honest_proof_passes_and_every_broken_rule_fails() {
        let sprint = sprint_seed(b"proofs");
        let model = Model::new(TINY, sprint);
        let key = SigningKey::from_bytes(&[5; 32]);
        let proof = honest(&key, &model, Lane { offset: 3, step: 4 }, 600);
        assert!(proof.claim.nonces.len() >= 10);
        proof.check(&TINY, &sprint).unwrap();
        assert_eq!(proof.failures(&model, &sample(&[1; 32], proof.claim.nonces.len(), 20)), 0);

        let broken = |edit: &dyn Fn(&mut Claim)| {
            let mut claim = proof.claim.clone();
            edit(&mut claim);
            claim.sign(&key)
        };
        assert!(proof.check(&SMALL, &sprint).is_err(), "a proof for one profile never validates under another");
        let schedule = Schedule::new(100, 5, 5, 20, 10, 20).unwrap();
        proof.check_at(&TINY, &sprint, &schedule, 2, 239).unwrap();
        let late = proof.check_at(&TINY, &sprint, &schedule, 2, 240).unwrap_err().to_string();
        assert!(late.contains("late"), "{late}");
        assert!(proof.check_at(&TINY, &sprint, &schedule, 2, 209).unwrap_err().to_string().contains("early"));
        let oversized = broken(&|c| {
            c.nonces = (0..=MAX_NONCES as u64).map(|k| c.lane.offset + k * c.lane.step).collect();
            c.distances = vec![1.0; c.nonces.len()];
        });
        assert!(matches!(oversized.check(&TINY, &sprint), Err(SprintError::TooLarge { .. })));
        assert!(proof.check(&TINY, &sprint_seed(b"other")).is_err());
        let mut tampered = proof.clone();
        tampered.claim.distances[0] += 0.001;
        assert!(matches!(tampered.check(&TINY, &sprint), Err(SprintError::BadSignature(_))));
        assert!(broken(&|c| c.nonces[1] = c.nonces[0]).check(&TINY, &sprint).is_err(), "duplicate");
        assert!(broken(&|c| c.nonces[0] += 1).check(&TINY, &sprint).is_err(), "out of lane");
        assert!(broken(&|c| *c.nonces.last_mut().unwrap() += 4 * 10_000).check(&TINY, &sprint).is_err(), "sparse");
        assert!(
            broken(&|c| {
                c.distances.pop();
            })
            .check(&TINY, &sprint)
            .is_err(),
            "sizes differ"
        );
        // A fabricated nonce in the lane passes the stateless rules but fails recomputation.
        let fake = broken(&|c| {
            let miss = (0..).map(|k| c.lane.offset + k * c.lane.step).find(|n| !c.nonces.contains(n)).unwrap();
            c.nonces.push(miss);
            c.nonces.sort_unstable();
            c.distances.push(1.0);
        });
        let all: Vec<usize> = (0..fake.claim.nonces.len()).collect();
        assert!(fake.failures(&model, &all) >= 1);
    }

    #[test]
    fn the_proof_is_the_reference_scan_of_the_lane_on_any_thread_count_and_under_preemption() {
        let model = Model::new(TINY, sprint_seed(b"lane"));
        let key = SigningKey::from_bytes(&[6; 32]);
        let lane = Lane { offset: 1, step: 3 };
        let node = node_seed(&key.verifying_key().to_bytes());
        // 96 nonces: whole rounds for 1 thread (16) and for 3 threads (48).
        let scan: Vec<u64> = (0..96).map(|k| 1 + 3 * k).filter(|&n| model.evaluate(&node, n).hit).collect();
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            let mut asked = 0;
            let (proof, tried) = pool.install(|| {
                let more = |tried, _| {
                    asked += 1;
                    tried < 96
                };
                prove(&model, &key, lane, more, &|| {})
            });
            assert_eq!((tried, asked), (96, 96 / (16 * threads) + 1), "{threads} threads");
            assert_eq!(proof.claim.nonces, scan, "{threads} threads");
        }
        // Preempted at every pause point (a sleep on every third one): the same proof.
        let pauses = std::sync::atomic::AtomicUsize::new(0);
        let preempt = || {
            if pauses.fetch_add(1, std::sync::atomic::Ordering::Relaxed).is_multiple_of(3) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        };
        let (proof, tried) = prove(&model, &key, lane, |tried, _| tried < 96, &preempt);
        assert_eq!((tried, proof.claim.nonces), (96, scan));
        assert!(pauses.into_inner() >= 96 / 16 * 2 * TINY.layers, "a pause after every block of every batch");
    }

    #[test]
    fn the_binomial_test_matches_the_spec_and_its_error_rates() {
        assert_eq!(fraud_threshold(200, 5e-4, 1e-7), 5, "spec/sprint.md §5's example");
        // False positives under honest noise, and power against 10% fabricated nonces, simulated.
        let mut stream = Stream::new(&[8; 32]);
        let threshold = fraud_threshold(200, 5e-4, 1e-7);
        let trials = 20_000;
        let flagged = |rate: f64, stream: &mut Stream| {
            (0..trials)
                .filter(|_| (0..200).filter(|_| f64::from(stream.uniform()) < rate).count() as u64 >= threshold)
                .count()
        };
        assert_eq!(flagged(5e-4, &mut stream), 0, "honest provers are not flagged");
        assert!(flagged(0.10, &mut stream) as f64 >= 0.999 * trials as f64, "10% fabrication is caught");
    }

    #[test]
    fn samples_are_distinct_and_seeded() {
        let a = sample(&[1; 32], 100, 20);
        assert_eq!(a.len(), 20);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a, sample(&[1; 32], 100, 20));
        assert_ne!(a, sample(&[2; 32], 100, 20));
        assert_eq!(sample(&[1; 32], 5, 20).len(), 5);
    }
}
