//! What the node's threads and the query API share: the store, and the chain state, mempool and
//! tip focus behind one lock.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::{
    focus::Focus,
    mempool::Mempool,
    model::AdoptedModel,
    state::ChainState,
    store::{FullStore, MemoryBudget},
    tx::TxLimits,
    views::BlockEvent,
};

/// Node policy that is not consensus.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Largest content accepted by `Node::post_content`.
    pub max_content_bytes: usize,
    /// The database's memory beyond mapped files.
    pub store_memory: MemoryBudget,
    /// Where the per-block focus solves run (every device gives the same bits).
    pub device: kernels::Device,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            max_content_bytes: 256 * 1024,
            store_memory: MemoryBudget::default(),
            device: kernels::Device::Cpu,
        }
    }
}

/// The state that moves with every block and admission.
pub(crate) struct Inner {
    pub(crate) state: ChainState,
    pub(crate) mempool: Mempool,
    /// The focus of the tip's state — of the height before it while `deferred` holds the tip's.
    pub(crate) focus: Focus,
    /// The tip's focus as a peer sent it, while it awaits the next certified header.
    pub(crate) deferred: Option<crate::node::DeferredFocus>,
    /// Whether the tip's focus differs from the one its header commits to, so a block is due
    /// even with an empty mempool (it carries the new `focus_root`).
    pub(crate) focus_pending: bool,
    /// The compiled model in force; the next header records its CID.
    pub(crate) model: Option<Arc<AdoptedModel>>,
    /// Whether the model changed since the tip's header, so a block is due to record it.
    pub(crate) model_pending: bool,
    /// Whether the tip is a block sync brought ([`crate::Node::catching_up`]).
    pub(crate) tip_synced: bool,
}

pub(crate) type Listener = Box<dyn Fn(&BlockEvent) + Send + Sync>;

/// Starts a block's commit for whoever schedules the node's work; what it returns is held until
/// the block's focus is published.
pub(crate) type CommitTurn = Box<dyn Fn() -> Box<dyn Send> + Send + Sync>;

/// One node's shared state. **Invariant:** the in-memory mempool equals the durable one: both
/// change under `inner`, the durable side first.
pub(crate) struct Shared {
    pub(crate) store: Box<dyn FullStore>,
    pub(crate) inner: Mutex<Inner>,
    /// Serialises block commits (the focus solve runs outside `inner`).
    pub(crate) committing: Mutex<()>,
    /// Called after every block.
    pub(crate) listeners: Mutex<Vec<Listener>>,
    /// Held over every commit, if set ([`crate::Node::take_commit_turns`]).
    pub(crate) commit_turn: std::sync::OnceLock<CommitTurn>,
    /// Whether a thread is indexing the model in force ([`crate::model::index_in_background`]).
    pub(crate) indexing: std::sync::atomic::AtomicBool,
    pub(crate) chain_id: String,
    pub(crate) limits: TxLimits,
    pub(crate) config: NodeConfig,
    /// Push scratch for `related`, kept across blocks (a scratch is replaced only when the
    /// graph outgrows it).
    pub(crate) related_scratch: compiler::ScratchPool,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves nothing half-applied (state moves only after
        // the store commits), so the data behind a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs `f` on the committed state.
    pub(crate) fn with_state<T>(&self, f: impl FnOnce(&ChainState) -> T) -> T {
        f(&self.lock().state)
    }

    /// The focus of the tip's state (of the height before, while the tip's awaits a peer's).
    pub(crate) fn focus(&self) -> Focus {
        self.lock().focus.clone()
    }

    /// The tip's focus and the model in force, read together.
    pub(crate) fn focus_and_model(&self) -> (Focus, Option<Arc<AdoptedModel>>) {
        let inner = self.lock();
        (inner.focus.clone(), inner.model.clone())
    }
}
