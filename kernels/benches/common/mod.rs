//! What the benches share: the graph as one neuron's links, and timing.

use std::time::{Duration, Instant};

use kernels::LinkGraph;

/// The links of `edges` as one neuron's (neuron 0) in a link graph over `n` particles, and that
/// neuron's link weight (stake 1) for the graph's link count: a chain whose every link one
/// neuron made, so a block changes that neuron's weight but no scaled weight (`w/max = 1`).
pub(crate) fn one_neuron(n: usize, edges: &[(u32, u32, f64)]) -> (LinkGraph, Vec<f64>) {
    let graph = LinkGraph::from_links(n as u32, edges.iter().map(|&(from, to, _)| (from, to, 0)));
    let weights = vec![1.0 / graph.link_count() as f64];
    (graph, weights)
}

/// The shortest of `runs` timed calls of `f`, and the last call's result.
pub(crate) fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        let out = f();
        best = best.min(start.elapsed());
        last = Some(out);
    }
    (best, last.expect("runs > 0"))
}

/// The median of `times` (sorted in place).
pub(crate) fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}
