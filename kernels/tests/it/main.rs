//! Focus against its definition: dense oracles (faer), thread-count determinism, push paths.

mod backend;
#[cfg(feature = "cuda")]
mod cuda;
mod dense;
mod determinism;
mod push;
mod updates;

use kernels::{FocusOperator, FocusParams};

/// A small seeded generator, so graphs are reproducible without a dependency.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random weighted digraph on `n` nodes with `m` edges (some nodes dangling or isolated).
pub(crate) fn random_edges(seed: u64, n: usize, m: usize) -> Vec<(u32, u32, f64)> {
    let mut rng = Rng(seed | 1);
    (0..m)
        .map(|_| {
            let from = rng.below(n as u64) as u32;
            // Skew targets toward low ids so hubs exist.
            let to = (rng.below(n as u64) * rng.below(n as u64) / n as u64) as u32;
            (from, to, 1.0 + rng.below(5) as f64)
        })
        .collect()
}

pub(crate) fn precise() -> FocusParams {
    FocusParams { epsilon: 1e-14, ..FocusParams::default() }
}

pub(crate) fn l1(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}

pub(crate) fn operator(edges: &[(u32, u32, f64)], n: usize, params: FocusParams) -> FocusOperator {
    FocusOperator::from_edges(n, edges, params).unwrap()
}
