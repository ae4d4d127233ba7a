//! Focus per block: the tri-kernel solve on the committed graph, its commitment
//! (`focus_root`), inclusion proofs of one particle's leaf, and the exact history.
//!
//! **Timing.** Block `h + 1`'s header commits to the focus of the state after block `h`
//! (as CometBFT's app hash lags one block): the solve runs after a block commits and is never in
//! the way of agreeing on the next one. So `focusProof(p, h)` verifies against header `h + 1`.
//!
//! **The transition.** `π*_h` is a pure function of the graphs after blocks `h − 1` and `h` and
//! of `π*_{h−1}` (which every node has): a block that adds no links carries `π*_{h−1}` over
//! unchanged; otherwise the incremental push (spec/focus.md §6) moves `π*_{h−1}` by what the
//! block changed, and the solver runs from its result until its own stopping rule certifies ε
//! (the committed focus always carries the solver's bound). Where the push declines — a change
//! that is not local, or one it would take too long to push — the solver runs warm from
//! `π*_{h−1}` itself. Both the decision and the push are deterministic. After a crash the node
//! rebuilds the graph of `h − 1` and recomputes the missing tip focus from the stored
//! `π*_{h−1}`, bit for bit.
//!
//! **Committed values.** The vector a height commits, stores and warm-starts the next solve from
//! is the solver's result with each value replaced by the one its leaf stands for,
//! `round(π·2^60)/2^60` ([`committed`]). So the root certifies every bit the next transition
//! reads, and a node catching up can take a height's focus from a peer, checked against the
//! certified header after it, instead of solving it ([`FocusTransfer`]): it continues from the
//! same bits as the nodes that solved.
//!
//! **History.** Every `CHECKPOINT_INTERVAL` heights the full vector is stored; in between, per
//! chunk of [`FOCUS_CHUNK`] particles, the XOR of each value's bits with the previous height's
//! (LEB128 varints; unchanged chunks are not stored). Any `π*_h[p]` is exact: the checkpoint's
//! chunk XOR at most `CHECKPOINT_INTERVAL − 1` deltas.

use std::sync::Arc;

use kernels::{FocusOperator, FocusSolution};
use rayon::prelude::*;

pub use crate::records::FocusSummary;
use crate::{
    error::{EngineError, Result},
    ids::{Height, ParticleIdx},
    merkle::{self, Hash, InclusionProof},
    store::FocusReader,
};

/// Heights between full focus vectors in the history.
pub const CHECKPOINT_INTERVAL: u64 = 32;
/// Particles per stored history chunk.
pub const FOCUS_CHUNK: usize = 4096;
/// Focus leaves are `round(π·2^60)` (spec/focus.md §4).
const LEAF_SCALE: f64 = (1u64 << 60) as f64;

/// The committed leaf value of a focus entry.
pub fn quantise(focus: f64) -> u64 {
    (focus * LEAF_SCALE).round() as u64
}

/// The value a leaf stands for: `leaf / 2^60`, exact (a power-of-two scale). For a value
/// [`committed`] made, `dequantise(quantise(x)) == x` bit for bit.
pub(crate) fn dequantise(leaf: u64) -> f64 {
    leaf as f64 / LEAF_SCALE
}

/// A solver's result as a height commits it: each value replaced by the one its leaf stands for
/// (the solver's bound and iterations kept: rounding moves the vector by at most `n·2^-61` in
/// L1, far below any ε), and the syntropy of the values committed.
pub(crate) fn committed(solution: FocusSolution) -> FocusSolution {
    let pi: Vec<f64> = solution.pi.into_iter().map(|x| dequantise(quantise(x))).collect();
    FocusSolution { syntropy: kernels::syntropy(&pi), pi, ..solution }
}

/// The leaf bytes: the quantised value, little-endian.
pub fn focus_leaf(focus: f64) -> [u8; 8] {
    quantise(focus).to_le_bytes()
}

fn leaf_hashes(pi: &[f64]) -> Vec<Hash> {
    pi.par_iter().map(|&x| merkle::leaf_hash(&focus_leaf(x))).collect()
}

/// `focus_root`: the Merkle root over the quantised leaves in particle-index order.
pub fn focus_root(pi: &[f64]) -> Hash {
    merkle::root_of_hashes(&leaf_hashes(pi))
}

/// The inclusion proof of particle `index`'s leaf.
pub fn focus_proof(pi: &[f64], index: ParticleIdx) -> Option<InclusionProof> {
    ((index.0 as usize) < pi.len()).then(|| InclusionProof::new(&leaf_hashes(pi), index.0 as usize))
}

/// A height's committed focus as one node hands it to another that is catching up: the leaves,
/// and the solver's report of how it got there. The receiver checks the leaves' root against the
/// certified header of the next height before it stores them; `iterations` and `bound` are the
/// solving node's word (every honest solver reports the same ones), not checked.
#[derive(Clone, Debug, PartialEq)]
pub struct FocusTransfer {
    /// `quantise(π_i)` in particle-index order.
    pub leaves: Vec<u64>,
    /// Solver iterations that reached the vector.
    pub iterations: u32,
    /// The solver's a-posteriori bound.
    pub bound: f64,
}

impl FocusTransfer {
    /// The transfer of a committed focus.
    pub(crate) fn of(pi: &[f64], summary: &FocusSummary) -> Self {
        FocusTransfer {
            leaves: pi.iter().map(|&x| quantise(x)).collect(),
            iterations: summary.iterations,
            bound: summary.bound,
        }
    }

    /// The vector the leaves stand for, with its root.
    pub(crate) fn vector(&self) -> (Vec<f64>, Hash) {
        let pi: Vec<f64> = self.leaves.iter().map(|&leaf| dequantise(leaf)).collect();
        let root = focus_root(&pi);
        (pi, root)
    }
}

/// The focus of one height, held in memory for the tip with what queries need beside it.
#[derive(Clone, Debug)]
pub struct Focus {
    /// The vector.
    pub pi: Arc<Vec<f64>>,
    /// Its summary.
    pub summary: FocusSummary,
    /// Particle indices by descending focus (ties: lower index first).
    pub order: Arc<Vec<u32>>,
    /// Each particle's 1-based position in `order`.
    pub rank: Arc<Vec<u32>>,
    /// Karma per neuron index, normalised to sum 1 (spec/focus.md §7).
    pub karma: Arc<Vec<f64>>,
    /// The operator this focus is the fixed point of; conditional focus queries run on it,
    /// and the incremental update after the next block starts from its step at `pi`.
    pub operator: Arc<FocusOperator>,
}

impl Focus {
    /// The graph as the compiler reads it: this focus's operator, vector and order.
    pub fn graph(&self) -> compiler::Graph<'_> {
        compiler::Graph { operator: &self.operator, focus: &self.pi, order: &self.order }
    }

    /// The focus of a graph without particles.
    pub fn empty(height: u64, operator: Arc<FocusOperator>) -> Self {
        let solution = FocusSolution { pi: Vec::new(), iterations: 0, bound: 0.0, converged: true, syntropy: 0.0 };
        Focus::solved(solution, height, 0, operator)
    }

    /// `previous` carried to `height` unchanged (a block without new links).
    pub fn carried(previous: &Focus, height: u64) -> Self {
        let summary = FocusSummary { height, iterations: 0, solve_micros: 0, ..previous.summary.clone() };
        Focus { summary, ..previous.clone() }
    }

    /// A solver result at `height` (karma is filled in by the caller, which holds the graph).
    pub fn solved(solution: FocusSolution, height: u64, solve_micros: u64, operator: Arc<FocusOperator>) -> Self {
        let root = focus_root(&solution.pi);
        Focus::rooted(solution, root, height, solve_micros, operator)
    }

    /// [`Focus::solved`] where the caller has the vector's root already.
    pub(crate) fn rooted(
        solution: FocusSolution,
        root: Hash,
        height: u64,
        solve_micros: u64,
        operator: Arc<FocusOperator>,
    ) -> Self {
        let summary = FocusSummary {
            height,
            particles: solution.pi.len() as u32,
            iterations: solution.iterations as u32,
            bound: solution.bound,
            syntropy: solution.syntropy,
            root,
            solve_micros,
        };
        let pi = solution.pi;
        let order = compiler::conditional::focus_order(&pi);
        let mut rank = vec![0u32; pi.len()];
        for (position, &i) in order.iter().enumerate() {
            rank[i as usize] = position as u32 + 1;
        }
        Focus {
            pi: Arc::new(pi),
            summary,
            order: Arc::new(order),
            rank: Arc::new(rank),
            karma: Arc::new(Vec::new()),
            operator,
        }
    }
}

fn is_checkpoint(height: u64) -> bool {
    height.is_multiple_of(CHECKPOINT_INTERVAL)
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read_varints(bytes: &[u8]) -> Result<Vec<u64>> {
    let mut values = Vec::new();
    let (mut value, mut shift) = (0u64, 0u32);
    for &byte in bytes {
        if shift > 63 {
            return Err(EngineError::Corruption("focus history varint overflows".into()));
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            values.push(value);
            value = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    if shift != 0 {
        return Err(EngineError::Corruption("focus history chunk ends inside a varint".into()));
    }
    Ok(values)
}

/// The history entries of `current` at `height`: full chunks at a checkpoint, else the chunks
/// that differ from `previous` as XOR deltas.
pub(crate) fn history_chunks(height: u64, previous: &[f64], current: &[f64]) -> Vec<(u32, Vec<u8>)> {
    let base = |i: usize| if is_checkpoint(height) { 0 } else { previous.get(i).map_or(0, |x| x.to_bits()) };
    current
        .chunks(FOCUS_CHUNK)
        .enumerate()
        .filter_map(|(chunk, values)| {
            let first = chunk * FOCUS_CHUNK;
            let xors: Vec<u64> = values.iter().enumerate().map(|(k, x)| x.to_bits() ^ base(first + k)).collect();
            if !is_checkpoint(height) && xors.iter().all(|&x| x == 0) {
                return None;
            }
            let mut bytes = Vec::with_capacity(values.len() * 3);
            xors.into_iter().for_each(|x| push_varint(&mut bytes, x));
            Some((chunk as u32, bytes))
        })
        .collect()
}

/// Reads the exact focus vector at `height` from the history.
pub fn focus_at(store: &(impl FocusReader + ?Sized), height: Height) -> Result<Option<Vec<f64>>> {
    let Some(summary) = store.focus_summary(height)? else { return Ok(None) };
    let len = summary.particles as usize;
    let mut bits = vec![0u64; len];
    let chunks = len.div_ceil(FOCUS_CHUNK) as u32;
    for h in height.0 - height.0 % CHECKPOINT_INTERVAL..=height.0 {
        for chunk in 0..chunks {
            if let Some(bytes) = store.focus_chunk(Height(h), chunk)? {
                apply_chunk(&mut bits, chunk, &bytes)?;
            }
        }
    }
    Ok(Some(bits.into_iter().map(f64::from_bits).collect()))
}

/// Reads one particle's exact focus at `height` (`None`: no such height or particle then).
pub fn particle_focus_at(
    store: &(impl FocusReader + ?Sized),
    height: Height,
    particle: ParticleIdx,
) -> Result<Option<f64>> {
    let Some(summary) = store.focus_summary(height)? else { return Ok(None) };
    if particle.0 >= summary.particles {
        return Ok(None);
    }
    let chunk = particle.0 / FOCUS_CHUNK as u32;
    let offset = particle.0 as usize % FOCUS_CHUNK;
    let mut bits = 0u64;
    for h in height.0 - height.0 % CHECKPOINT_INTERVAL..=height.0 {
        if let Some(bytes) = store.focus_chunk(Height(h), chunk)? {
            bits ^= read_varints(&bytes)?.get(offset).copied().unwrap_or(0);
        }
    }
    Ok(Some(f64::from_bits(bits)))
}

fn apply_chunk(bits: &mut [u64], chunk: u32, bytes: &[u8]) -> Result<()> {
    let first = chunk as usize * FOCUS_CHUNK;
    for (k, x) in read_varints(bytes)?.into_iter().enumerate() {
        let slot = bits
            .get_mut(first + k)
            .ok_or_else(|| EngineError::Corruption("focus chunk longer than the vector".into()))?;
        *slot ^= x;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let mut bytes = Vec::new();
        let values = [0, 1, 127, 128, 300, u64::MAX, 1 << 52];
        values.iter().for_each(|&v| push_varint(&mut bytes, v));
        assert_eq!(read_varints(&bytes).unwrap(), values);
        assert!(read_varints(&[0x80]).is_err());
    }

    #[test]
    fn leaves_quantise_to_2_pow_60() {
        assert_eq!(quantise(1.0), 1 << 60);
        assert_eq!(quantise(0.5), 1 << 59);
        assert_eq!(focus_leaf(0.25), (1u64 << 58).to_le_bytes());
        let pi = [0.5, 0.25, 0.25];
        let proof = focus_proof(&pi, ParticleIdx(1)).unwrap();
        assert!(proof.verify(&focus_leaf(0.25), &focus_root(&pi)));
        assert!(!proof.verify(&focus_leaf(0.5), &focus_root(&pi)));
        assert!(focus_proof(&pi, ParticleIdx(3)).is_none());
    }

    #[test]
    fn committed_values_are_exactly_what_their_leaves_stand_for() {
        let solved = [0.5, 1.0 / 3.0, 1e-9, 7.3e-300, 0.0, 0.999_999_999_999, 2f64.powi(-8) * 1.1];
        let solution =
            FocusSolution { pi: solved.to_vec(), iterations: 3, bound: 1e-9, converged: true, syntropy: 0.0 };
        let committed = committed(solution);
        assert_eq!(committed.iterations, 3);
        assert_eq!(committed.syntropy, kernels::syntropy(&committed.pi));
        for (&x, &c) in solved.iter().zip(&committed.pi) {
            assert_eq!(quantise(c), quantise(x), "the leaf of {x} does not move");
            assert_eq!(dequantise(quantise(c)).to_bits(), c.to_bits(), "{c} is its leaf's value");
            assert!((c - x).abs() <= 0.5 / LEAF_SCALE);
        }
        // Values of 2^-8 and above are on the grid already.
        assert_eq!(committed.pi[0], 0.5);
        assert_eq!(committed.pi[6], solved[6]);
        // A transfer carries the root of the committed vector.
        let summary = FocusSummary {
            height: 1,
            particles: 7,
            iterations: 3,
            bound: 1e-9,
            syntropy: 0.0,
            root: focus_root(&committed.pi),
            solve_micros: 1,
        };
        let (pi, root) = FocusTransfer::of(&committed.pi, &summary).vector();
        assert_eq!(root, summary.root);
        assert!(pi.iter().zip(&committed.pi).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}
