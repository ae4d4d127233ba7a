//! The tri-kernel focus operator and its fixed-point solver (spec/focus.md §1–§4, §7).

use std::sync::Arc;

use rayon::prelude::*;

use crate::{
    LinkGraph,
    adjacency::{Adjacency, InRows},
    backend::{self, Backend, Cpu, StepScratch},
    csr::Csr,
    error::{KernelError, Result},
    reduce::{normalise, tree_sum_by},
};

/// Prior smoothing `ε_u` (spec/focus.md §1): keeps `u > 0` on isolated particles.
const PRIOR_FLOOR: f64 = 1e-9;

/// Parameters of the focus computation, with the spec's defaults. (De)serialisable so that a
/// genesis file can set them; every field is optional there.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FocusParams {
    /// Weight of diffusion `λ_d`.
    pub lambda_d: f64,
    /// Weight of the screened springs `λ_s`.
    pub lambda_s: f64,
    /// Weight of the heat kernel `λ_h`.
    pub lambda_h: f64,
    /// Teleport probability `α` (damping is `1 − α`).
    pub alpha: f64,
    /// Screening `μ` of the springs, on weights scaled to `max A = 1`.
    pub mu: f64,
    /// Heat-kernel time `τ`.
    pub tau: f64,
    /// Terms `K` of the truncated Poisson series of the heat kernel.
    pub heat_terms: usize,
    /// Target accuracy `ε` in ℓ1.
    pub epsilon: f64,
}

impl Default for FocusParams {
    fn default() -> Self {
        FocusParams {
            lambda_d: 0.5,
            lambda_s: 0.3,
            lambda_h: 0.2,
            alpha: 0.15,
            mu: 1.0,
            tau: 1.0,
            heat_terms: 6,
            epsilon: 1e-8,
        }
    }
}

impl FocusParams {
    /// PageRank mode: diffusion only (`λ_s = λ_h = 0`).
    pub fn pagerank(alpha: f64, epsilon: f64) -> Self {
        FocusParams { lambda_d: 1.0, lambda_s: 0.0, lambda_h: 0.0, alpha, epsilon, ..Self::default() }
    }

    /// Whether only diffusion runs (`λ_s = λ_h = 0`, as in PageRank mode): the step then pulls
    /// `Aᵀ` alone.
    pub fn diffusion_only(&self) -> bool {
        self.lambda_s == 0.0 && self.lambda_h == 0.0
    }

    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(KernelError::InvalidParams(what));
        let lambdas = [self.lambda_d, self.lambda_s, self.lambda_h];
        if lambdas.iter().any(|l| !l.is_finite() || *l < 0.0) || (lambdas.iter().sum::<f64>() - 1.0).abs() > 1e-12 {
            return bad(format!("λ_d, λ_s, λ_h must be ≥ 0 and sum to 1, got {lambdas:?}"));
        }
        if self.lambda_d <= 0.0 {
            return bad("λ_d must be > 0: the contraction κ = 1 − λ_d·α needs it".into());
        }
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return bad(format!("α must be in (0, 1], got {}", self.alpha));
        }
        if !(self.mu > 0.0 && self.mu.is_finite()) {
            return bad(format!("μ must be > 0, got {}", self.mu));
        }
        if !(self.tau >= 0.0 && self.tau.is_finite()) {
            return bad(format!("τ must be ≥ 0, got {}", self.tau));
        }
        if self.heat_terms > 64 {
            return bad(format!("K must be ≤ 64, got {}", self.heat_terms));
        }
        if !(self.epsilon > 0.0 && self.epsilon < 1.0) {
            return bad(format!("ε must be in (0, 1), got {}", self.epsilon));
        }
        Ok(())
    }

    /// The contraction factor `κ = 1 − λ_d·α`.
    pub fn kappa(&self) -> f64 {
        1.0 - self.lambda_d * self.alpha
    }

    /// The certified step count `T(ε) = ⌈ln(2/ε) / ln(1/κ)⌉` from any start.
    pub fn certified_steps(&self) -> usize {
        ((2.0 / self.epsilon).ln() / (1.0 / self.kappa()).ln()).ceil() as usize
    }

    /// The truncated, renormalised Poisson weights `π_k(τ)`, `k = 0..=K`.
    pub fn heat_weights(&self) -> Vec<f64> {
        let mut terms = Vec::with_capacity(self.heat_terms + 1);
        let mut term = 1.0;
        for k in 0..=self.heat_terms {
            if k > 0 {
                term = term * self.tau / k as f64;
            }
            terms.push(term);
        }
        let total: f64 = terms.iter().sum();
        terms.iter().map(|t| t / total).collect()
    }
}

/// The result of a solve.
#[derive(Clone, Debug)]
pub struct FocusSolution {
    /// The focus vector (sums to 1, every entry positive).
    pub pi: Vec<f64>,
    /// Iterations run.
    pub iterations: usize,
    /// The a-posteriori bound `κ/(1−κ)·‖φ_t − φ_{t−1}‖₁` at the last step.
    pub bound: f64,
    /// Whether the bound reached `ε` (otherwise the certified cap `T(ε)` stopped it, which
    /// also certifies `ε` a priori).
    pub converged: bool,
    /// Syntropy `J = Σ π_i ln(n·π_i)` in nats.
    pub syntropy: f64,
}

/// The composite operator `M = λ_d(1−α)P + λ_s S + λ_h H_τ` of one graph, ready to iterate, and
/// updated in place block by block ([`FocusOperator::apply_links`]).
///
/// Holds the weighted adjacency once ([`Adjacency`]: per particle, every neighbour in either
/// direction with the kind of their pair, whose weights `A[j,i]`, `A[i,j]` and `W[i,j]` are
/// looked up), which serves the pull SpMV of `P` (by target), forward push (by source) and `W`.
#[derive(Clone, Debug)]
pub struct FocusOperator {
    pub(crate) params: FocusParams,
    pub(crate) heat: Vec<f64>,
    pub(crate) adjacency: Adjacency,
    /// `out_p = Σ_q A[p,q]`; 0 marks a dangling particle.
    pub(crate) out: Vec<f64>,
    /// `d = W·1`; 0 marks an isolated particle.
    pub(crate) d: Vec<f64>,
    /// The prior `u` (sums to 1).
    pub(crate) prior: Vec<f64>,
    /// `Σ (d_i + ε_u)`: the prior's normaliser.
    pub(crate) prior_total: f64,
    /// With diffusion only ([`FocusParams::diffusion_only`]): each row's in-links, all the step
    /// reads ([`Adjacency::in_rows`]; rebuilt after every block, so a copy of the operator —
    /// the node copies it per block — shares them instead of copying them). `None` for the
    /// tri-kernel.
    pub(crate) in_rows: Option<Arc<[InRows]>>,
}

/// Refuses a weight that is negative, NaN or infinite.
fn check_weights(neuron_weight: &[f64]) -> Result<()> {
    match neuron_weight.iter().enumerate().find(|(_, w)| !(w.is_finite() && **w >= 0.0)) {
        Some((i, w)) => Err(KernelError::InvalidWeight(format!("neuron {i} has weight {w}"))),
        None => Ok(()),
    }
}

impl FocusOperator {
    /// The operator of a link graph; `neuron_weight[ν] = s(ν)·k(ν)/links(ν)` is each of
    /// neuron `ν`'s links' weight. Parallel links of different neurons add, in neuron order.
    pub fn from_link_graph(graph: &LinkGraph, neuron_weight: &[f64], params: FocusParams) -> Result<Self> {
        check_weights(neuron_weight)?;
        params.validate()?;
        Ok(Self::with_adjacency(Adjacency::from_link_graph(graph, neuron_weight)?, params))
    }

    /// The operator of a weighted edge list `(from, to, weight)` over `n` particles. Parallel
    /// edges add in input order; self-loops are dropped (the engine rejects self-links). Such an
    /// operator has no neurons, so [`FocusOperator::apply_links`] refuses it.
    pub fn from_edges(n: usize, edges: &[(u32, u32, f64)], params: FocusParams) -> Result<Self> {
        params.validate()?;
        if n > u32::MAX as usize {
            return Err(KernelError::TooLarge(n));
        }
        let mut sorted: Vec<(u32, u32, f64)> = Vec::with_capacity(edges.len());
        for &(from, to, w) in edges {
            if from as usize >= n || to as usize >= n {
                return Err(KernelError::InvalidWeight(format!("edge {from} → {to} outside 0..{n}")));
            }
            if !(w.is_finite() && w >= 0.0) {
                return Err(KernelError::InvalidWeight(format!("edge {from} → {to} has weight {w}")));
            }
            if from != to && w > 0.0 {
                sorted.push((from, to, w));
            }
        }
        // Stable: parallel edges keep their input order, so their sum is the same everywhere.
        sorted.par_sort_by_key(|&(from, to, _)| (to, from));
        sorted.dedup_by(|next, kept| {
            let parallel = (next.0, next.1) == (kept.0, kept.1);
            if parallel {
                kept.2 += next.2;
            }
            parallel
        });
        Ok(Self::with_adjacency(Adjacency::from_weighted_pairs(n, &sorted), params))
    }

    fn with_adjacency(adjacency: Adjacency, params: FocusParams) -> Self {
        let n = adjacency.len();
        let mut operator = FocusOperator {
            heat: params.heat_weights(),
            params,
            adjacency,
            out: vec![0.0; n],
            d: vec![0.0; n],
            prior: Vec::new(),
            prior_total: 0.0,
            in_rows: None,
        };
        operator.refold_all();
        operator.refresh_in_rows();
        operator
    }

    /// Applies a block in place: the links `(from, to, neuron)` it added (a link already present
    /// changes nothing), the particle count after it, and every neuron's link weight after it
    /// (`neuron_weight` as for [`FocusOperator::from_link_graph`]). The result is bit for bit
    /// the operator [`FocusOperator::from_link_graph`] builds from the grown graph.
    ///
    /// Cost: each row the block touched, once (a binary search per change and one merge of its
    /// new entries, O(the row's length), into rows with slack), the class and kind tables,
    /// O(particles) for the prior, and the row sums `out` and `d` of the rows the block
    /// touched — or of every row when a weight in use changed (a neuron that linked moves its
    /// `stake/links` for all its links, and a new maximum rescales everything: spec's
    /// `max A = 1`) — and, with diffusion only, the in-links rebuilt (O(entries), in parallel).
    /// Refuses, changing nothing, a link outside the particles or the neurons, a
    /// bad weight, fewer particles than before, or an operator built from weighted edges.
    pub fn apply_links(&mut self, particles: u32, links: &[(u32, u32, u32)], neuron_weight: &[f64]) -> Result<()> {
        check_weights(neuron_weight)?;
        self.adjacency.check_links(particles, links, neuron_weight.len())?;
        let n = particles as usize;
        let before = self.adjacency.scale_before();
        self.adjacency.ensure_rows(n);
        self.out.resize(n, 0.0);
        self.d.resize(n, 0.0);
        let touched = self.adjacency.link(links);
        self.adjacency.reweigh(neuron_weight);
        if self.adjacency.rescaled_since(&before) {
            self.refold_all();
        } else {
            for &i in &touched {
                self.refold_row(i as usize);
            }
            self.refresh_prior();
        }
        self.refresh_in_rows();
        Ok(())
    }

    /// Rebuilds the in-links when only diffusion runs (O(entries), in parallel).
    fn refresh_in_rows(&mut self) {
        self.in_rows = self.params.diffusion_only().then(|| self.adjacency.in_rows().into());
    }

    /// `out` and `d` of every row, then the prior.
    fn refold_all(&mut self) {
        let adjacency = &self.adjacency;
        (&mut self.out, &mut self.d).into_par_iter().enumerate().for_each(|(i, (out, d))| {
            (*out, *d) = row_sums(adjacency, i);
        });
        self.refresh_prior();
    }

    fn refold_row(&mut self, i: usize) {
        (self.out[i], self.d[i]) = row_sums(&self.adjacency, i);
    }

    /// `Z = Σ (d_i + ε_u)` by the fixed tree and `u = (d + ε_u)/Z`.
    fn refresh_prior(&mut self) {
        let d = &self.d;
        let total = tree_sum_by(d.len(), |i| d[i] + PRIOR_FLOOR);
        self.prior.resize(d.len(), 0.0);
        self.prior.par_iter_mut().zip(d).for_each(|(u, di)| *u = (di + PRIOR_FLOOR) / total);
        self.prior_total = total;
    }

    /// Number of particles.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether the graph has no particles.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Entries of `A` (distinct directed pairs with positive weight).
    pub fn edge_count(&self) -> usize {
        self.adjacency.positive_entries(self.adjacency.a_in())
    }

    /// Bytes held: the adjacency, the per-particle arrays and the in-links (diffusion only).
    pub fn memory_bytes(&self) -> usize {
        let per_particle = |v: &Vec<f64>| v.capacity() * size_of::<f64>();
        let in_rows = self.in_rows.iter().flat_map(|rows| rows.iter()).map(InRows::memory_bytes).sum::<usize>();
        self.adjacency.memory_bytes()
            + per_particle(&self.out)
            + per_particle(&self.d)
            + per_particle(&self.prior)
            + in_rows
    }

    /// Entries of `W` (pairs linked with positive weight in either direction, counted from both
    /// ends).
    pub fn symmetric_nnz(&self) -> usize {
        self.adjacency.positive_entries(self.adjacency.w())
    }

    /// The parameters.
    pub fn params(&self) -> &FocusParams {
        &self.params
    }

    /// A copy of `Aᵀ` (rows by target, scaled so `max A = 1`, positive entries): the matrix the
    /// diffusion SpMV pulls, as a plain CSR for export and for baselines.
    pub fn diffusion_matrix(&self) -> Csr {
        Csr::from_rows(self.len(), |q, row| row.extend(self.adjacency.positive(q, self.adjacency.a_in())))
    }

    /// Whether particle `i` has a link with positive weight (in either direction).
    pub fn is_linked(&self, i: u32) -> bool {
        self.d.get(i as usize).is_some_and(|&d| d > 0.0)
    }

    /// `W`'s row `i`: the particle's neighbours in either direction with their summed weights
    /// (positive), ascending.
    pub fn neighbours(&self, i: u32) -> impl Iterator<Item = (u32, f64)> + '_ {
        self.adjacency.positive(i as usize, self.adjacency.w())
    }

    /// The teleport prior `u`.
    pub fn prior(&self) -> &[f64] {
        &self.prior
    }

    /// One step `out = M·φ + λ_d·α·t`, without renormalisation.
    ///
    /// The order of every floating-point operation is fixed (every [`Backend`] follows it):
    /// `out_i = ((λ_d(1−α)·(Pφ)_i + λ_s·(Sφ)_i) + λ_h·(Hφ)_i) + λ_d·α·t_i`, where
    /// `(Pφ)_i = Σ_p A[p,i]·(φ_p/out_p) + u_i·D` (`D` the dangling mass by the fixed tree),
    /// `(Sφ)_i = μ·z_i + Σ_j W[i,j]·z_j` with `z = φ ⊘ (μ + d)`, and
    /// `Hφ = ((π_0·φ + π_1·Rφ) + π_2·R²φ) + …` with `(Rv)_i = Σ_j W[i,j]·(v_j/d_j) + [d_i = 0]·v_i`.
    pub fn apply(&self, phi: &[f64], teleport: &[f64], out: &mut [f64]) {
        backend::focus_step(self, &mut StepScratch::new(self), phi, teleport, out);
    }

    /// The focus `π*`: cold start from uniform, or warm from `warm` (a previous focus, padded
    /// with zeros if the graph has grown).
    pub fn solve(&self, warm: Option<&[f64]>) -> FocusSolution {
        self.solve_with_teleport(&self.prior, warm)
    }

    /// The fixed point with teleport target `t` in place of `u` (dangling columns stay on `u`):
    /// the conditional focus `π*(·|t)` of spec/focus.md §5 when `t` is a query distribution.
    pub fn solve_with_teleport(&self, teleport: &[f64], warm: Option<&[f64]>) -> FocusSolution {
        self.solve_to(teleport, warm, self.params.epsilon)
    }

    /// [`Self::solve_with_teleport`] to another accuracy `epsilon` (queries need less than
    /// consensus does). Same stopping rule, cap `T(epsilon)`.
    pub fn solve_to(&self, teleport: &[f64], warm: Option<&[f64]>, epsilon: f64) -> FocusSolution {
        let Ok(solution) = self.solve_on(&Cpu, teleport, warm, epsilon);
        solution
    }

    /// [`Self::solve_to`] with the steps and sums on `backend`. The start, the stopping rule and
    /// the cap are decided here, on the numbers the backend returns, so every backend that
    /// computes the same bits stops at the same step.
    pub fn solve_on<B: Backend>(
        &self,
        backend: &B,
        teleport: &[f64],
        warm: Option<&[f64]>,
        epsilon: f64,
    ) -> std::result::Result<FocusSolution, B::Error> {
        let n = self.len();
        assert_eq!(teleport.len(), n, "teleport has {} entries for {n} particles", teleport.len());
        if n == 0 {
            return Ok(FocusSolution { pi: Vec::new(), iterations: 0, bound: 0.0, converged: true, syntropy: 0.0 });
        }
        // A warm start with no mass (or none given) starts from uniform.
        let warm = warm.and_then(|previous| {
            let mut phi = previous.to_vec();
            phi.resize(n, 0.0);
            (normalise(&mut phi) > 0.0).then_some(phi)
        });
        let phi = warm.unwrap_or_else(|| vec![1.0 / n as f64; n]);
        let kappa = self.params.kappa();
        let params = FocusParams { epsilon, ..self.params };
        let cap = params.certified_steps();
        let mut scratch = backend.focus_scratch(self, &phi, teleport)?;
        let (mut iterations, mut bound) = (0, f64::INFINITY);
        while iterations < cap {
            let distance = backend.focus_iterate(self, &mut scratch)?;
            iterations += 1;
            bound = kappa / (1.0 - kappa) * distance;
            if bound <= epsilon {
                break;
            }
        }
        let phi = backend.focus_vector(scratch)?;
        let converged = bound <= epsilon;
        let syntropy = syntropy(&phi);
        Ok(FocusSolution { pi: phi, iterations, bound, converged, syntropy })
    }
}

/// `(out_i, d_i)`: row `i`'s sums of `A[i,·]` and of `W[i,·]`, left to right.
fn row_sums(adjacency: &Adjacency, i: usize) -> (f64, f64) {
    let (a_out, w) = (adjacency.a_out(), adjacency.w());
    adjacency.row(i).iter().fold((0.0, 0.0), |(out, d), e| (out + a_out[e.kind as usize], d + w[e.kind as usize]))
}

/// Syntropy (negentropy) `J = Σ π_i ln(n·π_i) = ln n − H(π)` in nats.
pub fn syntropy(pi: &[f64]) -> f64 {
    let n = pi.len() as f64;
    tree_sum_by(pi.len(), |i| if pi[i] > 0.0 { pi[i] * (n * pi[i]).ln() } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Everything the operator holds that a solve reads, as bits: per row each entry's column
    /// and three weights, then `out`, `d`, `u` and `Z`, then the in-links (diffusion only).
    fn bits(op: &FocusOperator) -> Vec<u64> {
        let a = &op.adjacency;
        let mut bits = Vec::new();
        for i in 0..op.len() {
            for e in a.row(i) {
                let k = e.kind as usize;
                bits.extend([e.col as u64, a.a_in()[k].to_bits(), a.a_out()[k].to_bits(), a.w()[k].to_bits()]);
            }
            bits.extend([u64::MAX, op.out[i].to_bits(), op.d[i].to_bits(), op.prior[i].to_bits()]);
        }
        bits.push(op.prior_total.to_bits());
        if let Some(in_rows) = &op.in_rows {
            // By particle: the windows follow the visit order, which a fresh build places.
            let mut by_particle = vec![Vec::new(); op.len()];
            for (rows, window) in in_rows.iter().zip(a.visit_order().chunks(crate::rows::WINDOW)) {
                for (k, &i) in window.iter().enumerate() {
                    by_particle[i as usize] =
                        rows.row(k).iter().flat_map(|e| [e.col as u64, a.a_in()[e.kind as usize].to_bits()]).collect();
                }
            }
            for row in by_particle {
                bits.extend(row);
                bits.push(u64::MAX);
            }
        }
        bits
    }

    /// Placed rows change no bit: the same graph built fresh (its windows of short rows stored
    /// and visited longest first) and grown in place from empty (rows in id order, as added)
    /// step and solve to the same bits, over several windows.
    #[test]
    fn placed_rows_change_no_bit() {
        let n = 5 * crate::rows::WINDOW as u32 + 77;
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |bound: u32| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as u32
        };
        let (mut graph, mut grown) = (LinkGraph::default(), None::<FocusOperator>);
        for _ in 0..6 {
            // Mostly short rows, some long: a few hubs take every tenth link.
            let block: Vec<(u32, u32, u32)> = (0..1500)
                .map(|k| (next(n), if k % 10 == 0 { next(8) } else { next(n) }, 0))
                .filter(|&(from, to, _)| from != to && graph.insert(from, to, 0))
                .collect();
            let weights = [1.0 / graph.link_count() as f64];
            let operator = grown.get_or_insert_with(|| {
                FocusOperator::from_link_graph(&LinkGraph::default(), &[], FocusParams::default()).unwrap()
            });
            operator.apply_links(graph.node_count(), &block, &weights).unwrap();
        }
        let grown = grown.unwrap();
        let fresh =
            FocusOperator::from_link_graph(&graph, &[1.0 / graph.link_count() as f64], FocusParams::default()).unwrap();
        let identity: Vec<u32> = (0..grown.len() as u32).collect();
        assert_eq!(grown.adjacency.visit_order(), identity.as_slice());
        let reordered = fresh
            .adjacency
            .visit_order()
            .chunks(crate::rows::WINDOW)
            .zip(identity.chunks(crate::rows::WINDOW))
            .filter(|(a, b)| a != b)
            .count();
        assert!(reordered >= 3, "only {reordered} windows reordered");
        let phi: Vec<f64> = (0..fresh.len()).map(|i| 1.0 + (i % 13) as f64).collect();
        let (mut a, mut b) = (vec![0.0; fresh.len()], vec![0.0; fresh.len()]);
        fresh.apply(&phi, fresh.prior(), &mut a);
        grown.apply(&phi, grown.prior(), &mut b);
        assert!(a.iter().zip(&b).all(|(a, b)| a.to_bits() == b.to_bits()));
        let (a, b) = (fresh.solve(None), grown.solve(None));
        assert_eq!(a.iterations, b.iterations);
        assert!(a.pi.iter().zip(&b.pi).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    /// PageRank mode's step reads only the in-links, yet has the bits of a pull over whole rows
    /// of `W` (each entry it skips adds `+0.0`): links of a zero-stake neuron, reciprocal pairs,
    /// out-only neighbours and dangling particles included, over several windows.
    #[test]
    fn pagerank_steps_over_in_links_have_the_bits_of_whole_rows() {
        let n = 3 * crate::rows::WINDOW as u32 + 5;
        let mut graph = LinkGraph::default();
        for k in 0..4 * n {
            // The last 64 particles link nowhere (dangling).
            let (from, to) = (k * 7919 % (n - 64), (k * k + 3) % (n / 2));
            // Neuron 1 has no stake: its links weigh 0 and are no in-links.
            graph.insert(from, to, k % 3 / 2);
            if k % 5 == 0 {
                graph.insert(to, from, 0);
            }
        }
        graph.ensure_nodes(n);
        let weights = [1.0 / graph.link_count() as f64, 0.0];
        let op = FocusOperator::from_link_graph(&graph, &weights, FocusParams::pagerank(0.15, 1e-8)).unwrap();
        let n = op.len();
        let phi: Vec<f64> = (0..n).map(|i| 1.0 + (i % 11) as f64).collect();
        let teleport: Vec<f64> = (0..n).map(|i| (i % 3) as f64).collect();
        let mut step = vec![0.0; n];
        op.apply(&phi, &teleport, &mut step);

        let (adjacency, p) = (&op.adjacency, &op.params);
        let by_out: Vec<f64> = (0..n).map(|i| if op.out[i] > 0.0 { phi[i] / op.out[i] } else { 0.0 }).collect();
        let dangling = tree_sum_by(n, |i| if op.out[i] > 0.0 { 0.0 } else { phi[i] });
        assert!(dangling > 0.0, "no dangling particle");
        let (c_diffusion, c_teleport) = (p.lambda_d * (1.0 - p.alpha), p.lambda_d * p.alpha);
        let whole_rows: Vec<u64> = (0..n)
            .map(|i| {
                let pulled = adjacency.row_dot(i, adjacency.a_in(), &by_out);
                (c_diffusion * (pulled + op.prior[i] * dangling) + c_teleport * teleport[i]).to_bits()
            })
            .collect();
        assert_eq!(step.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), whole_rows);

        let in_rows = op.in_rows.as_ref().expect("diffusion only keeps its in-links");
        let in_entries: usize = in_rows
            .iter()
            .enumerate()
            .map(|(w, rows)| {
                (0..crate::rows::WINDOW.min(n - w * crate::rows::WINDOW)).map(|k| rows.row(k).len()).sum::<usize>()
            })
            .sum();
        let all_entries: usize = (0..n).map(|i| adjacency.row(i).len()).sum();
        assert_eq!(in_entries, op.edge_count());
        assert!(2 * in_entries < all_entries + n, "{in_entries} in-links of {all_entries} entries");
    }

    proptest! {
        /// Random blocks by neurons of random stakes (zero included), with self-links, reverse
        /// pairs and pairs linked by several neurons; after every block the operator updated in
        /// place equals the one built from the grown graph, bit for bit (the tri-kernel's, and
        /// PageRank mode's with its in-links).
        #[test]
        fn in_place_updates_equal_a_fresh_build(
            stakes in prop::collection::vec(0u32..50, 1..6),
            blocks in prop::collection::vec(prop::collection::vec((0u32..30, 0u32..30, 0usize..6), 0..25), 1..8),
            pagerank: bool,
        ) {
            let params = if pagerank { FocusParams::pagerank(0.15, 1e-8) } else { FocusParams::default() };
            let mut graph = LinkGraph::default();
            let mut links_of = vec![0u64; stakes.len()];
            let mut op = FocusOperator::from_link_graph(&graph, &[], params).unwrap();
            for block in blocks {
                let mut added = Vec::new();
                for (from, to, neuron) in block {
                    let neuron = (neuron % stakes.len()) as u32;
                    if graph.insert(from, to, neuron) {
                        links_of[neuron as usize] += 1;
                        added.push((from, to, neuron));
                    }
                }
                let weights: Vec<f64> = stakes
                    .iter()
                    .zip(&links_of)
                    .map(|(&s, &l)| if l == 0 { 0.0 } else { s as f64 / l as f64 })
                    .collect();
                op.apply_links(graph.node_count(), &added, &weights).unwrap();
                let fresh = FocusOperator::from_link_graph(&graph, &weights, params).unwrap();
                prop_assert_eq!(bits(&op), bits(&fresh));
                prop_assert_eq!(op.edge_count(), fresh.edge_count());
                prop_assert_eq!(op.symmetric_nnz(), fresh.symmetric_nnz());
            }
        }
    }
}
