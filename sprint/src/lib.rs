//! Sprint: the transformer proof-of-work that gives voting weight (spec/sprint.md).
//!
//! The deterministic core every prover and validator shares: the [`Profile`]s, the
//! domain-separated seed derivations, the ChaCha20 random [`Stream`]s with their own float,
//! normal and permutation mappings, and the [`Model`]'s forward pass with its distance test
//! (its matrix products run on a [`kernels::Backend`]). On it build signed proofs with their
//! rules, the prover's rounds and the validator's sample ([`proof`]), the proof file
//! ([`file`]), and the stage table, commit-reveal seed material, weight acceptance and
//! reputation ([`schedule`]).
//!
//! ```
//! use sprint::{Model, TINY, node_seed, sprint_seed};
//! let model = Model::new(TINY, sprint_seed(b"example"));
//! let verdict = model.evaluate(&node_seed(&[7; 32]), 42);
//! assert_eq!(verdict.logits.len(), TINY.vocab);
//! assert_eq!(verdict.hit, f64::from(verdict.distance) < TINY.radius);
//! ```
//!
//! Architecture invariants: Sprint depends on no storage, node or network; nothing here reads a
//! clock (the prover's caller decides when to stop) and only [`proof::random_seed`] reads
//! randomness (a validator's offline sample); every value is a function of its inputs, bit for
//! bit (f32, fixed reduction order, no fused multiply-add).

mod error;
pub mod file;
mod model;
pub mod proof;
mod rng;
pub mod schedule;

use sha2::{Digest, Sha256};

pub use error::{Result, SprintError};
pub use kernels::dense::Path;
pub use model::{Model, RESIDUAL_DECAY, Verdict};
pub use rng::Stream;

/// A neuron's ed25519 public key: provers, validators and seed committers are named by it.
pub type PublicKey = [u8; 32];

/// A 32-byte seed.
pub type Seed = [u8; 32];

/// A model size. The name and [`Profile::hash`] are part of every proof, so a proof can never
/// be checked against another profile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Profile {
    /// Its name.
    pub name: &'static str,
    /// Model width `d`.
    pub width: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads (`width` is a multiple).
    pub heads: usize,
    /// Output dimension (= vocabulary of the output projection).
    pub vocab: usize,
    /// SwiGLU hidden size.
    pub hidden: usize,
    /// Input positions.
    pub seq: usize,
    /// The chance that a nonce is a proof, `1/hit_odds`.
    pub hit_odds: u32,
    /// `r = sqrt(2 − 2·Φ⁻¹(1 − p)/√vocab)`, fixed here to the last digit (computed offline and
    /// checked by a test) so that no node's `libm` decides a consensus threshold.
    pub radius: f64,
}

/// Unit tests, golden vectors, CI.
pub const TINY: Profile = Profile {
    name: "tiny",
    width: 64,
    layers: 2,
    heads: 4,
    vocab: 256,
    hidden: 192,
    seq: 4,
    hit_odds: 16,
    radius: 1.3447062623323844,
};
/// Statistics tests, the shortcut test, benches.
pub const SMALL: Profile = Profile {
    name: "small",
    width: 128,
    layers: 4,
    heads: 8,
    vocab: 1024,
    hidden: 512,
    seq: 4,
    hit_odds: 50,
    radius: 1.36807919839661,
};
/// Production: ~2.29 B parameters (SwiGLU hidden 22528; see spec/sprint.md §1).
pub const PAPER: Profile = Profile {
    name: "paper",
    width: 512,
    layers: 64,
    heads: 128,
    vocab: 8192,
    hidden: 22528,
    seq: 4,
    hit_odds: 900,
    radius: 1.3901112668733664,
};

/// Every profile.
pub const PROFILES: [Profile; 3] = [TINY, SMALL, PAPER];

impl Profile {
    /// A profile by name.
    pub fn named(name: &str) -> Option<Profile> {
        PROFILES.into_iter().find(|p| p.name == name)
    }

    /// `H("profile/v2" ‖ name ‖ every parameter as u64 LE ‖ radius bits LE ‖ residual decay
    /// bits LE)`. v2: the residual decay of `model.rs` replaced spec §3's branch scaling.
    pub fn hash(&self) -> Seed {
        let mut h = Sha256::new().chain_update(b"profile/v2").chain_update(self.name.as_bytes());
        for value in [self.width, self.layers, self.heads, self.vocab, self.hidden, self.seq, self.hit_odds as usize] {
            h.update((value as u64).to_le_bytes());
        }
        h.chain_update(self.radius.to_bits().to_le_bytes())
            .chain_update(RESIDUAL_DECAY.to_bits().to_le_bytes())
            .finalize()
            .into()
    }

    /// Parameters of the model (weights only; norms have unit gains).
    pub fn parameters(&self) -> u64 {
        let (d, f, v, l) = (self.width as u64, self.hidden as u64, self.vocab as u64, self.layers as u64);
        l * (4 * d * d + 3 * d * f) + d * v
    }
}

fn hash(parts: &[&[u8]]) -> Seed {
    parts.iter().fold(Sha256::new(), |h, part| h.chain_update(part)).finalize().into()
}

/// `sprint_seed = H("sprint/v1" ‖ seed_material)`.
pub fn sprint_seed(seed_material: &[u8]) -> Seed {
    hash(&[b"sprint/v1", seed_material])
}

/// `node_seed = H("node/v1" ‖ public key)`.
pub fn node_seed(public_key: &PublicKey) -> Seed {
    hash(&[b"node/v1", public_key])
}

/// `tensor_seed(name) = H("w/v1" ‖ sprint_seed ‖ name)`: one independent stream per tensor.
pub fn tensor_seed(sprint: &Seed, name: &str) -> Seed {
    hash(&[b"w/v1", sprint, name.as_bytes()])
}

/// `input_seed = H("input/v1" ‖ sprint_seed ‖ node_seed ‖ nonce u64 LE)`.
pub fn input_seed(sprint: &Seed, node: &Seed, nonce: u64) -> Seed {
    hash(&[b"input/v1", sprint, node, &nonce.to_le_bytes()])
}

/// `perm_seed = H("perm/v1" ‖ input_seed)`.
pub fn perm_seed(input: &Seed) -> Seed {
    hash(&[b"perm/v1", input])
}

/// `target_seed = H("target/v1" ‖ sprint_seed)`.
pub fn target_seed(sprint: &Seed) -> Seed {
    hash(&[b"target/v1", sprint])
}

/// `sample_seed = H("sample/v1" ‖ sprint_seed ‖ chain state ‖ validator public key)`: the seed
/// of a validator's sample, from chain state fixed only after the submission deadline (the
/// hash of the first block past it) and the validator's own key, so no prover can predict
/// which of its nonces will be recomputed, and validators sample independently.
pub fn sample_seed(sprint: &Seed, chain_state: &[u8], validator: &PublicKey) -> Seed {
    hash(&[b"sample/v1", sprint, chain_state, validator])
}

/// `Φ⁻¹(p)` by Acklam's rational approximation (relative error < 1.2e-9): used only to check
/// the profiles' fixed radii.
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden vectors computed independently with Python's `hashlib.sha256` over the
    /// documented byte strings (e.g. `sha256(b"sprint/v1" + b"seed")`).
    #[test]
    fn derivations_match_sha256_of_their_documented_bytes() {
        let sprint = sprint_seed(b"seed");
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let node = node_seed(&key);
        let input = input_seed(&sprint, &node, 7);
        let golden = [
            (sprint, "c0c448bce1da78db9fb0321a859546230e70987fdec7b4bbc6f3acf4b447e48d"),
            (node, "01b575d50edb6ab5646acb4a424ef917ce5c1de5e4a2eb607c37537ddca1fdeb"),
            (input, "f8238281887b53dd5b467d0403e2a31e77117ea0b46715e60c4a49366290d50e"),
            (tensor_seed(&sprint, "layer0.wq"), "2854c49077d85e1faa38e92d29e52e77c6f4194de3147dfcd41e80aa44979b43"),
            (perm_seed(&input), "8f7d707edf417040a79d0674b1f457ebabf4774736cd4038ae7d2b2a693175eb"),
            (target_seed(&sprint), "43b8793fcd3281ffdfd9d34265e0b3301729a2fcfbae39e0c4c4cab4ba6e6fd3"),
            (sample_seed(&sprint, b"block", &key), "fb92ed4fd3a2120847bcef1062805560d0c7e67f4098b4177cdb5c1816f4866e"),
        ];
        for (seed, hex) in golden {
            assert_eq!(hex::encode(seed), hex);
        }
    }

    #[test]
    fn radii_are_the_formula_and_the_paper_value() {
        for p in PROFILES {
            let n = p.vocab as f64;
            let r = (2.0 - 2.0 * inverse_normal_cdf(1.0 - 1.0 / f64::from(p.hit_odds)) / n.sqrt()).sqrt();
            assert!((r - p.radius).abs() < 1e-8, "{}: {r} vs {}", p.name, p.radius);
        }
        assert!((PAPER.radius - 1.39011).abs() < 1e-5);
        assert!((2.28e9..2.30e9).contains(&(PAPER.parameters() as f64)), "~2.29 B parameters: {}", PAPER.parameters());
    }

    #[test]
    fn profiles_hash_apart() {
        assert_ne!(TINY.hash(), SMALL.hash());
        assert_eq!(Profile::named("small"), Some(SMALL));
    }
}
