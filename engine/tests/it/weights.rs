//! Sprint on chain sets the validators' powers: two genesis validators commit and reveal the
//! seed, an honest prover and a fabricator submit proofs, the validators recompute their samples
//! and vote, and from the next period on only the honest prover holds power.

use engine::{
    Address, GenesisValidator, Origin, SignedTx, SprintLedger, SprintParams, SprintTx, Transaction, voting::POWER_SCALE,
};
use sprint::{
    Model, TINY,
    proof::{Claim, Lane, prove},
    schedule::{Schedule, commitment},
};

use crate::Chain;

/// Validators are `keys[0]` and `keys[1]`; `keys[2]` proves honestly, `keys[3]` fabricates.
const HONEST: usize = 2;
const FABRICATOR: usize = 3;

/// Sprint 0: commit at heights 0–1, reveal 2–3, generate 4–6, submit 7–8, validate 9–10,
/// apply 11; Sprint 1 starts at 12.
fn params() -> SprintParams {
    SprintParams { profile: "tiny".into(), schedule: Schedule::new(12, 2, 2, 3, 2, 2).unwrap(), sample: 16 }
}

fn sprint_chain() -> Chain {
    Chain::with_genesis(4, |genesis| {
        genesis.validators =
            genesis.neurons[..2].iter().map(|n| GenesisValidator { address: n.address, power: 1 }).collect();
        genesis.sprint = Some(params());
    })
}

impl Chain {
    fn sprint_tx(&self, neuron: usize, step: SprintTx) -> SignedTx {
        let nonce = self.node().query().neuron(&self.keys[neuron].address()).next_nonce;
        Transaction::sprint("it", &self.keys[neuron], nonce, step).sign(&self.keys[neuron])
    }

    /// Commits the next block as validators do (propose, then commit as decided).
    fn decide(&self) {
        let height = self.node().query().status().counts.height + 1;
        let proposal = self.node().propose_block(10_000 + height).unwrap();
        self.node().commit_decided(proposal, b"certificate", None).unwrap();
    }

    fn decide_until(&self, height: u64) {
        while self.node().query().status().counts.height < height {
            self.decide();
        }
    }

    fn ledger(&self) -> SprintLedger {
        self.node().query().with_state(|s| s.sprint().cloned()).unwrap()
    }

    fn address(&self, neuron: usize) -> Address {
        self.keys[neuron].address()
    }
}

fn powers(chain: &Chain) -> Vec<(Address, u64)> {
    chain.node().validators().iter().map(|v| (v.address, v.power)).collect()
}

#[test]
fn an_honest_prover_gets_the_power_and_a_fabricated_proof_earns_nothing() {
    let mut chain = sprint_chain();
    let genesis_powers = powers(&chain);
    let shares = [[7u8; 32], [8u8; 32]];

    // Height 1, commit stage: only validators may commit. A client learns it at once; the same
    // transaction relayed by a peer (which admitted it) is admitted as the valid transaction it
    // is, lands, spends its nonce and changes nothing.
    let not_a_validator = chain.sprint_tx(HONEST, SprintTx::Commit { sprint: 0, commitment: [1; 32] });
    let refused = chain.node().submit(not_a_validator.clone());
    assert!(refused.unwrap_err().to_string().contains("is not a validator"));
    chain.node().submit_from(not_a_validator, Origin::Peer).unwrap();
    for (v, share) in shares.iter().enumerate() {
        let step = SprintTx::Commit { sprint: 0, commitment: commitment(share) };
        chain.node().submit(chain.sprint_tx(v, step)).unwrap();
    }
    chain.decide();
    assert_eq!(chain.node().query().neuron(&chain.address(HONEST)).next_nonce, 2, "the no-op spent its nonce");
    assert!(chain.ledger().shares.iter().all(|s| s.validator != chain.address(HONEST)));
    // Height 2, reveal stage: a share must match its commitment.
    let wrong = SprintTx::Reveal { sprint: 0, share: [9; 32] };
    assert!(chain.node().submit(chain.sprint_tx(0, wrong)).unwrap_err().to_string().contains("does not match"));
    for (v, share) in shares.iter().enumerate() {
        chain.node().submit(chain.sprint_tx(v, SprintTx::Reveal { sprint: 0, share: *share })).unwrap();
    }
    chain.decide_until(3);
    let seed = chain.ledger().seed.expect("the reveal stage closed");

    // The ledger survives a restart: the header names it and the store keeps it.
    chain.restart();
    assert_eq!(chain.ledger().seed, Some(seed));

    // Height 4, generate stage: an honest proof and a fabricated one (claimed hits that are not).
    let model = Model::new(TINY, seed);
    let honest =
        prove(&model, chain.keys[HONEST].signing_key(), Lane { offset: 0, step: 1 }, |tried, _| tried < 512, &|| {}).0;
    assert!(honest.claim.nonces.len() >= 10, "the tiny profile hits about 1 in 16");
    let fabricated = Claim {
        prover: chain.address(FABRICATOR).0,
        nonces: (0..40).collect(),
        distances: vec![0.5; 40],
        ..honest.claim.clone()
    }
    .sign(chain.keys[FABRICATOR].signing_key());
    for (prover, proof) in [(HONEST, &honest), (FABRICATOR, &fabricated)] {
        let step = SprintTx::Proof { claim: proof.claim.encode(), signature: proof.signature };
        chain.node().submit(chain.sprint_tx(prover, step)).unwrap();
    }
    chain.decide_until(8);
    let late = SprintTx::Proof { claim: honest.claim.encode(), signature: honest.signature };
    assert!(chain.node().submit(chain.sprint_tx(HONEST, late)).unwrap_err().to_string().contains("late"));

    // Height 9, validate stage: each validator recomputes its own sample of each proof.
    let deadline = chain.node().query().header(params().schedule.deadline(0)).unwrap().unwrap().cid();
    for validator in 0..2 {
        for (prover, proof) in [(HONEST, &honest), (FABRICATOR, &fabricated)] {
            let sample = params().sample_of(proof, &deadline, &chain.address(validator));
            let valid = proof.failures(&model, &sample) < params().fraud_failures();
            let step = SprintTx::Verdict { sprint: 0, prover: chain.address(prover), valid };
            chain.node().submit(chain.sprint_tx(validator, step)).unwrap();
        }
    }
    chain.decide_until(10);
    let ledger = chain.ledger();
    let entry = |prover| ledger.proof_of(&chain.address(prover)).unwrap().clone();
    assert_eq!(entry(HONEST).valid.len(), 2);
    assert_eq!(entry(FABRICATOR).invalid.len(), 2, "both validators caught the fabricated proof");
    // The votes closed with height 10; the new set is in force from the next period's first
    // height: the state after 10 still names the genesis validators for height 11, the state
    // after 11 names the prover for height 12.
    assert_eq!(
        ledger.next_validators,
        Some(vec![GenesisValidator { address: chain.address(HONEST), power: POWER_SCALE }])
    );
    assert_eq!(powers(&chain), genesis_powers);
    chain.decide();
    assert_eq!(powers(&chain), vec![(chain.address(HONEST), POWER_SCALE)]);
    let ledger = chain.ledger();
    assert_eq!((ledger.sprint, ledger.previous_seed, ledger.proofs.len()), (1, seed, 0));

    // Every header names its ledger, and the chain verifies.
    let tip = chain.node().query().status().counts.height;
    assert_eq!(chain.node().query().header(tip).unwrap().unwrap().sprint, Some(ledger.cid()));
    engine::audit::verify_chain(chain.node().query().store()).unwrap();
}

#[test]
fn an_epoch_without_accepted_proofs_keeps_the_validators() {
    let chain = sprint_chain();
    let before = powers(&chain);
    // Nobody commits: the seed falls back to the previous one alone, nobody proves, and the set
    // stays through the period boundary.
    chain.decide_until(13);
    assert_eq!(powers(&chain), before);
    assert_eq!(chain.ledger().sprint, 1);
}

/// Both validators commit; validator 1 withholds its reveal. Both prove honestly and both
/// proofs are voted valid, yet only validator 0's earns power: withholding costs the withholder.
#[test]
fn a_validator_that_withholds_its_reveal_earns_nothing_from_its_proof() {
    let chain = sprint_chain();
    let shares = [[7u8; 32], [8u8; 32]];
    for (v, share) in shares.iter().enumerate() {
        chain.node().submit(chain.sprint_tx(v, SprintTx::Commit { sprint: 0, commitment: commitment(share) })).unwrap();
    }
    chain.decide();
    chain.node().submit(chain.sprint_tx(0, SprintTx::Reveal { sprint: 0, share: shares[0] })).unwrap();
    chain.decide_until(3);
    let ledger = chain.ledger();
    assert_eq!(ledger.withheld, vec![chain.address(1)]);
    let seed = ledger.seed.expect("the seed falls back for the withheld share");

    let model = Model::new(TINY, seed);
    let proofs: Vec<_> = (0..2)
        .map(|v| {
            prove(&model, chain.keys[v].signing_key(), Lane { offset: 0, step: 1 }, |tried, _| tried < 256, &|| {}).0
        })
        .collect();
    for (v, proof) in proofs.iter().enumerate() {
        let step = SprintTx::Proof { claim: proof.claim.encode(), signature: proof.signature };
        chain.node().submit(chain.sprint_tx(v, step)).unwrap();
    }
    chain.decide_until(8);
    for voter in 0..2 {
        for prover in 0..2 {
            let step = SprintTx::Verdict { sprint: 0, prover: chain.address(prover), valid: true };
            chain.node().submit(chain.sprint_tx(voter, step)).unwrap();
        }
    }
    chain.decide_until(10);
    let ledger = chain.ledger();
    assert!((0..2).all(|prover| ledger.proof_of(&chain.address(prover)).unwrap().valid.len() == 2));
    assert_eq!(ledger.next_validators, Some(vec![GenesisValidator { address: chain.address(0), power: POWER_SCALE }]));
    chain.decide_until(12);
    assert_eq!(powers(&chain), vec![(chain.address(0), POWER_SCALE)]);
    assert!(chain.ledger().withheld.is_empty(), "a new Sprint starts with a clean slate");
}

/// Nobody proves, so the set is kept, but without the validator that withheld its reveal.
#[test]
fn a_kept_set_drops_a_validator_that_withheld_its_reveal() {
    let chain = sprint_chain();
    let before = powers(&chain);
    chain.node().submit(chain.sprint_tx(1, SprintTx::Commit { sprint: 0, commitment: commitment(&[8; 32]) })).unwrap();
    chain.decide_until(13);
    let kept: Vec<_> = before.into_iter().filter(|&(address, _)| address != chain.address(1)).collect();
    assert_eq!(powers(&chain), kept);
    assert_eq!(kept.len(), 1);
}
