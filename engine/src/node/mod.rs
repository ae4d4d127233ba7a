//! The node: one store, the chain state, mempool and focus behind one lock ([`crate::shared`]),
//! the admission thread, and the block transition split the way a BFT engine drives it —
//! [`Node::propose`] builds a block from the mempool without committing anything, and
//! [`Node::commit`] writes it, applies it and advances the focus.

mod admission;
mod focus;
mod restore;

use ipld_core::cid::Cid;
use rayon::prelude::*;
use std::{
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
};

use crate::{
    block::ProposedBlock,
    error::{EngineError, Result},
    focus::{Focus, FocusTransfer},
    genesis::{ChainParams, Genesis, GenesisValidator},
    ids::{Height, LinkIdx},
    mempool::Origin,
    model::AdoptedModel,
    particle::Particle,
    query::Query,
    records::BlockDiff,
    shared::{Inner, NodeConfig, Shared},
    state::ChainState,
    store::{BlockReader, FullStore, RocksStore},
    tx::{SignedTx, TxLimits, VerifiedTx},
    views::{BlockEvent, BlockSummary, LinkView, Receipt},
};

use admission::Admission;
pub(crate) use focus::DeferredFocus;
use focus::{CommittedBlock, OperatorChange};
pub(crate) use restore::chain_state as restore_chain_state;

/// How far a synced tip's time lies behind the clock before [`Node::catching_up`] says so.
pub const CATCHING_UP_LAG_MS: u64 = 10_000;

/// A block built on the current tip, not committed: from the mempool ([`Node::propose`]) or
/// from another validator's proposal ([`Node::validate_proposal`]).
#[derive(Clone, Debug)]
pub struct Proposal {
    block: BlockDiff,
    txs: Vec<SignedTx>,
    /// Sync brought it: a block decided without this node.
    synced: bool,
}

impl Proposal {
    /// What the block changes (its header included).
    pub fn block(&self) -> &BlockDiff {
        &self.block
    }

    /// The block as validators exchange it.
    pub fn to_proposed(&self) -> ProposedBlock {
        ProposedBlock { header: self.block.header.clone(), txs: self.txs.clone() }
    }
}

/// Writes block 0 unless `store` (called `name` in errors) already holds `genesis`'s chain.
fn init_named(store: &dyn FullStore, genesis: &Genesis, name: &dyn std::fmt::Display) -> Result<()> {
    match store.genesis()? {
        Some(existing) if existing == *genesis => Ok(()),
        Some(existing) => Err(EngineError::Genesis(format!(
            "{name} already holds chain {:?} with another genesis",
            existing.chain_id
        ))),
        None => store.commit_genesis(genesis, &ChainState::genesis_block(genesis)),
    }
}

/// A running node over one store.
pub struct Node {
    shared: Arc<Shared>,
    admission: Admission,
}

impl Node {
    /// Creates the chain in the database directory `db_dir` from `genesis` (block 0). If it
    /// already holds the same chain this is a no-op; a different genesis is an error.
    pub fn init(db_dir: &Path, genesis: &Genesis) -> Result<()> {
        genesis.validate()?;
        std::fs::create_dir_all(db_dir)?;
        init_named(&RocksStore::open(db_dir)?, genesis, &db_dir.display())
    }

    /// [`Node::init`] on any store.
    pub fn init_store(store: &dyn FullStore, genesis: &Genesis) -> Result<()> {
        genesis.validate()?;
        init_named(store, genesis, &"the store")
    }

    /// Whether `db_dir` holds an initialised chain (a database with a genesis; a crash
    /// between creating the database and writing the genesis leaves it uninitialised).
    pub fn is_initialised(db_dir: &Path) -> Result<bool> {
        if !db_dir.join("CURRENT").exists() {
            return Ok(false);
        }
        Ok(RocksStore::open_read_only(db_dir)?.genesis()?.is_some())
    }

    /// Opens an initialised database directory: rebuilds the state and re-admits the durable
    /// mempool in arrival order.
    pub fn open(db_dir: &Path, config: NodeConfig) -> Result<Self> {
        if !Self::is_initialised(db_dir)? {
            return Err(EngineError::Genesis(format!("{} is not initialised (run `init`)", db_dir.display())));
        }
        Self::open_store(Box::new(RocksStore::open_within(db_dir, config.store_memory)?), config)
    }

    /// [`Node::open`] on any initialised store.
    pub fn open_store(store: Box<dyn FullStore>, config: NodeConfig) -> Result<Self> {
        let state = restore::chain_state(store.as_reader())?;
        let chain_id = state.chain_id().to_owned();
        let limits = state.genesis().params.tx_limits();
        let mempool = restore::mempool(store.as_ref(), &state, &limits)?;
        let (focus, focus_pending) = focus::load(store.as_ref(), &config.device, &state)?;
        let model = crate::model::restore(store.as_reader(), state.tip().0.model);
        let shared = Arc::new(Shared {
            store,
            inner: Mutex::new(Inner {
                state,
                mempool,
                focus,
                deferred: None,
                focus_pending,
                model,
                model_pending: false,
                tip_synced: false,
            }),
            committing: Mutex::new(()),
            listeners: Mutex::new(Vec::new()),
            commit_turn: std::sync::OnceLock::new(),
            indexing: std::sync::atomic::AtomicBool::new(false),
            chain_id,
            limits,
            config,
            related_scratch: compiler::ScratchPool::default(),
        });
        crate::model::index_in_background(&shared);
        let admission = Admission::start(&shared)?;
        Ok(Node { shared, admission })
    }

    /// The read API over this node's store and state.
    pub fn query(&self) -> Query {
        Query::new(Arc::clone(&self.shared))
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.shared.chain_id
    }

    /// The validators that decide the next height and their powers, sorted by address (the
    /// genesis list, or the Sprint ledger's once Sprint runs on chain).
    pub fn validators(&self) -> Vec<GenesisValidator> {
        self.shared.with_state(ChainState::validators)
    }

    /// The chain's parameters, fixed at genesis.
    pub fn params(&self) -> ChainParams {
        self.shared.with_state(|state| state.genesis().params.clone())
    }

    /// Transaction size limits.
    pub fn tx_limits(&self) -> TxLimits {
        self.shared.limits
    }

    /// Admits a signed transaction from a client. Returns once it is in the synced write-ahead
    /// log; any error leaves the store unchanged. Blocks the calling thread.
    pub fn submit(&self, signed: SignedTx) -> Result<Receipt> {
        self.submit_from(signed, Origin::Client)
    }

    /// [`Node::submit`] for a transaction from `origin` (see [`Origin`]: another node's relay
    /// is admitted even when the next height would make its Sprint step a no-op).
    pub fn submit_from(&self, signed: SignedTx, origin: Origin) -> Result<Receipt> {
        self.admission.admit(signed.verify(&self.shared.chain_id, &self.shared.limits)?, origin)
    }

    /// Builds the next block from the mempool on the current tip, committing nothing: `None`
    /// when the mempool has nothing for it and no focus awaits a header. `time` is the
    /// proposer's clock (Unix milliseconds); the state machine never reads one. Entries that
    /// can never commit (a used nonce) are dropped from the mempool on the way.
    pub fn propose(&self, time: u64) -> Result<Option<Proposal>> {
        // A commit in progress has moved the state but not yet the focus the next header
        // commits to: wait for it.
        let _one_at_a_time = self.lock_commits();
        self.propose_held(time, false)
    }

    /// [`Node::propose`] for a chain that decides a block at every height (consensus): an empty
    /// block when the mempool has nothing.
    pub fn propose_block(&self, time: u64) -> Result<Proposal> {
        let _one_at_a_time = self.lock_commits();
        Ok(self.propose_held(time, true)?.expect("an empty block is proposed when asked to"))
    }

    /// The proposal, with `committing` held by the caller.
    fn propose_held(&self, time: u64, even_if_empty: bool) -> Result<Option<Proposal>> {
        self.settle_focus(None)?;
        let mut inner = self.shared.lock();
        let Inner { state, mempool, focus, focus_pending, model, model_pending, .. } = &mut *inner;
        let (chosen, stale) = mempool.select(state);
        if !stale.is_empty() {
            self.shared.store.drop_mempool(&stale)?;
            mempool.remove(&stale);
        }
        if chosen.is_empty() && !*focus_pending && !*model_pending && !even_if_empty {
            return Ok(None);
        }
        let txs: Vec<&VerifiedTx> = chosen.iter().map(|(_, tx)| tx.as_ref()).collect();
        let model = model.as_ref().map(|m| m.cid);
        let block = state.prepare_block(&txs, time, focus.summary.root, model)?;
        Ok(Some(Proposal { block, txs: txs.iter().map(|tx| tx.signed.clone()).collect(), synced: false }))
    }

    /// Checks a block another validator proposed for the next height: it extends this tip,
    /// every transaction passes its stateless checks, and this node's state machine derives the
    /// same header from those transactions, the proposer's time and model, and this node's own
    /// focus of the tip (solved now if sync left it to a peer's vector). Commits nothing; the
    /// proposal commits with [`Node::commit_decided`].
    pub fn validate_proposal(&self, proposed: ProposedBlock) -> Result<Proposal> {
        self.validate(proposed, false)
    }

    /// [`Node::validate_proposal`] of a block sync brought, which a commit certificate vouches
    /// for once decided: where the tip's focus awaits a peer's vector whose root the block's
    /// header commits, the block is derived on that root; the vector is stored only when the
    /// block is decided ([`Node::commit_decided`]), and solved for instead if another block is.
    pub fn validate_synced(&self, proposed: ProposedBlock) -> Result<Proposal> {
        self.validate(proposed, true)
    }

    fn validate(&self, proposed: ProposedBlock, synced: bool) -> Result<Proposal> {
        let ProposedBlock { header, txs } = proposed;
        let refuse = EngineError::InvalidProposal;
        // Each transaction's checks (a signature, its CID) stand alone: both cores take them.
        let verified = txs
            .par_iter()
            .map(|tx| tx.clone().verify(&self.shared.chain_id, &self.shared.limits))
            .collect::<Result<Vec<_>>>()
            .map_err(|e| refuse(format!("height {}: a transaction fails its checks: {e}", header.height)))?;
        let _one_at_a_time = self.lock_commits();
        // The peer's root is waited for outside the lock (its hashing may still run).
        let peers_vector = match synced {
            true => self.shared.lock().deferred.as_ref().map(DeferredFocus::vector),
            false => None,
        };
        let on_peers_focus = peers_vector.is_some_and(|vector| vector.wait().1 == header.focus_root);
        if !on_peers_focus {
            self.settle_focus(None)?;
        }
        let inner = self.shared.lock();
        let (tip, tip_cid) = inner.state.tip();
        if header.height != tip.height + 1 || header.parent != tip_cid {
            return Err(refuse(format!(
                "block {} (parent {}) does not extend the tip {} ({tip_cid})",
                header.height, header.parent, tip.height
            )));
        }
        let focus_root = if on_peers_focus { header.focus_root } else { inner.focus.summary.root };
        let chosen: Vec<&VerifiedTx> = verified.iter().collect();
        let block = inner
            .state
            .prepare_block(&chosen, header.time, focus_root, header.model)
            .map_err(|e| refuse(format!("height {}: {e}", header.height)))?;
        if block.header != header {
            return Err(refuse(format!(
                "height {}: its transactions give header {}, not {}{}",
                header.height,
                block.header.cid(),
                header.cid(),
                if block.header.focus_root == header.focus_root { "" } else { " (another focus root)" }
            )));
        }
        Ok(Proposal { block, txs, synced })
    }

    /// Commits a proposal made on the current tip: writes it in one synced batch, applies it,
    /// then computes the focus of the new state (warm from the previous focus, outside the
    /// lock, so admission goes on) and stores it; the next block commits to it.
    pub fn commit(&self, proposal: Proposal) -> Result<BlockSummary> {
        let _one_at_a_time = self.lock_commits();
        self.commit_held(proposal, None, None)
    }

    /// [`Node::commit`] of a block consensus decided, with the commit certificate (the consensus
    /// crate's encoding) written in the block's batch. `next_focus`: the focus after this block
    /// as a peer sent it with the block (sync); if the block adds links, the node keeps it
    /// instead of solving, and stores it when the next decided header commits its root (solving
    /// if that header commits another, or if a proposal needs the focus first).
    pub fn commit_decided(
        &self,
        proposal: Proposal,
        certificate: &[u8],
        next_focus: Option<FocusTransfer>,
    ) -> Result<BlockSummary> {
        let _one_at_a_time = self.lock_commits();
        self.commit_held(proposal, Some(certificate), next_focus)
    }

    /// Whether this node is catching up at `now` (Unix milliseconds): its tip is a block sync
    /// brought, decided without it, and timed more than [`CATCHING_UP_LAG_MS`] before `now`. A
    /// node that commits blocks live, or follows by sync close behind the chain, is not.
    pub fn catching_up(&self, now: u64) -> bool {
        let inner = self.shared.lock();
        inner.tip_synced && now.saturating_sub(inner.state.tip().0.time) > CATCHING_UP_LAG_MS
    }

    /// Whether the tip's focus awaits a peer's vector: this node is catching up, and the peer
    /// that sent the vector already held the next height decided.
    pub fn awaits_peers_focus(&self) -> bool {
        self.shared.lock().deferred.is_some()
    }

    /// What a node catching up needs besides block `height` to skip its solve: the focus after
    /// it, if the block changed the graph (a block without links carries the focus over, which
    /// needs no solve) and the focus is settled here.
    pub fn focus_transfer(&self, height: u64) -> Result<Option<FocusTransfer>> {
        let store = self.shared.store.as_reader();
        if store.block(Height(height))?.is_none_or(|block| block.link_count == 0) {
            return Ok(None);
        }
        let Some(summary) = store.focus_summary(Height(height))? else { return Ok(None) };
        let pi = crate::focus::focus_at(store, Height(height))?.unwrap_or_default();
        Ok(Some(FocusTransfer::of(&pi, &summary)))
    }

    /// A committed block as validators exchange it, and the certificate that decided it (what a
    /// node catching up asks its peers for).
    pub fn decided_block(&self, height: u64) -> Result<Option<(ProposedBlock, Option<Vec<u8>>)>> {
        let store = self.shared.store.as_reader();
        let Some(record) = store.block(Height(height))? else {
            return Ok(None);
        };
        let records = store.block_txs(Height(height))?;
        let txs = self
            .shared
            .with_state(|state| records.iter().map(|tx| crate::audit::rebuild_tx(state, tx)).collect::<Result<_>>())?;
        Ok(Some((ProposedBlock { header: record.header, txs }, store.certificate(Height(height))?)))
    }

    /// Durably keeps the block this node proposes at `height` and `round`, so that it proposes
    /// the same one if asked again, after a restart too.
    pub fn keep_own_proposal(&self, height: u64, round: u32, block: &ProposedBlock) -> Result<()> {
        self.shared.store.put_proposal(Height(height), round, &block.encode())
    }

    /// The block this node proposed at `height` and `round`, if it proposed one there and no
    /// block at that height has committed.
    pub fn own_proposal(&self, height: u64, round: u32) -> Result<Option<ProposedBlock>> {
        self.shared.store.proposal(Height(height), round)?.map(|bytes| ProposedBlock::decode(&bytes)).transpose()
    }

    /// [`Node::propose`] and [`Node::commit`] as one step (a single-node chain's producer).
    pub fn produce_block(&self, time: u64) -> Result<Option<BlockSummary>> {
        let _one_at_a_time = self.lock_commits();
        self.propose_held(time, false)?.map(|proposal| self.commit_held(proposal, None, None)).transpose()
    }

    fn lock_commits(&self) -> MutexGuard<'_, ()> {
        self.shared.committing.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Has every block's commit — whether this node produced it alone or consensus decided it —
    /// take a turn from `enter`, held from the start of the commit until its focus is published
    /// (the server's device pool: the commit and its solve go before training and Sprint). Set
    /// once, at start-up: a second call is a programming error and panics.
    pub fn take_commit_turns(&self, enter: impl Fn() -> Box<dyn Send> + Send + Sync + 'static) {
        assert!(self.shared.commit_turn.set(Box::new(enter)).is_ok(), "commit turns are taken once");
    }

    /// The commit, with `committing` held by the caller.
    fn commit_held(
        &self,
        Proposal { mut block, synced, .. }: Proposal,
        certificate: Option<&[u8]>,
        next_focus: Option<FocusTransfer>,
    ) -> Result<BlockSummary> {
        // A decided header certifies the root of the focus it builds on.
        let certified = block.header.focus_root;
        self.settle_focus(certificate.map(|_| &certified))?;
        let _turn = self.shared.commit_turn.get().map(|enter| enter());
        let (committed, update, changed, behind, previous) = {
            let mut inner = self.shared.lock();
            let Inner { state, mempool, focus, focus_pending, model, model_pending, tip_synced, .. } = &mut *inner;
            let tip = state.tip().0.height;
            // Built on this tip, committing the focus of this tip's state (what the next
            // header must carry), or not at all.
            if block.header.parent != state.tip().1 || block.header.focus_root != focus.summary.root {
                return Err(EngineError::StaleProposal { proposed: block.header.height, tip });
            }
            // Whoever proposed it, the block takes out of this mempool what it commits.
            block.mempool_done = mempool.seqs_of(block.txs.iter().map(|(cid, _)| cid));
            self.shared.store.commit_block(&block, certificate)?;
            // The focus (and its operator) is the tip's unless a focus failed after its block
            // was written; then the operator is rebuilt from the state rather than updated
            // from one that lacks that block's links, and the focus is recomputed.
            let behind = focus.summary.height != tip;
            state.apply(&block);
            *tip_synced = synced;
            mempool.remove(&block.mempool_done);
            let changed = !block.links.is_empty() || behind;
            *focus_pending = changed;
            *model_pending = block.header.model != model.as_ref().map(|m| m.cid);
            let update = match behind {
                true => Some(OperatorChange::Rebuilt(Arc::new(state.focus_operator()?))),
                false => changed.then(|| OperatorChange::Update(state.operator_update(&block))),
            };
            let summary = BlockSummary {
                height: block.header.height,
                cid: block.header.cid(),
                txs: block.txs.len(),
                links: block.links.len(),
            };
            let links: Vec<LinkView> = block
                .links
                .iter()
                .enumerate()
                .map(|(i, record)| LinkView::resolve(state, LinkIdx(block.first_link.0 + i as u64), *record))
                .collect();
            let committed = CommittedBlock { block: summary, header: block.header, links };
            (committed, update, changed, behind, focus.clone())
        };
        let summary = committed.block.clone();
        let operator = focus::operator_after(&previous.operator, update)?;
        let deferrable =
            |transfer: &FocusTransfer| changed && !behind && focus::fits(transfer, &operator, summary.height);
        if let Some(transfer) = next_focus.filter(deferrable) {
            tracing::info!(
                height = summary.height,
                txs = summary.txs,
                links = summary.links,
                "block committed; its focus awaits the next certified header"
            );
            self.shared.lock().deferred = Some(DeferredFocus::new(operator, transfer, committed));
            return Ok(summary);
        }
        let device = &self.shared.config.device;
        let focus = focus::advance(self.shared.store.as_ref(), device, operator, changed, &previous, summary.height)?;
        self.publish(focus, changed, committed, "solved");
        Ok(summary)
    }

    /// Settles a tip focus that awaits a peer's vector, with `committing` held: takes the vector
    /// when `certified` — the focus root a decided header commits for the tip's state — is its
    /// root, else solves it.
    fn settle_focus(&self, certified: Option<&crate::merkle::Hash>) -> Result<()> {
        let Some(deferred) = self.shared.lock().deferred.take() else { return Ok(()) };
        let _turn = self.shared.commit_turn.get().map(|enter| enter());
        let previous = self.shared.focus();
        let height = deferred.committed.block.height;
        let store = self.shared.store.as_ref();
        if certified.is_some_and(|root| *root == deferred.root()) {
            let (focus, committed) = deferred.adopt(store, &previous, height)?;
            self.publish(focus, true, committed, "from a peer, checked against the certified header");
        } else {
            if certified.is_some() {
                tracing::warn!(height, "the focus a peer sent is not the one the next header certifies; solving it");
            }
            let focus = focus::advance(store, &self.shared.config.device, deferred.operator, true, &previous, height)?;
            self.publish(focus, true, deferred.committed, "solved");
        }
        Ok(())
    }

    /// Makes `focus` the tip's (with its karma, if the block `changed` the graph) and tells the
    /// block's subscribers.
    fn publish(&self, focus: Focus, changed: bool, CommittedBlock { block, header, links }: CommittedBlock, how: &str) {
        let focus = {
            let mut inner = self.shared.lock();
            let focus = if changed { Focus { karma: Arc::new(inner.state.karma(&focus.pi)), ..focus } } else { focus };
            inner.focus = focus.clone();
            focus
        };
        tracing::info!(
            height = block.height,
            txs = block.txs,
            links = block.links,
            focus = how,
            focus_iterations = focus.summary.iterations,
            focus_ms = focus.summary.solve_micros / 1000,
            "block committed"
        );
        let event = BlockEvent { block, header, links, focus: focus.summary };
        for listener in self.shared.listeners.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            listener(&event);
        }
    }

    /// Adopts a compiled model: checks the file, stores it as content (so `GET /model/{cid}` and
    /// a restart find it) and serves `related` with it from now on; the next block's header
    /// records its CID. Refuses a file that is not a model, or one compiled for more particles
    /// than the graph has. The model in force again (`serve --model F` on a chain that records
    /// `F`, restored at start) is left as it is served, not read a second time.
    pub fn adopt_model(&self, bytes: &[u8]) -> Result<Cid> {
        let cid = Particle::of_content(bytes).cid();
        if self.shared.lock().model.as_ref().is_some_and(|model| model.cid == cid) {
            return Ok(cid);
        }
        let model = AdoptedModel::with_cid(cid, bytes)?;
        let particles = self.shared.with_state(|state| state.counts().particles);
        if model.served.model().shape.particles as u64 > particles {
            return Err(EngineError::Model(compiler::CompileError::ModelFile(format!(
                "compiled for {} particles, the graph has {particles}",
                model.served.model().shape.particles
            ))));
        }
        self.shared.store.put_contents(&[(Particle::from_cid(cid)?, bytes)])?;
        let mut inner = self.shared.lock();
        inner.model_pending = inner.state.tip().0.model != Some(cid);
        inner.model = Some(Arc::new(model));
        tracing::info!(model = %cid, height = inner.model.as_ref().map_or(0, |m| m.height), "model adopted");
        drop(inner);
        crate::model::index_in_background(&self.shared);
        Ok(cid)
    }

    /// Serves `served` — `folded`'s weights folded in for particles added since it was compiled
    /// (`compiler::Served::folded_in`) — in place of `folded`, and returns it as now served. The
    /// CID and headers stay the compiled file's (an auditor folds in alike). Nothing changes —
    /// and the answer is `None` — when `folded` is no longer what the node serves (a newer
    /// model, its index swapped in meanwhile: the next upkeep folds in from that) or `served`
    /// has rows for more particles than the graph.
    pub fn serve_folded(&self, folded: &Arc<AdoptedModel>, served: compiler::Served) -> Option<Arc<AdoptedModel>> {
        let particles = self.shared.with_state(|state| state.counts().particles);
        let rows = served.model().shape.particles;
        let mut inner = self.shared.lock();
        let current = inner.model.as_ref().filter(|m| Arc::ptr_eq(m, folded) && rows as u64 <= particles)?;
        let model = Arc::new(current.serving(served));
        inner.model = Some(Arc::clone(&model));
        tracing::info!(model = %model.cid, rows, "model folded in for new particles");
        Some(model)
    }

    /// Calls `listener` after every block, once its focus is computed (subscriptions).
    pub fn on_block(&self, listener: impl Fn(&BlockEvent) + Send + Sync + 'static) {
        self.shared.listeners.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(listener));
    }

    /// Stores content durably and returns its particle (CIDv1, raw, sha2-256).
    pub fn post_content(&self, content: &[u8]) -> Result<Particle> {
        Ok(self.post_contents(&[content])?.remove(0))
    }

    /// Stores many contents in one durable write (bulk import); returns their particles.
    pub fn post_contents(&self, contents: &[&[u8]]) -> Result<Vec<Particle>> {
        let limit = self.shared.config.max_content_bytes;
        if let Some(big) = contents.iter().find(|c| c.len() > limit) {
            return Err(EngineError::TooLarge { what: "content (bytes)", size: big.len(), limit });
        }
        let entries: Vec<(Particle, &[u8])> = contents.iter().map(|c| (Particle::of_content(c), *c)).collect();
        self.shared.store.put_contents(&entries)?;
        Ok(entries.into_iter().map(|(p, _)| p).collect())
    }
}
