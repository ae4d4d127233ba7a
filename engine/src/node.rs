//! The node: the store, the chain state and the mempool behind one lock, an admission thread
//! that group-commits submissions, and the block producer's entry point.

use std::{
    path::Path,
    sync::{Arc, Mutex, MutexGuard, mpsc},
    thread::JoinHandle,
};

use ipld_core::cid::Cid;
use serde::Serialize;

use crate::{
    block::BlockHeader,
    error::{EngineError, Result},
    focus::Focus,
    genesis::Genesis,
    ids::{Height, LinkIdx},
    mempool::Mempool,
    neuron::Address,
    particle::Particle,
    query::LinkView,
    state::{ChainState, GraphCounts},
    store::{Store, TxLocation},
    tx::{SignedTx, TxLimits, VerifiedTx},
};

/// Node policy that is not consensus.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Largest content accepted by [`Node::post_content`].
    pub max_content_bytes: usize,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig { max_content_bytes: 256 * 1024 }
    }
}

/// The answer to an admitted transaction: it is durable and will be in the next block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The transaction's CID.
    #[serde(serialize_with = "crate::serde_display")]
    pub cid: Cid,
    /// Positions of links that are duplicates and will add nothing.
    pub duplicates: Vec<usize>,
}

/// What one produced block did.
#[derive(Clone, Debug, Serialize)]
pub struct BlockSummary {
    /// Its height.
    pub height: u64,
    /// Its CID.
    #[serde(serialize_with = "crate::serde_display")]
    pub cid: Cid,
    /// Transactions included.
    pub txs: usize,
    /// Links added to the graph.
    pub links: usize,
}

/// Where a transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxStatus {
    /// In a block.
    Committed {
        /// The block.
        height: u64,
        /// Its position in the block.
        index: u32,
    },
    /// Admitted, waiting for a block.
    Pending,
    /// Never admitted.
    Unknown,
}

/// A neuron as clients see it.
#[derive(Clone, Debug, Serialize)]
pub struct NeuronInfo {
    /// Its address.
    pub address: Address,
    /// Its stake.
    pub stake: u64,
    /// Links per block it may add.
    pub quota: u64,
    /// The nonce to sign its next transaction with.
    pub next_nonce: u64,
    /// Committed links.
    pub links: u64,
}

/// A node's state at a glance.
#[derive(Clone, Debug, Serialize)]
pub struct NodeStatus {
    /// The chain id (clients sign it).
    pub chain_id: String,
    /// The tip's CID.
    #[serde(serialize_with = "crate::serde_display")]
    pub tip: Cid,
    /// Graph counts at the tip.
    #[serde(flatten)]
    pub counts: GraphCounts,
    /// Transactions waiting for a block.
    pub mempool: usize,
}

struct Inner {
    state: ChainState,
    mempool: Mempool,
    /// The focus of the tip's state.
    focus: Focus,
    /// Whether the tip's focus differs from the one its header commits to, so a block is due
    /// even with an empty mempool (it carries the new `focus_root`).
    focus_pending: bool,
}

struct Shared {
    store: Store,
    inner: Mutex<Inner>,
    /// Serialises block production (the focus solve runs outside `inner`).
    producing: Mutex<()>,
    /// Called after every block.
    listeners: Mutex<Vec<Listener>>,
    chain_id: String,
    limits: TxLimits,
    config: NodeConfig,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves nothing half-applied (state moves only after
        // the store commits), so the data behind a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

type Reply = mpsc::Sender<Result<Receipt>>;
type Listener = Box<dyn Fn(&BlockEvent) + Send + Sync>;

/// What subscribers hear after each block.
#[derive(Clone, Debug)]
pub struct BlockEvent {
    /// The block.
    pub block: BlockSummary,
    /// Its header.
    pub header: BlockHeader,
    /// The links it added.
    pub links: Vec<LinkView>,
    /// The focus of the state after it.
    pub focus: crate::focus::FocusSummary,
}

/// A running node over one data directory.
pub struct Node {
    shared: Arc<Shared>,
    admission: Option<mpsc::Sender<(VerifiedTx, Reply)>>,
    admission_thread: Option<JoinHandle<()>>,
}

/// Most submissions written by one synced write.
const MAX_GROUP_COMMIT: usize = 1024;

impl Node {
    /// Creates the chain in `data_dir` from `genesis` (block 0). If the directory already holds
    /// the same chain this is a no-op; a different genesis is an error.
    pub fn init(data_dir: &Path, genesis: &Genesis) -> Result<()> {
        genesis.validate()?;
        std::fs::create_dir_all(data_dir)?;
        let store = Store::open(data_dir)?;
        match store.genesis()? {
            Some(existing) if existing == *genesis => Ok(()),
            Some(existing) => Err(EngineError::Genesis(format!(
                "{} already holds chain {:?} with another genesis",
                data_dir.display(),
                existing.chain_id
            ))),
            None => store.commit_genesis(genesis, &ChainState::genesis_block(genesis)),
        }
    }

    /// Whether `data_dir` holds an initialised chain (a database with a genesis; a crash
    /// between creating the database and writing the genesis leaves it uninitialised).
    pub fn is_initialised(data_dir: &Path) -> Result<bool> {
        if !data_dir.join("CURRENT").exists() {
            return Ok(false);
        }
        Ok(Store::open_read_only(data_dir)?.genesis()?.is_some())
    }

    /// Opens an initialised data directory: rebuilds the state and re-admits the durable
    /// mempool in arrival order.
    pub fn open(data_dir: &Path, config: NodeConfig) -> Result<Self> {
        if !Self::is_initialised(data_dir)? {
            return Err(EngineError::Genesis(format!("{} is not initialised (run `init`)", data_dir.display())));
        }
        let store = Store::open(data_dir)?;
        let state = ChainState::load(&store)?;
        let chain_id = state.chain_id().to_owned();
        let limits = state.genesis().params.tx_limits();
        let mut mempool = Mempool::default();
        let mut unusable = Vec::new();
        for (seq, signed) in store.mempool()? {
            let admitted = signed.verify(&chain_id, &limits).and_then(|tx| {
                mempool.check(&state, &tx)?;
                Ok(tx)
            });
            match admitted {
                Ok(tx) => mempool.insert(seq, Arc::new(tx)),
                Err(e) => {
                    tracing::warn!(seq, error = %e, "dropping a mempool entry that can no longer commit");
                    unusable.push(seq);
                }
            }
        }
        if !unusable.is_empty() {
            store.drop_mempool(&unusable)?;
        }
        let (focus, focus_pending) = load_focus(&store, &state)?;
        let inner = Inner { state, mempool, focus, focus_pending };
        let shared = Arc::new(Shared {
            store,
            inner: Mutex::new(inner),
            producing: Mutex::new(()),
            listeners: Mutex::new(Vec::new()),
            chain_id,
            limits,
            config,
        });
        let (sender, receiver) = mpsc::channel();
        let worker = Arc::clone(&shared);
        let admission_thread =
            std::thread::Builder::new().name("admission".into()).spawn(move || admission_loop(&worker, &receiver))?;
        Ok(Node { shared, admission: Some(sender), admission_thread: Some(admission_thread) })
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.shared.chain_id
    }

    /// Transaction size limits.
    pub fn tx_limits(&self) -> TxLimits {
        self.shared.limits
    }

    /// Admits a signed transaction. Returns once it is in the synced write-ahead log; any
    /// error leaves the store unchanged. Blocks the calling thread.
    pub fn submit(&self, signed: SignedTx) -> Result<Receipt> {
        let tx = signed.verify(&self.shared.chain_id, &self.shared.limits)?;
        let (reply, answer) = mpsc::channel();
        self.admission
            .as_ref()
            .ok_or(EngineError::ShuttingDown)?
            .send((tx, reply))
            .map_err(|_| EngineError::ShuttingDown)?;
        answer.recv().map_err(|_| EngineError::ShuttingDown)?
    }

    /// Commits the next block from the mempool, if it has anything (or if the tip's focus
    /// changed and no header commits to it yet). `time` is the proposer's clock (Unix
    /// milliseconds); the state machine never reads one.
    ///
    /// After the block commits, the focus of the new state is computed (warm from the previous
    /// focus, outside the lock, so admission goes on) and stored; the next block commits to it.
    pub fn produce_block(&self, time: u64) -> Result<Option<BlockSummary>> {
        let _one_at_a_time = self.shared.producing.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (summary, header, links, operator, changed, previous) = {
            let mut inner = self.shared.lock();
            let Inner { state, mempool, focus, focus_pending } = &mut *inner;
            let (chosen, stale) = mempool.select(state);
            if !stale.is_empty() {
                self.shared.store.drop_mempool(&stale)?;
                mempool.remove(&stale);
            }
            if chosen.is_empty() && !*focus_pending {
                return Ok(None);
            }
            let chosen: Vec<(u64, &VerifiedTx)> = chosen.iter().map(|(seq, tx)| (*seq, tx.as_ref())).collect();
            let block = state.prepare_block(&chosen, time, focus.summary.root)?;
            self.shared.store.commit_block(&block)?;
            state.apply(&block);
            mempool.remove(&block.mempool_done);
            let changed = !block.links.is_empty();
            *focus_pending = changed;
            let operator = if changed { Arc::new(state.focus_operator()?) } else { Arc::clone(&focus.operator) };
            let summary = BlockSummary {
                height: block.header.height,
                cid: block.header.cid(),
                txs: block.txs.len(),
                links: block.links.len(),
            };
            let links = block
                .links
                .iter()
                .enumerate()
                .map(|(i, record)| LinkView::resolve(state, LinkIdx(block.first_link.0 + i as u64), *record))
                .collect();
            (summary, block.header, links, operator, changed, focus.clone())
        };
        let focus = advance_focus(&self.shared.store, operator, changed, &previous, summary.height)?;
        let focus = {
            let mut inner = self.shared.lock();
            let focus = if changed { Focus { karma: Arc::new(inner.state.karma(&focus.pi)), ..focus } } else { focus };
            inner.focus = focus.clone();
            focus
        };
        tracing::info!(
            height = summary.height,
            txs = summary.txs,
            links = summary.links,
            focus_iterations = focus.summary.iterations,
            focus_ms = focus.summary.solve_micros / 1000,
            "block committed"
        );
        let event = BlockEvent { block: summary.clone(), header, links, focus: focus.summary };
        for listener in self.shared.listeners.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            listener(&event);
        }
        Ok(Some(summary))
    }

    /// Calls `listener` after every block, once its focus is computed (subscriptions).
    pub fn on_block(&self, listener: impl Fn(&BlockEvent) + Send + Sync + 'static) {
        self.shared.listeners.lock().unwrap_or_else(|p| p.into_inner()).push(Box::new(listener));
    }

    /// The focus of the tip's state.
    pub fn focus(&self) -> Focus {
        self.shared.lock().focus.clone()
    }

    /// The exact focus vector of the state at `height`.
    pub fn focus_at(&self, height: u64) -> Result<Option<Vec<f64>>> {
        crate::focus::focus_at(&self.shared.store, Height(height))
    }

    /// One particle's focus at `height` with the inclusion proof of its leaf into the
    /// `focus_root` of header `height + 1`.
    pub fn focus_proof(&self, particle: &Particle, height: u64) -> Result<FocusProof> {
        let not_found = EngineError::NotFound;
        let index = self
            .with_state(|s| s.particle_idx(particle))
            .ok_or_else(|| not_found(format!("particle {particle} has no links")))?;
        let anchor = self.shared.store.block(Height(height + 1))?.ok_or_else(|| {
            not_found(format!("the focus of height {height} is committed by block {}, not produced yet", height + 1))
        })?;
        let pi = self.focus_at(height)?.ok_or_else(|| not_found(format!("no focus stored for height {height}")))?;
        let proof = crate::focus::focus_proof(&pi, index)
            .ok_or_else(|| not_found(format!("{particle} had no links at height {height}")))?;
        let focus = pi[index.0 as usize];
        Ok(FocusProof {
            height,
            particle: index.0,
            focus,
            leaf: crate::focus::quantise(focus),
            root: anchor.header.focus_root,
            anchor_height: height + 1,
            proof,
        })
    }

    /// Stores content durably and returns its particle (CIDv1, raw, sha2-256).
    pub fn post_content(&self, content: &[u8]) -> Result<Particle> {
        let limit = self.shared.config.max_content_bytes;
        if content.len() > limit {
            return Err(EngineError::TooLarge { what: "content (bytes)", size: content.len(), limit });
        }
        let particle = Particle::of_content(content);
        self.shared.store.put_content(&particle, content)?;
        Ok(particle)
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

    /// The content of a particle, if posted.
    pub fn content(&self, particle: &Particle) -> Result<Option<Vec<u8>>> {
        self.shared.store.content(particle)
    }

    /// The node at a glance.
    pub fn status(&self) -> NodeStatus {
        let inner = self.shared.lock();
        NodeStatus {
            chain_id: self.shared.chain_id.clone(),
            tip: inner.state.tip().1,
            counts: inner.state.counts(),
            mempool: inner.mempool.len(),
        }
    }

    /// A neuron as a client needs it to sign.
    pub fn neuron(&self, address: &Address) -> NeuronInfo {
        let inner = self.shared.lock();
        NeuronInfo {
            address: *address,
            stake: inner.state.stake_of(address),
            quota: inner.state.quota_of(address),
            next_nonce: inner.mempool.next_nonce(&inner.state, address),
            links: inner.state.neuron(address).map_or(0, |n| n.links),
        }
    }

    /// Where a transaction stands.
    pub fn tx_status(&self, cid: &Cid) -> Result<TxStatus> {
        // Mempool first, under the lock; the store read after it needs none: a block writes the
        // store before it takes its transactions out of the mempool, both under the lock.
        if self.shared.lock().mempool.contains(cid) {
            return Ok(TxStatus::Pending);
        }
        Ok(match self.shared.store.tx_location(cid)? {
            Some(TxLocation { height, index }) => TxStatus::Committed { height: height.0, index },
            None => TxStatus::Unknown,
        })
    }

    /// A block header and its transactions' CIDs.
    pub fn block(&self, height: u64) -> Result<Option<(BlockHeader, Vec<Cid>)>> {
        let Some(header) = self.header(height)? else { return Ok(None) };
        let cids = self.block_transactions(height)?.into_iter().map(|tx| tx.cid).collect();
        Ok(Some((header, cids)))
    }

    /// Runs `f` on the committed state (for queries that need the graph).
    pub fn with_state<T>(&self, f: impl FnOnce(&ChainState) -> T) -> T {
        f(&self.shared.lock().state)
    }

    /// The store, for read queries.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }
}

/// One particle's focus leaf with its Merkle path to a header's `focus_root`.
#[derive(Clone, Debug, Serialize)]
pub struct FocusProof {
    /// The state whose focus this is.
    pub height: u64,
    /// The particle's index (the leaf position).
    pub particle: u32,
    /// The focus value.
    pub focus: f64,
    /// The committed leaf `round(focus·2^60)` (leaf bytes: little-endian u64).
    pub leaf: u64,
    /// The root it proves into.
    #[serde(serialize_with = "crate::serde_hex")]
    pub root: crate::merkle::Hash,
    /// The header holding `root`.
    pub anchor_height: u64,
    /// The audit path.
    pub proof: crate::merkle::InclusionProof,
}

/// The focus of the tip after start-up: read from the history, or (after a crash between a
/// block and its focus) recomputed from the previous height's stored focus, bit for bit.
fn load_focus(store: &Store, state: &ChainState) -> Result<(Focus, bool)> {
    let tip = state.tip().0.height;
    let tip_block = store.block(Height(tip))?.ok_or_else(|| EngineError::Corruption("tip block missing".into()))?;
    let changed = tip_block.link_count > 0;
    let operator = Arc::new(state.focus_operator()?);
    let focus = match stored_focus(store, tip, &operator)? {
        Some(focus) => focus,
        None => {
            let previous = match tip.checked_sub(1) {
                None => Focus::empty(0, Arc::clone(&operator)),
                Some(parent) => stored_focus(store, parent, &operator)?.ok_or_else(|| {
                    EngineError::Corruption(format!("the focus of heights {parent} and {tip} are both missing"))
                })?,
            };
            advance_focus(store, operator, changed, &previous, tip)?
        }
    };
    Ok((Focus { karma: Arc::new(state.karma(&focus.pi)), ..focus }, changed))
}

/// The stored focus of `height`, if any, with `operator` for queries.
fn stored_focus(store: &Store, height: u64, operator: &Arc<kernels::FocusOperator>) -> Result<Option<Focus>> {
    let Some(summary) = store.focus_summary(Height(height))? else { return Ok(None) };
    let pi = crate::focus::focus_at(store, Height(height))?.unwrap_or_default();
    let solution = kernels::FocusSolution {
        pi,
        iterations: summary.iterations as usize,
        bound: summary.bound,
        converged: true,
        syntropy: summary.syntropy,
    };
    let solved = Focus::solved(solution, height, summary.solve_micros, Arc::clone(operator));
    Ok(Some(Focus { summary, ..solved }))
}

/// The focus transition of one height (see `focus.rs`), stored before it is returned: a solve
/// warm from `previous` if the block changed the graph, else `previous` carried over.
fn advance_focus(
    store: &Store,
    operator: Arc<kernels::FocusOperator>,
    changed: bool,
    previous: &Focus,
    height: u64,
) -> Result<Focus> {
    let focus = if changed {
        let start = std::time::Instant::now();
        let solution = operator.solve(Some(&previous.pi));
        Focus::solved(solution, height, start.elapsed().as_micros() as u64, operator)
    } else {
        Focus::carried(previous, height)
    };
    let chunks = crate::focus::history_chunks(height, &previous.pi, &focus.pi);
    store.put_focus(&focus.summary, &chunks)?;
    Ok(focus)
}

impl Drop for Node {
    /// Stops admission after the submissions already queued are answered.
    fn drop(&mut self) {
        self.admission.take();
        if let Some(thread) = self.admission_thread.take() {
            let _ = thread.join();
        }
    }
}

/// Admission: takes every queued submission, checks nonce and quota in arrival order, writes
/// all admitted ones with one synced write, then answers each. Holding the lock across the
/// write keeps the in-memory mempool identical to the durable one.
fn admission_loop(shared: &Shared, queue: &mpsc::Receiver<(VerifiedTx, Reply)>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP_COMMIT {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let mut inner = shared.lock();
        let Inner { state, mempool, .. } = &mut *inner;
        let mut admitted = Vec::new();
        let mut answers = Vec::with_capacity(group.len());
        for (tx, reply) in group {
            let answer = mempool.check(state, &tx).map(|()| {
                let receipt = Receipt { cid: tx.cid, duplicates: mempool.duplicates(state, &tx) };
                let seq = mempool.next_seq();
                let tx = Arc::new(tx);
                mempool.insert(seq, Arc::clone(&tx));
                admitted.push((seq, tx));
                receipt
            });
            answers.push((reply, answer));
        }
        let entries: Vec<(u64, &SignedTx)> = admitted.iter().map(|(seq, tx)| (*seq, &tx.signed)).collect();
        if let Err(e) = (!entries.is_empty()).then(|| shared.store.append_mempool(&entries)).transpose() {
            tracing::error!(error = %e, "mempool write failed; rejecting the group");
            let seqs: Vec<u64> = admitted.iter().map(|(seq, _)| *seq).collect();
            mempool.remove(&seqs);
            for (reply, answer) in answers {
                let _ = reply.send(answer.and(Err(EngineError::StorageFailed(e.to_string()))));
            }
            continue;
        }
        drop(inner);
        for (reply, answer) in answers {
            let _ = reply.send(answer);
        }
    }
}
