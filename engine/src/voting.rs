//! Voting power on chain: who decides each height, and how Sprint moves it (spec/sprint.md §5–§6).
//!
//! A chain that several nodes run starts with the genesis validators. When its genesis also sets
//! [`SprintParams`], Sprint runs on chain in periods of blocks: the current validators commit to
//! seed shares and reveal them (the Sprint's seed), anyone proves in the generate window and
//! submits a signed proof, the validators recompute samples and vote, and at the end of the
//! period the accepted provers' hit counts become the next validator set, normalised to
//! [`POWER_SCALE`]. The set that decides height `h` is the one the state after `h − 1` holds, so
//! weights proven in Sprint `k` decide from the first height of Sprint `k + 1`.
//!
//! The whole Sprint state is one small [`SprintLedger`], a pure function of the blocks; every
//! header commits to its CID. A Sprint transaction that breaks a rule of the height it lands at
//! (a late reveal, a vote from a non-validator, a second proof) still uses its nonce but changes
//! nothing: whether it counts never depends on the order blocks were proposed in, only on the
//! block that carries it. Admission refuses such a transaction up front when it can already tell.

use std::collections::BTreeMap;

use ipld_core::cid::Cid;
use serde::{Deserialize, Serialize};
use sprint::{
    Profile, PublicKey, Seed,
    proof::{Proof, fraud_threshold, sample},
    sample_seed,
    schedule::{Schedule, Stage, accepted, commitment, seed_material},
    sprint_seed,
};

use crate::{
    error::{EngineError, Result},
    genesis::GenesisValidator,
    ids::Address,
    particle::dag_cbor_cid,
};

/// The total voting power a Sprint's accepted weights are scaled to.
pub const POWER_SCALE: u64 = 1_000_000;

/// Sprint on chain, set in the genesis: the profile every proof uses, the stage table in blocks
/// (Sprint `k` starts at height `k · schedule.period`) and the validators' sample size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SprintParams {
    /// The Sprint profile's name (`tiny`, `small`, `paper`).
    pub profile: String,
    /// The stages' lengths in blocks.
    pub schedule: Schedule,
    /// Nonces a validator recomputes per proof.
    #[serde(default = "default_sample")]
    pub sample: u32,
}

fn default_sample() -> u32 {
    200
}

impl SprintParams {
    /// Checks the stage table and the profile name.
    pub(crate) fn validate(&self) -> Result<()> {
        if !self.schedule.is_valid() {
            return Err(EngineError::Genesis(format!(
                "sprint: every stage must be at least one block and all of them fewer than the period ({:?})",
                self.schedule
            )));
        }
        self.profile().map(|_| ())
    }

    /// The profile.
    pub fn profile(&self) -> Result<Profile> {
        Profile::named(&self.profile)
            .ok_or_else(|| EngineError::Genesis(format!("sprint: unknown profile {:?}", self.profile)))
    }

    /// Failures in a sample of [`SprintParams::sample`] at which a validator votes a proof
    /// invalid: the spec's one-sided binomial test (honest mismatch rate 5·10⁻⁴, false-positive
    /// rate 10⁻⁷).
    pub fn fraud_failures(&self) -> usize {
        fraud_threshold(u64::from(self.sample), 5e-4, 1e-7) as usize
    }

    /// The nonces of `proof` a validator recomputes: a sample seeded by the chain state fixed
    /// after the submission deadline (the CID of the header at [`Schedule::deadline`]) and the
    /// validator's own key.
    pub fn sample_of(&self, proof: &Proof, deadline_header: &Cid, validator: &Address) -> Vec<usize> {
        let seed = sample_seed(&proof.claim.sprint, &deadline_header.to_bytes(), &validator.0);
        sample(&seed, proof.claim.nonces.len(), self.sample as usize)
    }
}

/// What a Sprint transaction does (a transaction carries either links or one of these).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SprintTx {
    /// A validator's commitment to its seed share for Sprint `sprint` (commit stage).
    Commit {
        /// The Sprint.
        sprint: u64,
        /// `sprint::schedule::commitment(share)`.
        #[serde(with = "serde_bytes")]
        commitment: Seed,
    },
    /// The share behind the commitment (reveal stage).
    Reveal {
        /// The Sprint.
        sprint: u64,
        /// The share.
        #[serde(with = "serde_bytes")]
        share: Seed,
    },
    /// A proof of work for the current Sprint by the transaction's signer (generate and
    /// submit stages): the claim's canonical DAG-CBOR and the prover's signature over it.
    Proof {
        /// `sprint::proof::Claim` bytes.
        #[serde(with = "serde_bytes")]
        claim: Vec<u8>,
        /// The prover's signature over them.
        #[serde(with = "serde_bytes")]
        signature: [u8; 64],
    },
    /// A validator's vote on a prover's proof (validate stage).
    Verdict {
        /// The Sprint.
        sprint: u64,
        /// The prover.
        prover: Address,
        /// Whether the recomputed sample passed.
        valid: bool,
    },
}

impl SprintTx {
    /// The rules that need no state: a proof's claim is canonical and its prover signs the
    /// transaction.
    pub(crate) fn check(&self, signer: &Address) -> Result<()> {
        if let SprintTx::Proof { claim, signature } = self {
            let proof =
                Proof::decode(claim, *signature).map_err(|e| EngineError::Malformed(format!("Sprint proof: {e}")))?;
            if proof.claim.prover != signer.0 {
                return Err(EngineError::Malformed("a Sprint proof is submitted by its prover".into()));
            }
        }
        Ok(())
    }
}

/// A validator's seed-share commitment and, once revealed, the share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareEntry {
    /// The validator.
    pub validator: Address,
    /// Its commitment.
    #[serde(with = "serde_bytes")]
    pub commitment: Seed,
    /// Its share, once revealed.
    #[serde(with = "serde_bytes")]
    pub share: Option<Seed>,
}

/// A submitted proof and the votes on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofEntry {
    /// The prover.
    pub prover: Address,
    /// Its claimed hits: its weight if the proof is accepted.
    pub hits: u64,
    /// The claim's CID (DAG-CBOR), to find the transaction that carried it.
    pub claim: Cid,
    /// Validators that voted it valid, sorted.
    pub valid: Vec<Address>,
    /// Validators that voted it invalid, sorted.
    pub invalid: Vec<Address>,
}

/// The Sprint state after a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SprintLedger {
    /// The Sprint the entries below belong to.
    pub sprint: u64,
    /// The previous Sprint's seed (the genesis CID's hash before Sprint 0).
    #[serde(with = "serde_bytes")]
    pub previous_seed: Seed,
    /// This Sprint's seed, once its reveal stage closed.
    #[serde(with = "serde_bytes")]
    pub seed: Option<Seed>,
    /// Commitments and reveals, by validator.
    pub shares: Vec<ShareEntry>,
    /// Proofs, by prover.
    pub proofs: Vec<ProofEntry>,
    /// The validators that decide the next height, sorted by address.
    pub validators: Vec<GenesisValidator>,
    /// The set this Sprint's accepted proofs give, in force from the next Sprint's first height.
    pub next_validators: Option<Vec<GenesisValidator>>,
    /// Validators that committed to a share in this Sprint and did not reveal it, sorted (set
    /// when the reveal stage closes). Their penalty: their own proofs earn nothing this Sprint,
    /// and a set kept for want of accepted proofs drops them (unless none would be left).
    /// (Absent from the encoding while empty, so a ledger in which nobody withheld keeps the CID
    /// it had before this field existed.)
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withheld: Vec<Address>,
}

/// Why a Sprint transaction changes nothing.
type Refusal = String;

impl SprintLedger {
    /// The ledger before block 1, with the genesis validators sorted by address.
    pub fn genesis(genesis_cid: &Cid, validators: Vec<GenesisValidator>) -> Self {
        SprintLedger {
            sprint: 0,
            previous_seed: sprint_seed(&genesis_cid.to_bytes()),
            seed: None,
            shares: Vec::new(),
            proofs: Vec::new(),
            validators,
            next_validators: None,
            withheld: Vec::new(),
        }
    }

    /// Canonical DAG-CBOR.
    pub fn encode(&self) -> Vec<u8> {
        serde_ipld_dagcbor::to_vec(self).expect("a Sprint ledger always encodes")
    }

    /// Decodes a stored ledger.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        serde_ipld_dagcbor::from_slice(bytes).map_err(|e| EngineError::Corruption(format!("Sprint ledger: {e}")))
    }

    /// The CID a header commits to.
    pub fn cid(&self) -> Cid {
        dag_cbor_cid(&self.encode())
    }

    /// The proof a prover submitted in this Sprint.
    pub fn proof_of(&self, prover: &Address) -> Option<&ProofEntry> {
        self.proofs.binary_search_by_key(prover, |p| p.prover).ok().map(|at| &self.proofs[at])
    }

    /// Whether `address` is among the validators that decide the next height.
    pub fn is_validator(&self, address: &Address) -> bool {
        self.validators.binary_search_by_key(address, |v| v.address).is_ok()
    }

    /// The seed-share commitment (and, once revealed, the share) a validator made in this Sprint.
    pub fn share_of(&self, validator: &Address) -> Option<&ShareEntry> {
        self.shares.binary_search_by_key(validator, |s| s.validator).ok().map(|at| &self.shares[at])
    }

    /// Applies a Sprint transaction by `signer` in the block at `height`, or says why it
    /// changes nothing.
    pub fn apply(
        &mut self,
        params: &SprintParams,
        height: u64,
        signer: &Address,
        tx: &SprintTx,
    ) -> std::result::Result<(), Refusal> {
        let schedule = &params.schedule;
        let (current, stage) = schedule.stage(height);
        let this_sprint = |sprint: u64| match sprint == current {
            true => Ok(()),
            false => Err(format!("for Sprint {sprint}, but height {height} is in Sprint {current}")),
        };
        let in_stage = |wanted: Stage| match stage == wanted {
            true => Ok(()),
            false => Err(format!("height {height} is in the {stage:?} stage, not {wanted:?}")),
        };
        let validator = || match self.is_validator(signer) {
            true => Ok(()),
            false => Err(format!("{signer} is not a validator")),
        };
        match tx {
            SprintTx::Commit { sprint, commitment } => {
                this_sprint(*sprint)?;
                in_stage(Stage::Commit)?;
                validator()?;
                let at = match self.shares.binary_search_by_key(signer, |s| s.validator) {
                    Ok(_) => return Err(format!("{signer} already committed")),
                    Err(at) => at,
                };
                let entry = ShareEntry { validator: *signer, commitment: *commitment, share: None };
                self.shares.insert(at, entry);
            }
            SprintTx::Reveal { sprint, share } => {
                this_sprint(*sprint)?;
                in_stage(Stage::Reveal)?;
                let entry = match self.shares.binary_search_by_key(signer, |s| s.validator) {
                    Ok(at) => &mut self.shares[at],
                    Err(_) => return Err(format!("{signer} made no commitment")),
                };
                if entry.share.is_some() {
                    return Err(format!("{signer} already revealed"));
                }
                if commitment(share) != entry.commitment {
                    return Err("the share does not match its commitment".into());
                }
                entry.share = Some(*share);
            }
            SprintTx::Proof { claim, signature } => {
                let seed = self.seed.ok_or_else(|| format!("Sprint {current} has no seed yet"))?;
                let proof = Proof::decode(claim, *signature).map_err(|e| e.to_string())?;
                let profile = params.profile().map_err(|e| e.to_string())?;
                proof.check_at(&profile, &seed, schedule, current, height).map_err(|e| e.to_string())?;
                let at = match self.proofs.binary_search_by_key(signer, |p| p.prover) {
                    Ok(_) => return Err(format!("{signer} already submitted a proof")),
                    Err(at) => at,
                };
                let hits = proof.claim.nonces.len() as u64;
                let entry = ProofEntry {
                    prover: *signer,
                    hits,
                    claim: dag_cbor_cid(claim),
                    valid: Vec::new(),
                    invalid: Vec::new(),
                };
                self.proofs.insert(at, entry);
            }
            SprintTx::Verdict { sprint, prover, valid } => {
                this_sprint(*sprint)?;
                in_stage(Stage::Validate)?;
                validator()?;
                let entry = match self.proofs.binary_search_by_key(prover, |p| p.prover) {
                    Ok(at) => &mut self.proofs[at],
                    Err(_) => return Err(format!("{prover} submitted no proof")),
                };
                if entry.valid.contains(signer) || entry.invalid.contains(signer) {
                    return Err(format!("{signer} already voted on {prover}"));
                }
                let votes = if *valid { &mut entry.valid } else { &mut entry.invalid };
                let at = votes.binary_search(signer).unwrap_or_else(|at| at);
                votes.insert(at, *signer);
            }
        }
        Ok(())
    }

    /// The transitions at the end of the block at `height`: the seed when the reveal stage
    /// closes, the next validator set when the votes close, and a fresh Sprint (with that set
    /// in force) before the next period's first height.
    pub fn close(&mut self, schedule: &Schedule, height: u64) {
        let ((current, stage), (next, next_stage)) = (schedule.stage(height), schedule.stage(height + 1));
        if stage == Stage::Reveal && next_stage != Stage::Reveal {
            let commitments = self.shares.iter().map(|s| (s.validator.0, s.commitment)).collect();
            let reveals = self.shares.iter().filter_map(|s| Some((s.validator.0, s.share?))).collect();
            let (material, withheld) = seed_material(&self.previous_seed, &commitments, &reveals);
            self.seed = Some(sprint_seed(&material));
            // `seed_material` lists them by commitment, in address order.
            self.withheld = withheld.into_iter().map(Address).collect();
        }
        if stage == Stage::Validate && next_stage != Stage::Validate {
            self.next_validators = self.accepted_weights().or_else(|| self.kept_without_withholders());
        }
        if next != current {
            // Reveals close inside every period (its commit stage holds height 0 for Sprint 0).
            self.previous_seed = self.seed.take().expect("every Sprint's reveal stage closed before its end");
            self.sprint = next;
            self.shares.clear();
            self.proofs.clear();
            self.withheld.clear();
            if let Some(validators) = self.next_validators.take() {
                self.validators = validators;
            }
        }
    }

    /// The powers the accepted proofs give, or `None` when no proof was accepted (the set stays).
    fn accepted_weights(&self) -> Option<Vec<GenesisValidator>> {
        let previous: BTreeMap<PublicKey, u64> = self.validators.iter().map(|v| (v.address.0, v.power)).collect();
        let weights: Vec<(Address, u64)> = self
            .proofs
            .iter()
            .filter(|p| p.hits > 0 && !self.has_withheld(&p.prover))
            .filter(|p| accepted(&previous, &p.valid.iter().map(|a| a.0).collect::<Vec<_>>()))
            .map(|p| (p.prover, p.hits))
            .collect();
        let validators = normalise(&weights);
        (!validators.is_empty()).then_some(validators)
    }

    /// The set in force without this Sprint's withholders, when any withheld and any other
    /// validator is left (their powers unchanged); `None` keeps the set as it is.
    fn kept_without_withholders(&self) -> Option<Vec<GenesisValidator>> {
        let kept: Vec<GenesisValidator> =
            self.validators.iter().filter(|v| !self.has_withheld(&v.address)).cloned().collect();
        (!kept.is_empty() && kept.len() < self.validators.len()).then_some(kept)
    }

    /// Whether `address` committed to a share in this Sprint and withheld it.
    fn has_withheld(&self, address: &Address) -> bool {
        self.withheld.binary_search(address).is_ok()
    }
}

/// Bytes one claimed hit can take in a Sprint proof transaction: its nonce (a CBOR unsigned
/// integer, at most 9 bytes) and its distance (DAG-CBOR writes every float in 64 bits: 9 bytes).
const BYTES_PER_HIT: usize = 18;

/// Everything else a proof transaction holds but its chain id (the envelope, the claim's fixed
/// fields, the claim's signature), with room to spare; a test pins it with the widest such
/// transaction.
const PROOF_TX_OVERHEAD: usize = 1024;

/// The most hits a Sprint proof may claim and still fit in one transaction of `max_tx_bytes` on
/// chain `chain_id` (spec/sprint.md §5: proofs are size-capped). A prover stops there: more hits
/// than this could never reach the chain.
pub fn max_proof_hits(max_tx_bytes: usize, chain_id: &str) -> usize {
    max_tx_bytes.saturating_sub(PROOF_TX_OVERHEAD + chain_id.len()) / BYTES_PER_HIT
}

/// Integer powers proportional to `weights`, scaled to [`POWER_SCALE`] and rounded down (so
/// `3 × total < 2^64` always), zeros dropped, sorted by address.
pub fn normalise(weights: &[(Address, u64)]) -> Vec<GenesisValidator> {
    let total: u128 = weights.iter().map(|&(_, w)| u128::from(w)).sum();
    let mut powers: Vec<GenesisValidator> = weights
        .iter()
        .filter_map(|&(address, weight)| {
            let power = (u128::from(weight) * u128::from(POWER_SCALE) / total) as u64;
            (power > 0).then_some(GenesisValidator { address, power })
        })
        .collect();
    powers.sort_unstable_by_key(|v| v.address);
    powers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(i: u8) -> Address {
        Address([i; 32])
    }

    /// The widest proof (every nonce and the lane at their widest encoding) fits at the cap, and
    /// one kilobyte of hits more does not (the overhead allowed is not far above what it takes),
    /// at the default limit and a small one, with a short and a long chain id.
    #[test]
    fn a_proof_at_the_hit_cap_fits_one_transaction() {
        use sprint::proof::{Claim, Lane};

        use crate::{NeuronKey, Transaction, TxLimits};
        let key = NeuronKey::from_secret([5; 32]);
        let signed = |hits: usize, chain_id: &str| {
            let claim = Claim {
                sprint: [0xff; 32],
                profile: "paper".into(),
                profile_hash: [0xff; 32],
                prover: key.address().0,
                lane: Lane { offset: u64::MAX, step: u64::MAX },
                nonces: (0..hits as u64).map(|k| u64::MAX - k).collect(),
                distances: vec![0.123_456_7; hits],
            }
            .sign(key.signing_key());
            let step = SprintTx::Proof { claim: claim.claim.encode(), signature: claim.signature };
            Transaction::sprint(chain_id, &key, u64::MAX, step).sign(&key)
        };
        let long_id = "a-long-chain-id-".repeat(20);
        for (max_tx_bytes, chain_id) in [(TxLimits::default().max_tx_bytes, "it"), (8 * 1024, long_id.as_str())] {
            let limits = TxLimits { max_tx_bytes, ..TxLimits::default() };
            let cap = max_proof_hits(max_tx_bytes, chain_id);
            signed(cap, chain_id).verify(chain_id, &limits).unwrap();
            let over = signed(cap + PROOF_TX_OVERHEAD / BYTES_PER_HIT + 1, chain_id);
            assert!(over.bytes.len() > max_tx_bytes, "{} bytes", over.bytes.len());
        }
    }

    #[test]
    fn powers_are_proportional_rounded_down_sorted_and_never_zero() {
        let powers = normalise(&[(address(3), 1), (address(1), 2), (address(2), 3_000_000_000)]);
        let listed: Vec<(Address, u64)> = powers.iter().map(|v| (v.address, v.power)).collect();
        // 1 and 2 parts in 3_000_000_003 of the scale round to 0 and are dropped.
        assert_eq!(listed, vec![(address(2), 999_999)]);
        let even = normalise(&[(address(2), 5), (address(1), 5)]);
        assert_eq!(
            even.iter().map(|v| (v.address, v.power)).collect::<Vec<_>>(),
            vec![(address(1), 500_000), (address(2), 500_000)]
        );
    }
}
