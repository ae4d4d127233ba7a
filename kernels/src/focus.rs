//! The tri-kernel focus operator and its fixed-point solver (spec/focus.md §1–§4, §7).

use rayon::prelude::*;

use crate::{
    LinkGraph,
    backend::{Backend, Cpu, CpuFocusScratch},
    csr::Csr,
    error::{KernelError, Result},
    reduce::tree_sum_by,
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

/// The composite operator `M = λ_d(1−α)P + λ_s S + λ_h H_τ` of one graph, ready to iterate.
///
/// Holds the weighted adjacency twice (by target for the pull SpMV of `P`, by source for
/// forward push) and the symmetrised `W = A + Aᵀ` by rows (symmetric, so rows are columns).
#[derive(Clone, Debug)]
pub struct FocusOperator {
    pub(crate) params: FocusParams,
    pub(crate) heat: Vec<f64>,
    /// `Aᵀ`: row `q` lists `(p, A[p,q])`, scaled so `max A = 1`.
    pub(crate) a_by_target: Csr,
    /// `A`: row `p` lists `(q, A[p,q])`.
    pub(crate) a_by_source: Csr,
    /// `W = A + Aᵀ`.
    pub(crate) w: Csr,
    /// `out_p = Σ_q A[p,q]`; 0 marks a dangling particle.
    pub(crate) out: Vec<f64>,
    /// `d = W·1`; 0 marks an isolated particle.
    pub(crate) d: Vec<f64>,
    /// The prior `u` (sums to 1).
    pub(crate) prior: Vec<f64>,
    /// `Σ (d_i + ε_u)`: the prior's normaliser.
    pub(crate) prior_total: f64,
}

impl FocusOperator {
    /// The operator of a link graph; `neuron_weight[ν] = s(ν)·k(ν)/links(ν)` is each of
    /// neuron `ν`'s links' weight. Parallel links of different neurons add, in neuron order.
    pub fn from_link_graph(graph: &LinkGraph, neuron_weight: &[f64], params: FocusParams) -> Result<Self> {
        if let Some((i, w)) = neuron_weight.iter().enumerate().find(|(_, w)| !(w.is_finite() && **w >= 0.0)) {
            return Err(KernelError::InvalidWeight(format!("neuron {i} has weight {w}")));
        }
        let n = graph.node_count() as usize;
        let mut missing = None;
        let a_by_target = Csr::from_rows(n, |q, row| {
            for link in graph.in_links(q as u32) {
                let Some(&w) = neuron_weight.get(link.neuron as usize) else {
                    missing = Some(link.neuron);
                    continue;
                };
                match row.last_mut() {
                    Some((p, sum)) if *p == link.source => *sum += w,
                    _ => row.push((link.source, w)),
                }
            }
            row.retain(|&(_, w)| w > 0.0);
        });
        if let Some(neuron) = missing {
            return Err(KernelError::InvalidWeight(format!("no weight for neuron {neuron}")));
        }
        Self::from_adjacency(a_by_target, params)
    }

    /// The operator of a weighted edge list `(from, to, weight)` over `n` particles. Parallel
    /// edges add in input order; self-loops are dropped (the graph rejects self-links).
    pub fn from_edges(n: usize, edges: &[(u32, u32, f64)], params: FocusParams) -> Result<Self> {
        let mut sorted: Vec<(u32, u32, f64)> = Vec::with_capacity(edges.len());
        for &(from, to, w) in edges {
            if from as usize >= n || to as usize >= n {
                return Err(KernelError::InvalidWeight(format!("edge {from} → {to} outside 0..{n}")));
            }
            if !(w.is_finite() && w >= 0.0) {
                return Err(KernelError::InvalidWeight(format!("edge {from} → {to} has weight {w}")));
            }
            if from != to && w > 0.0 {
                sorted.push((to, from, w));
            }
        }
        // Stable: parallel edges keep their input order, so their sum is the same everywhere.
        sorted.par_sort_by_key(|&(to, from, _)| (to, from));
        let mut at = 0;
        let a_by_target = Csr::from_rows(n, |q, row| {
            while at < sorted.len() && sorted[at].0 as usize == q {
                let (_, p, w) = sorted[at];
                match row.last_mut() {
                    Some((last, sum)) if *last == p => *sum += w,
                    _ => row.push((p, w)),
                }
                at += 1;
            }
        });
        Self::from_adjacency(a_by_target, params)
    }

    fn from_adjacency(mut a_by_target: Csr, params: FocusParams) -> Result<Self> {
        params.validate()?;
        let n = a_by_target.rows();
        if n > u32::MAX as usize {
            return Err(KernelError::TooLarge(n));
        }
        let max = a_by_target.vals.iter().copied().fold(0.0, f64::max);
        if max > 0.0 {
            a_by_target.vals.iter_mut().for_each(|v| *v /= max);
        }
        let a_by_source = a_by_target.transpose(n);
        let w = Csr::from_rows(n, |i, row| {
            let (in_cols, in_vals) = a_by_target.row(i);
            let (out_cols, out_vals) = a_by_source.row(i);
            let (mut x, mut y) = (0, 0);
            while x < in_cols.len() || y < out_cols.len() {
                let next_in = in_cols.get(x).copied().unwrap_or(u32::MAX);
                let next_out = out_cols.get(y).copied().unwrap_or(u32::MAX);
                if next_in == next_out {
                    row.push((next_in, in_vals[x] + out_vals[y]));
                    x += 1;
                    y += 1;
                } else if next_in < next_out {
                    row.push((next_in, in_vals[x]));
                    x += 1;
                } else {
                    row.push((next_out, out_vals[y]));
                    y += 1;
                }
            }
        });
        let row_sum = |m: &Csr, i: usize| m.row(i).1.iter().fold(0.0, |acc, v| acc + v);
        let out: Vec<f64> = (0..n).map(|p| row_sum(&a_by_source, p)).collect();
        let d: Vec<f64> = (0..n).map(|i| row_sum(&w, i)).collect();
        let total = tree_sum_by(n, |i| d[i] + PRIOR_FLOOR);
        let prior = d.iter().map(|di| (di + PRIOR_FLOOR) / total).collect();
        Ok(FocusOperator {
            heat: params.heat_weights(),
            params,
            a_by_target,
            a_by_source,
            w,
            out,
            d,
            prior,
            prior_total: total,
        })
    }

    /// Number of particles.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether the graph has no particles.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// Stored entries of `A` (distinct directed pairs with positive weight).
    pub fn edge_count(&self) -> usize {
        self.a_by_target.nnz()
    }

    /// Bytes held: the three matrices and the per-particle arrays.
    pub fn memory_bytes(&self) -> usize {
        let per_particle = |v: &Vec<f64>| v.capacity() * size_of::<f64>();
        self.a_by_target.memory_bytes()
            + self.a_by_source.memory_bytes()
            + self.w.memory_bytes()
            + per_particle(&self.out)
            + per_particle(&self.d)
            + per_particle(&self.prior)
    }

    /// Stored entries of `W`.
    pub fn symmetric_nnz(&self) -> usize {
        self.w.nnz()
    }

    /// The parameters.
    pub fn params(&self) -> &FocusParams {
        &self.params
    }

    /// `Aᵀ` (rows by target, scaled so `max A = 1`): the matrix the diffusion SpMV pulls.
    pub fn diffusion_matrix(&self) -> &Csr {
        &self.a_by_target
    }

    /// Whether particle `i` has a link with positive weight (in either direction).
    pub fn is_linked(&self, i: u32) -> bool {
        self.d.get(i as usize).is_some_and(|&d| d > 0.0)
    }

    /// `W`'s row `i`: the particle's neighbours in either direction with their summed weights.
    pub fn neighbours(&self, i: u32) -> (&[u32], &[f64]) {
        self.w.row(i as usize)
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
        let Ok(()) = Cpu.focus_step(self, &mut CpuFocusScratch::new(self.len()), phi, teleport, out);
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
        let mut phi = match warm {
            Some(previous) if backend.tree_sum(previous)? > 0.0 => {
                let mut phi = previous.to_vec();
                phi.resize(n, 0.0);
                normalise(backend, &mut phi)?;
                phi
            }
            _ => vec![1.0 / n as f64; n],
        };
        let kappa = self.params.kappa();
        let params = FocusParams { epsilon, ..self.params };
        let cap = params.certified_steps();
        let mut next = vec![0.0; n];
        let mut scratch = backend.focus_scratch(self)?;
        let (mut iterations, mut bound) = (0, f64::INFINITY);
        while iterations < cap {
            backend.focus_step(self, &mut scratch, &phi, teleport, &mut next)?;
            normalise(backend, &mut next)?;
            iterations += 1;
            bound = kappa / (1.0 - kappa) * backend.l1_distance(&next, &phi)?;
            std::mem::swap(&mut phi, &mut next);
            if bound <= epsilon {
                break;
            }
        }
        let converged = bound <= epsilon;
        let syntropy = syntropy(&phi);
        Ok(FocusSolution { pi: phi, iterations, bound, converged, syntropy })
    }
}

/// Divides by the fixed-tree sum so the vector sums to 1 (absorbs rounding each step).
fn normalise<B: Backend>(backend: &B, v: &mut [f64]) -> std::result::Result<(), B::Error> {
    let total = backend.tree_sum(v)?;
    v.par_iter_mut().for_each(|x| *x /= total);
    Ok(())
}

/// Syntropy (negentropy) `J = Σ π_i ln(n·π_i) = ln n − H(π)` in nats.
pub fn syntropy(pi: &[f64]) -> f64 {
    let n = pi.len() as f64;
    tree_sum_by(pi.len(), |i| if pi[i] > 0.0 { pi[i] * (n * pi[i]).ln() } else { 0.0 })
}
