//! The conditional focus `π*(·|s)` by local push, ranked without a dense vector: the exact path
//! of `related`, the training teacher and the hybrid's push head (spec/focus.md §5).

use std::sync::Mutex;

use kernels::{FocusOperator, LocalPush, PushLimits, PushScratch};

/// The graph a model is compiled from or answers on: its focus operator and focus `π*`.
#[derive(Debug)]
pub struct Graph<'a> {
    /// The operator `M` of the committed graph.
    pub operator: &'a FocusOperator,
    /// Its fixed point `π*`.
    pub focus: &'a [f64],
    /// Particle indices by descending `π*` (ties: lower index first).
    pub order: &'a [u32],
}

/// Push limits of the exact path. On WordNet + FOLDOC a per-particle residual of `1e-5` gave
/// tie-aware recall@10 0.982 against the ε = 1e-8 conditional with p99 43 ms (`1e-4`: 0.952,
/// 6 ms; `1e-6`: 0.997, 225 ms; ARCHITECTURE.md has the sweep). The budget caps a hub's query;
/// the answer's error bound says what was left.
pub const EXACT: PushLimits = PushLimits { threshold: 1e-5, max_edge_reads: 4_000_000, longest_row: usize::MAX };

/// Push limits of the hybrid's head: the first hops, exactly; the model answers for the rest,
/// hubs included. A hub's row is what makes a push expensive (on the 3M-particle hub graph the
/// head read two rows of 10⁵ entries per hub query, 8 ms), and the model exists to answer for it:
/// the head leaves rows longer than 4,096 entries unpushed. WordNet + FOLDOC's longest row has
/// 1,476 entries, so its answers are unchanged.
pub const HEAD: PushLimits = PushLimits { threshold: 2e-4, max_edge_reads: 200_000, longest_row: 4_096 };

/// Particle `i`'s score in the settled part of a push: `estimate_i + push.dangling·π*_i`.
pub fn settled_score(graph: &Graph<'_>, push: &LocalPush, i: u32) -> f64 {
    let estimate = push.estimate.binary_search_by_key(&i, |&(j, _)| j).map_or(0.0, |at| push.estimate[at].1);
    estimate + push.dangling * graph.focus.get(i as usize).copied().unwrap_or(0.0)
}

/// The best `k` particles of `estimate + push.dangling·π*` (the settled part of a push), with
/// their scores, best first (ties: lower index first), skipping `exclude`.
pub fn settled_top(graph: &Graph<'_>, push: &LocalPush, k: usize, exclude: &[u32]) -> Vec<(u32, f64)> {
    let score = |i: u32, settled: f64| settled + push.dangling * graph.focus[i as usize];
    let settled = push.estimate.iter().filter(|(i, _)| !exclude.contains(i)).map(|&(i, x)| (i, score(i, x)));
    // Particles the push never reached score `dangling·π*`: the best of them lead the focus order.
    let reached = |i: &u32| push.estimate.binary_search_by_key(i, |&(j, _)| j).is_ok();
    let unreached =
        graph.order.iter().filter(|i| !exclude.contains(i) && !reached(i)).take(k).map(|&i| (i, score(i, 0.0)));
    top_k(settled.chain(unreached), k)
}

/// The `k` best `(index, score)` pairs, best first, ties by lower index.
pub fn top_k(scored: impl IntoIterator<Item = (u32, f64)>, k: usize) -> Vec<(u32, f64)> {
    let by_score = |a: &(u32, f64), b: &(u32, f64)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let keep_best = |kept: &mut Vec<(u32, f64)>| {
        if kept.len() > k {
            kept.select_nth_unstable_by(k, by_score);
            kept.truncate(k);
        }
    };
    // At most 2k held at once: the order is total, so pruning early keeps the same k.
    let mut kept = Vec::new();
    for entry in scored {
        kept.push(entry);
        if kept.len() > 2 * k.max(1) {
            keep_best(&mut kept);
        }
    }
    keep_best(&mut kept);
    kept.sort_unstable_by(by_score);
    kept
}

/// Push scratch for concurrent queries: taken and returned, allocated on first use by each
/// concurrent caller and replaced when the operator has outgrown it, so a query allocates
/// nothing the size of the graph.
#[derive(Debug, Default)]
pub struct ScratchPool(Mutex<Vec<PushScratch>>);

impl ScratchPool {
    /// Runs `f` with a scratch that fits `operator`.
    pub fn with<T>(&self, operator: &FocusOperator, f: impl FnOnce(&mut PushScratch) -> T) -> T {
        let taken = self.0.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut scratch = taken.filter(|s| s.fits(operator)).unwrap_or_else(|| PushScratch::new(operator));
        let result = f(&mut scratch);
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(scratch);
        result
    }
}

/// Particle indices by descending `focus`, ties by lower index (what [`Graph::order`] holds).
pub fn focus_order(focus: &[f64]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..focus.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| focus[b as usize].total_cmp(&focus[a as usize]).then(a.cmp(&b)));
    order
}
