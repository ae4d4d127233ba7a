//! The focus lifecycle of a node: load the tip's focus at start-up, advance it after each
//! block, and persist every height's vector in the history (see `crate::focus`).

use std::sync::{Arc, OnceLock};

use kernels::{Device, FocusOperator, FocusSolution};

use crate::{
    block::BlockHeader,
    error::{EngineError, Result},
    focus::{Focus, FocusTransfer, committed, focus_at, history_chunks},
    ids::Height,
    merkle::Hash,
    records::BlockRecord,
    state::{ChainState, OperatorUpdate},
    store::FullStore,
    views::{BlockSummary, LinkView},
};

/// The focus of the tip after start-up, with whether it changed at the tip (so a block must
/// still commit it): read from the history, or (after a crash between a block and its focus)
/// recomputed from the previous height's stored focus, bit for bit.
pub(super) fn load(store: &dyn FullStore, device: &Device, state: &ChainState) -> Result<(Focus, bool)> {
    let tip = state.tip().0.height;
    let tip_block = store.block(Height(tip))?.ok_or_else(|| EngineError::Corruption("tip block missing".into()))?;
    let changed = tip_block.link_count > 0;
    let operator = Arc::new(state.focus_operator()?);
    let focus = match stored(store, tip, &operator)? {
        Some(focus) => focus,
        None => {
            let previous = match tip.checked_sub(1) {
                None => Focus::empty(0, Arc::clone(&operator)),
                Some(parent) => {
                    let before = if changed {
                        Arc::new(operator_before(store, state, &tip_block)?)
                    } else {
                        Arc::clone(&operator)
                    };
                    stored(store, parent, &before)?.ok_or_else(|| {
                        EngineError::Corruption(format!("the focus of heights {parent} and {tip} are both missing"))
                    })?
                }
            };
            advance(store, device, operator, changed, &previous, tip)?
        }
    };
    Ok((Focus { karma: Arc::new(state.karma(&focus.pi)), ..focus }, changed))
}

/// The operator of the state before the tip block, rebuilt from the stored links.
fn operator_before(store: &dyn FullStore, state: &ChainState, tip: &BlockRecord) -> Result<FocusOperator> {
    let mut earlier = Vec::with_capacity(tip.first_link.0 as usize);
    store.for_each_link(&mut |idx, link| {
        if idx.0 < tip.first_link.0 {
            earlier.push((link.from.0, link.to.0, link.neuron.0));
        }
    })?;
    state.focus_operator_before_tip(&earlier, tip.first_particle.0)
}

/// How the operator changes with a block.
pub(super) enum OperatorChange {
    /// The block's links, applied to the previous focus's operator.
    Update(OperatorUpdate),
    /// Built afresh from the state (the previous focus's operator is not the tip's).
    Rebuilt(Arc<FocusOperator>),
}

/// The operator after a block: `previous` (the operator before it) updated in place by the
/// block's change — on a copy, since queries still read `previous` until the new focus is
/// published — or `previous` itself for a block without links.
pub(super) fn operator_after(
    previous: &Arc<FocusOperator>,
    change: Option<OperatorChange>,
) -> Result<Arc<FocusOperator>> {
    match change {
        None => Ok(Arc::clone(previous)),
        Some(OperatorChange::Rebuilt(operator)) => Ok(operator),
        Some(OperatorChange::Update(update)) => {
            let start = std::time::Instant::now();
            let mut next = FocusOperator::clone(previous);
            next.apply_links(update.particles, &update.links, &update.weights)?;
            let micros = start.elapsed().as_micros() as u64;
            tracing::debug!(links = update.links.len(), micros, "focus operator updated");
            Ok(Arc::new(next))
        }
    }
}

/// The stored focus of `height`, if any, with `operator` for queries.
fn stored(store: &dyn FullStore, height: u64, operator: &Arc<FocusOperator>) -> Result<Option<Focus>> {
    let Some(summary) = store.focus_summary(Height(height))? else { return Ok(None) };
    let pi = focus_at(store.as_reader(), Height(height))?
        .ok_or_else(|| EngineError::Corruption(format!("the focus of height {height} has a summary but no vector")))?;
    let solution = FocusSolution {
        pi,
        iterations: summary.iterations as usize,
        bound: summary.bound,
        converged: true,
        syntropy: summary.syntropy,
    };
    // The stored root is the vector's (the store wrote both in one batch): no need to hash it.
    let stored = Focus::rooted(solution, summary.root, height, summary.solve_micros, Arc::clone(operator));
    Ok(Some(Focus { summary, ..stored }))
}

/// What subscribers hear of a committed block, kept until its focus is published.
pub(super) struct CommittedBlock {
    pub(super) block: BlockSummary,
    pub(super) header: BlockHeader,
    pub(super) links: Vec<LinkView>,
}

/// A committed tip whose focus was not solved at its commit: sync brought, with the block, the
/// focus a peer committed after it. The certified header of the next height settles it — the
/// peer's vector is taken when that header commits its root, else the node solves.
pub(crate) struct DeferredFocus {
    pub(super) operator: Arc<FocusOperator>,
    iterations: u32,
    bound: f64,
    /// The peer's vector and its root, hashed on the global pool from the commit on, while the
    /// next block arrives and its transactions are checked (the root is what that block's
    /// header must commit for the vector to be taken).
    vector: Arc<OnceLock<(Vec<f64>, Hash)>>,
    pub(super) committed: CommittedBlock,
}

/// Whether a peer's `transfer` can be the focus of the state `operator` describes at `height`
/// (its particle count); a transfer that cannot is logged and the focus solved.
pub(super) fn fits(transfer: &FocusTransfer, operator: &FocusOperator, height: u64) -> bool {
    let fits = transfer.leaves.len() == operator.len();
    if !fits {
        tracing::warn!(
            height,
            sent = transfer.leaves.len(),
            particles = operator.len(),
            "a peer's focus has another particle count than the state; solving it"
        );
    }
    fits
}

impl DeferredFocus {
    /// The tip (`committed`) with `operator` of its state and a peer's `transfer` of its focus.
    pub(super) fn new(operator: Arc<FocusOperator>, transfer: FocusTransfer, committed: CommittedBlock) -> Self {
        let FocusTransfer { iterations, bound, .. } = transfer;
        let vector = Arc::new(OnceLock::new());
        let hashed = Arc::clone(&vector);
        rayon::spawn(move || {
            let _ = hashed.set(transfer.vector());
        });
        DeferredFocus { operator, iterations, bound, vector, committed }
    }

    /// A handle on the vector and its root, to wait on without holding the node's lock.
    pub(crate) fn vector(&self) -> Arc<OnceLock<(Vec<f64>, Hash)>> {
        Arc::clone(&self.vector)
    }

    /// The root of the peer's vector (waits for its hashing).
    pub(super) fn root(&self) -> Hash {
        self.vector.wait().1
    }

    /// The peer's vector as the focus of `height`, stored like a solved one (its root was
    /// checked by the caller against a certified header).
    pub(super) fn adopt(self, store: &dyn FullStore, previous: &Focus, height: u64) -> Result<(Focus, CommittedBlock)> {
        self.vector.wait();
        let (pi, root) = match Arc::try_unwrap(self.vector) {
            Ok(vector) => vector.into_inner().expect("waited for above"),
            Err(shared) => shared.wait().clone(),
        };
        let syntropy = kernels::syntropy(&pi);
        let solution =
            FocusSolution { pi, iterations: self.iterations as usize, bound: self.bound, converged: true, syntropy };
        // No solve ran here: the time is zero, as for a carried focus.
        let focus = Focus::rooted(solution, root, height, 0, self.operator);
        store.put_focus(&focus.summary, &history_chunks(height, &previous.pi, &focus.pi))?;
        Ok((focus, self.committed))
    }
}

/// The focus transition of one height, stored before it is returned (see `crate::focus`): if
/// the block changed the graph, the solver on `device` from the incremental push of `previous`
/// (or from `previous` where the push declines), else `previous` carried over. A device that
/// fails hands this solve and every later one to the CPU, which computes the same bits.
pub(super) fn advance(
    store: &dyn FullStore,
    device: &Device,
    operator: Arc<FocusOperator>,
    changed: bool,
    previous: &Focus,
    height: u64,
) -> Result<Focus> {
    let focus = if changed {
        let start = std::time::Instant::now();
        let epsilon = operator.params().epsilon;
        let budget = operator.incremental_budget();
        let pushed = operator.incremental_focus(&previous.operator, &previous.pi, epsilon, budget);
        let from = pushed.as_ref().map_or(previous.pi.as_slice(), |pushed| pushed.vector.as_slice());
        let (solution, failure) = device.solve(&operator, Some(from));
        let solution = committed(solution);
        if let Some(error) = failure {
            tracing::error!(height, device = %device.describe(), %error, "the focus device failed; the CPU solves from now on");
        }
        tracing::debug!(height, pushed = pushed.map(|p| p.pushes), iterations = solution.iterations, "focus");
        Focus::solved(solution, height, start.elapsed().as_micros() as u64, operator)
    } else {
        Focus::carried(previous, height)
    };
    let chunks = history_chunks(height, &previous.pi, &focus.pi);
    store.put_focus(&focus.summary, &chunks)?;
    Ok(focus)
}
