//! Sprint on chain from inside a node (spec/sprint.md §5–§6). On a chain whose genesis sets
//! `sprint`, each stage's step is a signed transaction this node admits and relays to its peers
//! when the chain's next height falls in that stage:
//!
//! - a validator commits to a fresh seed share (commit stage) and reveals it (reveal stage);
//! - a node started with `--sprint` proves over the generate stage, on idle cores at the device
//!   pool's Sprint priority, and submits its proof when the stage ends or when the proof holds
//!   as many hits as one transaction carries, whichever comes first;
//! - a validator finds each submitted proof in the blocks, recomputes its own sample of the
//!   nonces and votes (validate stage).
//!
//! Every decision reads the committed state (the Sprint ledger after the tip), and only while
//! the tip is recent: a node catching up on old blocks takes no steps for them. A step the
//! ledger holds is not repeated. With `--tx-peers`, each step's transaction is relayed like a
//! client's, again while it stays in this node's mempool (`crate::relay`; peers admit a relayed
//! step even when it has become a no-op, so the signer's next nonces never wait on it). A share is
//! written and synced before its commitment is submitted, so a validator that restarts between
//! its commitment and its reveal still reveals (withholding would cost it the penalty of §6).

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, Result};
use engine::{
    Address, NeuronKey, Node, SprintLedger, SprintParams, SprintTx, Transaction, particle::dag_cbor_cid,
    voting::max_proof_hits,
};
use sprint::{
    Model, Seed,
    proof::{Proof, random_seed, round_nonces},
    schedule::{Stage, commitment},
};

use crate::{
    pool::{BackgroundJob, DevicePool, idle_workers},
    producer::unix_millis,
    relay::Relay,
    sprint_job::{SprintCounters, pause, prove_counted},
};

/// How often the job looks at its stop flag while no block arrives.
const STOP_POLL: Duration = Duration::from_millis(250);

/// A tip older than this (by its header's time) means the node is catching up: steps taken for
/// such heights would land in stages long closed.
const CATCHING_UP: Duration = Duration::from_secs(30);

/// The chain's tip height, moved by the node's block listener.
#[derive(Default)]
struct Tip {
    height: Mutex<u64>,
    moved: Condvar,
}

impl Tip {
    fn get(&self) -> u64 {
        *self.height.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the tip to `height` unless it is already past it (the listener and the start-up
    /// reading may race).
    fn raise(&self, height: u64) {
        let mut tip = self.height.lock().unwrap_or_else(|p| p.into_inner());
        *tip = (*tip).max(height);
        self.moved.notify_all();
    }

    /// The height once it differs from `seen`, or after [`STOP_POLL`] whatever it is.
    fn wait_past(&self, seen: Option<u64>) -> u64 {
        let height = self.height.lock().unwrap_or_else(|p| p.into_inner());
        let (height, _) = self
            .moved
            .wait_timeout_while(height, STOP_POLL, |height| Some(*height) == seen)
            .unwrap_or_else(|p| p.into_inner());
        *height
    }
}

/// A step this node takes in a Sprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Step {
    Commit,
    Reveal,
    Proof,
    Verdict(Address),
}

/// What this node does in each Sprint.
pub(crate) struct Duties {
    /// The validator key that commits, reveals and votes while the ledger lists it.
    pub(crate) validator: Option<NeuronKey>,
    /// The key that proves and submits proofs (`--sprint`): its neuron gets the power.
    pub(crate) prover: Option<NeuronKey>,
    /// Where the validator's seed shares are kept (`share-<sprint>`).
    pub(crate) shares: PathBuf,
}

/// The node's Sprint participant.
struct Participant {
    node: Arc<Node>,
    params: SprintParams,
    duties: Duties,
    pool: Arc<DevicePool>,
    counters: Arc<SprintCounters>,
    relay: Arc<Relay>,
    tip: Arc<Tip>,
    workers: rayon::ThreadPool,
    /// The Sprint `submitted` belongs to, and its steps.
    sprint: u64,
    submitted: HashSet<Step>,
    /// A proof of the current Sprint whose submission failed, to submit again.
    proved: Option<Proof>,
    /// The last Sprint model built (proving and verifying one Sprint share it).
    model: Option<Model>,
}

/// Starts the participant on a chain with Sprint; stopping it ends it at its next step (a proof
/// in progress stops after its current round, unsubmitted).
pub(crate) fn start(
    node: Arc<Node>,
    params: SprintParams,
    duties: Duties,
    pool: Arc<DevicePool>,
    counters: Arc<SprintCounters>,
    relay: Arc<Relay>,
) -> Result<BackgroundJob> {
    std::fs::create_dir_all(&duties.shares).with_context(|| format!("creating {}", duties.shares.display()))?;
    if duties.prover.is_some() && max_proof_hits(node.tx_limits().max_tx_bytes, node.chain_id()) == 0 {
        tracing::warn!("this chain's max_tx_bytes leaves no room for a Sprint proof: proving is off");
    }
    let tip = Arc::new(Tip::default());
    let listener = Arc::clone(&tip);
    node.on_block(move |event| listener.raise(event.block.height));
    tip.raise(node.query().status().counts.height);
    let address = |key: &Option<NeuronKey>| key.as_ref().map(|k| k.address().to_string());
    tracing::info!(
        validator = ?address(&duties.validator),
        prover = ?address(&duties.prover),
        profile = %params.profile,
        "Sprint on chain: taking part"
    );
    let mut participant = Participant {
        node,
        params,
        duties,
        pool,
        counters,
        relay,
        tip,
        workers: idle_workers("sprint")?,
        sprint: 0,
        submitted: HashSet::new(),
        proved: None,
        model: None,
    };
    BackgroundJob::spawn("chain-sprint", move |stop| {
        let mut seen = None;
        while !stop.load(Ordering::Acquire) {
            let height = participant.tip.wait_past(seen);
            if seen == Some(height) {
                continue;
            }
            seen = Some(height);
            if let Err(error) = participant.act(stop) {
                tracing::warn!(height, %error, "Sprint step not taken; trying again at the next block");
            }
        }
    })
}

impl Participant {
    /// Takes this node's steps for the block after the tip, unless the node is catching up.
    fn act(&mut self, stop: &AtomicBool) -> Result<()> {
        let (tip_time, height, ledger) = self.node.query().with_state(|state| {
            let (header, _) = state.tip();
            (header.time, header.height, state.sprint().cloned())
        });
        let Some(ledger) = ledger else { return Ok(()) };
        let age = Duration::from_millis(unix_millis().saturating_sub(tip_time));
        if age > CATCHING_UP {
            return Ok(());
        }
        let (sprint, stage) = self.params.schedule.stage(height + 1);
        if sprint != self.sprint {
            (self.sprint, self.submitted, self.proved) = (sprint, HashSet::new(), None);
        }
        // A validator's duties while the ledger lists it (the set deciding the next height).
        let validator = self.duties.validator.as_ref().map(NeuronKey::address).filter(|me| ledger.is_validator(me));
        let my_share = validator.and_then(|me| ledger.share_of(&me));
        let prover = self.duties.prover.as_ref().map(NeuronKey::address);
        match (stage, validator, prover) {
            (Stage::Commit, Some(_), _) if my_share.is_none() && !self.submitted.contains(&Step::Commit) => {
                let share = self.share(sprint)?;
                self.submit(Step::Commit, SprintTx::Commit { sprint, commitment: commitment(&share) })
            }
            (Stage::Reveal, Some(_), _)
                if my_share.is_some_and(|s| s.share.is_none()) && !self.submitted.contains(&Step::Reveal) =>
            {
                let share = read_share(&self.share_file(sprint))?;
                self.submit(Step::Reveal, SprintTx::Reveal { sprint, share })
            }
            (Stage::Generate | Stage::Submit, _, Some(me)) if ledger.proof_of(&me).is_none() => match ledger.seed {
                Some(seed) => self.prove_and_submit(seed, stop),
                None => Ok(()),
            },
            // The seed is fixed: a validator builds the model its votes will need meanwhile.
            (Stage::Generate | Stage::Submit, Some(_), _) => {
                if let Some(seed) = ledger.seed {
                    self.model(seed, stop);
                }
                Ok(())
            }
            (Stage::Validate, Some(me), _) => self.vote(&ledger, me, height, stop),
            _ => Ok(()),
        }
    }

    /// Signs `tx` with the step's key (the prover's for a proof, the validator's otherwise) and
    /// its next nonce, admits it here and relays it, once per Sprint.
    fn submit(&mut self, step: Step, tx: SprintTx) -> Result<()> {
        if self.submitted.contains(&step) {
            return Ok(());
        }
        let key = match step {
            Step::Proof => &self.duties.prover,
            Step::Commit | Step::Reveal | Step::Verdict(_) => &self.duties.validator,
        };
        let key = key.as_ref().context("a step of a duty this node does not have")?;
        let nonce = self.node.query().neuron(&key.address()).next_nonce;
        let signed = Transaction::sprint(self.node.chain_id(), key, nonce, tx).sign(key);
        let outgoing = self.relay.prepare(&signed);
        let receipt = self.node.submit(signed)?;
        if let Some(body) = outgoing {
            // A stage may last a few blocks: forwarded again after one, then two, four, …
            self.relay.forward(receipt.cid, body, 1);
        }
        tracing::info!(sprint = self.sprint, ?step, tx = %receipt.cid, "Sprint step submitted");
        self.submitted.insert(step);
        Ok(())
    }

    fn share_file(&self, sprint: u64) -> PathBuf {
        self.duties.shares.join(format!("share-{sprint}"))
    }

    /// This validator's seed share for `sprint`: the one it wrote before, or a fresh random one,
    /// written and synced before anything commits to it. Earlier Sprints' shares are on chain
    /// (revealed) or of no use (withheld), so their files go.
    fn share(&self, sprint: u64) -> Result<Seed> {
        for earlier in std::fs::read_dir(&self.duties.shares)? {
            let earlier = earlier?.path();
            let number =
                earlier.file_name().and_then(|name| name.to_str()?.strip_prefix("share-")?.parse::<u64>().ok());
            if number.is_some_and(|number| number < sprint) {
                std::fs::remove_file(&earlier)?;
            }
        }
        let file = self.share_file(sprint);
        if file.exists() {
            return read_share(&file);
        }
        let share = random_seed();
        let partial = file.with_extension("partial");
        let write = || -> std::io::Result<()> {
            let mut out = std::fs::File::create(&partial)?;
            std::io::Write::write_all(&mut out, &share)?;
            out.sync_all()?;
            std::fs::rename(&partial, &file)?;
            std::fs::File::open(&self.duties.shares)?.sync_all()
        };
        write().with_context(|| format!("writing the seed share {}", file.display()))?;
        Ok(share)
    }

    /// Builds the Sprint model of `seed` unless it is the one kept (one Sprint's proving and
    /// votes share it), on idle cores at Sprint priority.
    fn model(&mut self, seed: Seed, stop: &AtomicBool) {
        if self.model.as_ref().is_none_or(|model| *model.sprint() != seed) {
            let profile = self.params.profile().expect("the genesis checked the profile");
            let pause = pause(&self.pool, stop);
            self.model = Some(self.workers.install(|| Model::generate(profile, seed, &pause)));
        }
    }

    /// Submits this Sprint's proof, proving first unless a proof is waiting from a submission
    /// that failed (it is kept and tried again at the next block, not proven again).
    fn prove_and_submit(&mut self, seed: Seed, stop: &AtomicBool) -> Result<()> {
        if self.submitted.contains(&Step::Proof) {
            return Ok(());
        }
        let proof = match self.proved.take() {
            Some(proof) => proof,
            None => match self.prove(seed, stop)? {
                Some(proof) => proof,
                None => return Ok(()),
            },
        };
        if proof.claim.nonces.is_empty() {
            // Nothing to claim: the proof would only spend a transaction.
            self.submitted.insert(Step::Proof);
            return Ok(());
        }
        let step = SprintTx::Proof { claim: proof.claim.encode(), signature: proof.signature };
        let submitted = self.submit(Step::Proof, step);
        if submitted.is_err() {
            self.proved = Some(proof);
        }
        submitted
    }

    /// Proves while the chain's next height is in the generate stage and the claim stays under
    /// the hits one transaction can carry; `None` when the node is stopping.
    fn prove(&mut self, seed: Seed, stop: &AtomicBool) -> Result<Option<Proof>> {
        let schedule = self.params.schedule;
        let generating = |tip: &Tip| schedule.stage(tip.get() + 1).1 == Stage::Generate;
        let cap = max_proof_hits(self.node.tx_limits().max_tx_bytes, self.node.chain_id());
        self.model(seed, stop);
        let key = self.duties.prover.as_ref().context("proving needs the prover's key")?;
        let proving = (self.model.as_ref().expect("built above"), key);
        let tip = &self.tip;
        // Called on the workers' pool, so `round_nonces` counts its threads.
        let more = |_, hits| generating(tip) && hits + round_nonces() <= cap;
        let (proof, tried) = prove_counted(&self.workers, &self.pool, &self.counters, stop, proving, more);
        if stop.load(Ordering::Acquire) {
            return Ok(None);
        }
        let hits = proof.claim.nonces.len();
        let capped = hits + self.workers.install(round_nonces) > cap;
        tracing::info!(sprint = self.sprint, tried, hits, capped, "Sprint proved");
        Ok(Some(proof))
    }

    /// Votes on every proof of the Sprint this validator has not voted on: its own sample of the
    /// nonces, seeded by the deadline header and its key, recomputed against the claim.
    fn vote(&mut self, ledger: &SprintLedger, me: Address, height: u64, stop: &AtomicBool) -> Result<()> {
        let unvoted: Vec<_> = ledger
            .proofs
            .iter()
            .filter(|p| !p.valid.contains(&me) && !p.invalid.contains(&me))
            .filter(|p| !self.submitted.contains(&Step::Verdict(p.prover)))
            .collect();
        if unvoted.is_empty() {
            return Ok(());
        }
        let (sprint, schedule) = (ledger.sprint, self.params.schedule);
        let seed = ledger.seed.context("a Sprint in its validate stage has a seed")?;
        let query = self.node.query();
        let deadline = schedule.deadline(sprint);
        let deadline_header = query.header(deadline)?.context("the deadline block is committed")?.cid();
        // The proofs as submitted: the transactions of the proof window that carried them.
        let mut proofs = Vec::new();
        for at in schedule.proof_window(sprint).start..=deadline.min(height) {
            for tx in query.block_transactions(at)? {
                let Some(SprintTx::Proof { claim, signature }) = tx.sprint else { continue };
                if unvoted.iter().any(|p| p.prover == tx.neuron && p.claim == dag_cbor_cid(&claim)) {
                    proofs.push((tx.neuron, Proof::decode(&claim, signature)?));
                }
            }
        }
        self.model(seed, stop);
        for (prover, proof) in proofs {
            if stop.load(Ordering::Acquire) {
                return Ok(());
            }
            let sample = self.params.sample_of(&proof, &deadline_header, &me);
            let model = self.model.as_ref().expect("built above");
            // On the idle workers: votes are Sprint work, below queries and the focus.
            let failures = self.workers.install(|| proof.failures(model, &sample));
            let valid = failures < self.params.fraud_failures();
            tracing::info!(sprint, %prover, failures, sample = sample.len(), valid, "Sprint proof checked");
            self.submit(Step::Verdict(prover), SprintTx::Verdict { sprint, prover, valid })?;
        }
        Ok(())
    }
}

fn read_share(file: &Path) -> Result<Seed> {
    let bytes = std::fs::read(file).with_context(|| format!("reading the seed share {}", file.display()))?;
    bytes.try_into().map_err(|bytes: Vec<u8>| anyhow::anyhow!("{}: {} bytes, not 32", file.display(), bytes.len()))
}
