//! What the benches share: their graphs (R-MAT's size and seeds, an edge-list file), the graph
//! as one neuron's links, and timing.

use std::time::{Duration, Instant};

use kernels::{LinkGraph, edge_list::EdgeList};

/// The seed of the R-MAT graph (the PageRank baselines' too).
pub(crate) const RMAT_SEED: u64 = 0x5eed_cafe_f00d_1234;

/// The seed of the R-MAT blocks added to it.
pub(crate) const BLOCK_SEED: u64 = 0xdead_beef;

/// R-MAT's scale and edge count: 2^20 particles and 10M edges unless `RMAT_SCALE` and
/// `RMAT_EDGES` say otherwise.
pub(crate) fn rmat_size() -> (u32, usize) {
    let scale = std::env::var("RMAT_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let edges = std::env::var("RMAT_EDGES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    (scale, edges)
}

/// The edge list in the file at `path` (`cybergraph edges` writes one); a line it refuses
/// stops the bench with the file and line.
pub(crate) fn read_edge_list(path: &str) -> EdgeList {
    std::fs::File::open(path)
        .and_then(|file| EdgeList::read(std::io::BufReader::new(file)))
        .unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

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
