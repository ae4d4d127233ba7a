//! Sprint timing, seed material, weight acceptance and reputation (spec/sprint.md §5–§6): pure
//! functions of block heights and committed data, so every node agrees without a clock.

use std::{collections::BTreeMap, ops::Range};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{PublicKey, Seed};

/// Stage lengths in blocks; Sprint `k` starts at height `k · period`. A deserialised schedule
/// is checked with [`Schedule::is_valid`] before use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// Blocks from one Sprint's start to the next.
    pub period: u64,
    /// Previous Sprint's weighted nodes post hash commitments to their seed shares.
    pub commit: u64,
    /// They reveal the shares.
    pub reveal: u64,
    /// The proof-of-work window.
    pub generate: u64,
    /// Proofs must be in a block before this stage ends.
    pub submit: u64,
    /// Validators recompute samples and vote.
    pub validate: u64,
}

/// Where a height falls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Seed-share commitments.
    Commit,
    /// Seed-share reveals.
    Reveal,
    /// Proving.
    Generate,
    /// Proof submission.
    Submit,
    /// Validation votes.
    Validate,
    /// The height at which the Sprint's weights take effect.
    Apply,
    /// Between the apply height and the next Sprint.
    Idle,
}

impl Schedule {
    /// A schedule whose stages fit in its period (the apply height included).
    pub fn new(period: u64, commit: u64, reveal: u64, generate: u64, submit: u64, validate: u64) -> Option<Self> {
        let schedule = Schedule { period, commit, reveal, generate, submit, validate };
        schedule.is_valid().then_some(schedule)
    }

    /// Every stage is at least one block and all of them, with the apply height, fit in the
    /// period.
    pub fn is_valid(&self) -> bool {
        let Schedule { period, commit, reveal, generate, submit, validate } = *self;
        let used = [reveal, generate, submit, validate].iter().try_fold(commit, |sum, &stage| sum.checked_add(stage));
        [commit, reveal, generate, submit, validate].iter().all(|&stage| stage > 0)
            && used.is_some_and(|used| used < period)
    }

    /// The Sprint and the stage of a height.
    pub fn stage(&self, height: u64) -> (u64, Stage) {
        let (sprint, mut offset) = (height / self.period, height % self.period);
        for (length, stage) in [
            (self.commit, Stage::Commit),
            (self.reveal, Stage::Reveal),
            (self.generate, Stage::Generate),
            (self.submit, Stage::Submit),
            (self.validate, Stage::Validate),
            (1, Stage::Apply),
        ] {
            if offset < length {
                return (sprint, stage);
            }
            offset -= length;
        }
        (sprint, Stage::Idle)
    }

    /// The heights whose blocks may carry proofs of Sprint `sprint`: its generate and submit
    /// stages. A proof outside them is early or late.
    pub fn proof_window(&self, sprint: u64) -> Range<u64> {
        let start = sprint.saturating_mul(self.period).saturating_add(self.commit + self.reveal);
        start..start.saturating_add(self.generate + self.submit)
    }

    /// The submission deadline of Sprint `sprint`: the last height of its proof window, whose
    /// header seeds the validators' samples.
    pub fn deadline(&self, sprint: u64) -> u64 {
        self.proof_window(sprint).end - 1
    }
}

/// A seed share's commitment: `H("share/v1" ‖ share)`.
pub fn commitment(share: &Seed) -> Seed {
    Sha256::new().chain_update(b"share/v1").chain_update(share).finalize().into()
}

/// The seed material of a Sprint from the previous Sprint's weighted nodes: every committed
/// node's revealed share, in address order; a node that committed and withheld its reveal is
/// replaced by `H("withheld/v1" ‖ commitment ‖ previous sprint seed)`, so withholding cannot
/// steer the seed (it can only be predicted, not chosen), and is listed for its penalty.
pub fn seed_material(
    previous: &Seed,
    commitments: &BTreeMap<PublicKey, Seed>,
    reveals: &BTreeMap<PublicKey, Seed>,
) -> (Vec<u8>, Vec<PublicKey>) {
    let mut material = b"seed/v1".to_vec();
    material.extend_from_slice(previous);
    let mut withheld = Vec::new();
    for (address, committed) in commitments {
        match reveals.get(address).filter(|share| commitment(share) == *committed) {
            Some(share) => material.extend_from_slice(share),
            None => {
                let fallback: Seed = Sha256::new()
                    .chain_update(b"withheld/v1")
                    .chain_update(committed)
                    .chain_update(previous)
                    .finalize()
                    .into();
                material.extend_from_slice(&fallback);
                withheld.push(*address);
            }
        }
    }
    (material, withheld)
}

/// A prover's weight is accepted when validators holding more than half of the previous total
/// weight voted it valid (an abstention is not a vote against).
pub fn accepted(previous_weights: &BTreeMap<PublicKey, u64>, valid_votes: &[PublicKey]) -> bool {
    let total: u128 = previous_weights.values().map(|&w| u128::from(w)).sum();
    let mut voters: Vec<&PublicKey> = valid_votes.iter().collect();
    voters.sort_unstable();
    voters.dedup();
    let yes: u128 = voters.iter().map(|a| u128::from(previous_weights.get(*a).copied().unwrap_or(0))).sum();
    2 * yes > total
}

/// Reputation (seed 004, appendix D): the chance a node's proof is validated falls linearly
/// from 1 to 0.01 over `epochs_to_trust` epochs of honest work; fraud resets it to 1.
pub fn validation_probability(honest_epochs: u64, epochs_to_trust: u64) -> f64 {
    if epochs_to_trust == 0 {
        return 0.01;
    }
    let progress = honest_epochs.min(epochs_to_trust) as f64 / epochs_to_trust as f64;
    1.0 - 0.99 * progress
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stage_table() {
        let s = Schedule::new(100, 5, 5, 20, 10, 20).unwrap();
        let table = [
            (0, 0, Stage::Commit),
            (4, 0, Stage::Commit),
            (5, 0, Stage::Reveal),
            (10, 0, Stage::Generate),
            (29, 0, Stage::Generate),
            (30, 0, Stage::Submit),
            (40, 0, Stage::Validate),
            (59, 0, Stage::Validate),
            (60, 0, Stage::Apply),
            (61, 0, Stage::Idle),
            (99, 0, Stage::Idle),
            (100, 1, Stage::Commit),
            (1_000_030, 10_000, Stage::Submit),
        ];
        for (height, sprint, stage) in table {
            assert_eq!(s.stage(height), (sprint, stage), "height {height}");
        }
        assert_eq!(s.proof_window(0), 10..40);
        assert_eq!(s.proof_window(3), 310..340);
        for height in 0..300 {
            let in_window = matches!(s.stage(height), (1, Stage::Generate | Stage::Submit));
            assert_eq!(s.proof_window(1).contains(&height), in_window, "height {height}");
        }
        assert!(Schedule::new(60, 5, 5, 20, 10, 20).is_none(), "no room for the apply height");
        assert!(Schedule::new(100, 0, 5, 20, 10, 20).is_none());
    }

    #[test]
    fn withheld_reveals_fall_back_and_are_named() {
        let (a, b) = ([1; 32], [2; 32]);
        let commitments = BTreeMap::from([(a, commitment(&[7; 32])), (b, commitment(&[8; 32]))]);
        let all = BTreeMap::from([(a, [7; 32]), (b, [8; 32])]);
        let (full, none_withheld) = seed_material(&[0; 32], &commitments, &all);
        assert!(none_withheld.is_empty());
        let (partial, withheld) = seed_material(&[0; 32], &commitments, &BTreeMap::from([(a, [7; 32])]));
        assert_eq!(withheld, vec![b]);
        assert_ne!(full, partial);
        // A reveal that does not match its commitment counts as withheld.
        let (_, cheated) = seed_material(&[0; 32], &commitments, &BTreeMap::from([(a, [7; 32]), (b, [9; 32])]));
        assert_eq!(cheated, vec![b]);
    }

    #[test]
    fn weight_needs_more_than_half_of_the_previous_weight() {
        let (a, b, c) = ([1; 32], [2; 32], [3; 32]);
        let weights = BTreeMap::from([(a, 50), (b, 30), (c, 20)]);
        assert!(accepted(&weights, &[a, c]));
        assert!(!accepted(&weights, &[a]), "exactly half is not more than half");
        assert!(!accepted(&weights, &[b, c, [9; 32]]), "unknown voters weigh nothing");
        assert!(!accepted(&weights, &[b, b, b, c]), "a vote counts once");
    }

    #[test]
    fn reputation_falls_linearly_and_floors() {
        assert_eq!(validation_probability(0, 100), 1.0);
        assert!((validation_probability(50, 100) - 0.505).abs() < 1e-12);
        assert!((validation_probability(100, 100) - 0.01).abs() < 1e-12);
        assert!((validation_probability(1000, 100) - 0.01).abs() < 1e-12);
    }
}
