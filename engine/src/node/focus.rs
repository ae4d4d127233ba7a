//! The focus lifecycle of a node: load the tip's focus at start-up, advance it after each
//! block, and persist every height's vector in the history (see `crate::focus`).

use std::sync::Arc;

use kernels::{FocusOperator, FocusSolution};

use crate::{
    error::{EngineError, Result},
    focus::{Focus, focus_at, history_chunks},
    ids::Height,
    state::ChainState,
    store::FullStore,
};

/// The focus of the tip after start-up, with whether it changed at the tip (so a block must
/// still commit it): read from the history, or (after a crash between a block and its focus)
/// recomputed from the previous height's stored focus, bit for bit.
pub(super) fn load(store: &dyn FullStore, state: &ChainState) -> Result<(Focus, bool)> {
    let tip = state.tip().0.height;
    let tip_block = store.block(Height(tip))?.ok_or_else(|| EngineError::Corruption("tip block missing".into()))?;
    let changed = tip_block.link_count > 0;
    let operator = Arc::new(state.focus_operator()?);
    let focus = match stored(store, tip, &operator)? {
        Some(focus) => focus,
        None => {
            let previous = match tip.checked_sub(1) {
                None => Focus::empty(0, Arc::clone(&operator)),
                Some(parent) => stored(store, parent, &operator)?.ok_or_else(|| {
                    EngineError::Corruption(format!("the focus of heights {parent} and {tip} are both missing"))
                })?,
            };
            advance(store, operator, changed, &previous, tip)?
        }
    };
    Ok((Focus { karma: Arc::new(state.karma(&focus.pi)), ..focus }, changed))
}

/// The stored focus of `height`, if any, with `operator` for queries.
fn stored(store: &dyn FullStore, height: u64, operator: &Arc<FocusOperator>) -> Result<Option<Focus>> {
    let Some(summary) = store.focus_summary(Height(height))? else { return Ok(None) };
    let pi = focus_at(store.as_reader(), Height(height))?.unwrap_or_default();
    let solution = FocusSolution {
        pi,
        iterations: summary.iterations as usize,
        bound: summary.bound,
        converged: true,
        syntropy: summary.syntropy,
    };
    let solved = Focus::solved(solution, height, summary.solve_micros, Arc::clone(operator));
    Ok(Some(Focus { summary, ..solved }))
}

/// The focus transition of one height, stored before it is returned: a solve warm from
/// `previous` if the block changed the graph, else `previous` carried over.
pub(super) fn advance(
    store: &dyn FullStore,
    operator: Arc<FocusOperator>,
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
    let chunks = history_chunks(height, &previous.pi, &focus.pi);
    store.put_focus(&focus.summary, &chunks)?;
    Ok(focus)
}
