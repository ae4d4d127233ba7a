//! Forward push on the columns of `M` (Andersen–Chung–Lang, spec/focus.md §5–§6): the
//! conditional focus `π*(·|s)` and the incremental update after a block.
//!
//! Solving `x = (I − M)⁻¹ r` by push keeps an estimate and a residual with
//! `x_true = estimate + (I − M)⁻¹ residual`; pushing a residual entry moves it into the estimate
//! and spreads `M`'s column over the residual. Three details make this exact for our `M`:
//!
//! - **Heat without K-hop columns.** Column `j` of `H_τ = Σ π_k R^k` reaches `K` hops. Instead of
//!   materialising it, heat mass travels through layers `q_0..q_K`: an entry of `q_k` gives
//!   `π_k` of itself to the residual and walks one `R` step into `q_{k+1}`. Every push is one hop.
//! - **Dangling columns are dense** (`P` sends a dangling particle's mass to `u`). That mass is
//!   tallied as a scalar `D` and resolved at the end with `(I − M)⁻¹u = π*/(λ_d·α)`.
//! - **Stopping.** The outstanding mass `Σ|residual| + Σ_k tail_k·Σ|q_k|` (with
//!   `tail_k = Σ_{l≥k} π_l`) bounds the error as `outstanding/(1 − κ)` in ℓ1; push rounds with a
//!   falling threshold run until it is below `ε·(1 − κ)`.
//!
//! Order is deterministic: a FIFO queue, seeded in (layer, index) order each round.

use std::collections::VecDeque;

use crate::{focus::FocusOperator, reduce::tree_sum};

/// What a push computed.
#[derive(Clone, Debug)]
pub struct PushResult {
    /// The solution (dense, one entry per particle).
    pub vector: Vec<f64>,
    /// Pushes performed (the work, in column applications).
    pub pushes: usize,
    /// The ℓ1 error bound at the end.
    pub error_bound: f64,
}

struct Pusher<'a> {
    op: &'a FocusOperator,
    /// Layer 0 is the residual; layer `k + 1` is heat layer `q_k`.
    layers: Vec<Vec<f64>>,
    /// Weight of a unit of mass in each layer towards the outstanding total.
    weights: Vec<f64>,
    queued: Vec<Vec<bool>>,
    seen: Vec<Vec<bool>>,
    touched: Vec<(usize, u32)>,
    queue: VecDeque<(usize, u32)>,
    estimate: Vec<f64>,
    dangling: f64,
    threshold: f64,
    pushes: usize,
}

impl<'a> Pusher<'a> {
    fn new(op: &'a FocusOperator) -> Self {
        let n = op.len();
        let heat = op.params().heat_weights();
        let mut weights = vec![1.0];
        for k in 0..heat.len() {
            weights.push(heat[k..].iter().sum());
        }
        let layers = weights.len();
        Pusher {
            op,
            layers: vec![vec![0.0; n]; layers],
            weights,
            queued: vec![vec![false; n]; layers],
            seen: vec![vec![false; n]; layers],
            touched: Vec::new(),
            queue: VecDeque::new(),
            estimate: vec![0.0; n],
            dangling: 0.0,
            threshold: f64::INFINITY,
            pushes: 0,
        }
    }

    fn add(&mut self, layer: usize, i: u32, value: f64) {
        let at = i as usize;
        self.layers[layer][at] += value;
        if !self.seen[layer][at] {
            self.seen[layer][at] = true;
            self.touched.push((layer, i));
        }
        if !self.queued[layer][at] && self.layers[layer][at].abs() * self.weights[layer] > self.threshold {
            self.queued[layer][at] = true;
            self.queue.push_back((layer, i));
        }
    }

    fn push(&mut self, layer: usize, i: u32) {
        let at = i as usize;
        let g = std::mem::take(&mut self.layers[layer][at]);
        self.pushes += 1;
        let op = self.op;
        let p = op.params();
        if layer == 0 {
            self.estimate[at] += g;
            let diffusion = p.lambda_d * (1.0 - p.alpha) * g;
            if op.out[at] > 0.0 {
                let (cols, vals) = op.a_by_source.row(at);
                for (&q, &a) in cols.iter().zip(vals) {
                    self.add(0, q, diffusion * a / op.out[at]);
                }
            } else {
                self.dangling += diffusion;
            }
            if p.lambda_s > 0.0 {
                let springs = p.lambda_s * g / (p.mu + op.d[at]);
                self.add(0, i, springs * p.mu);
                let (cols, vals) = op.w.row(at);
                for (&j, &w) in cols.iter().zip(vals) {
                    self.add(0, j, springs * w);
                }
            }
            if p.lambda_h > 0.0 {
                self.add(1, i, p.lambda_h * g);
            }
        } else {
            let k = layer - 1;
            let heat_k = self.weights[layer] - self.weights.get(layer + 1).copied().unwrap_or(0.0);
            self.add(0, i, heat_k * g);
            if layer + 1 < self.layers.len() {
                if op.d[at] > 0.0 {
                    let (cols, vals) = op.w.row(at);
                    for (&l, &w) in cols.iter().zip(vals) {
                        self.add(layer + 1, l, g * w / op.d[at]);
                    }
                } else {
                    self.add(layer + 1, i, g);
                }
            }
            debug_assert!(k < self.weights.len());
        }
    }

    fn outstanding(&self) -> f64 {
        self.touched.iter().map(|&(l, i)| self.layers[l][i as usize].abs() * self.weights[l]).sum()
    }

    /// Pushes in rounds of falling threshold until the outstanding mass is at most `target`.
    fn run(&mut self, target: f64) -> f64 {
        let mut outstanding = self.outstanding();
        let mut largest =
            self.touched.iter().map(|&(l, i)| self.layers[l][i as usize].abs() * self.weights[l]).fold(0.0, f64::max);
        while outstanding > target {
            // Each round lowers the bar below the largest entry left, so it always pushes.
            self.threshold = (largest / 4.0).max(f64::MIN_POSITIVE);
            let mut seeds: Vec<(usize, u32)> = self
                .touched
                .iter()
                .copied()
                .filter(|&(l, i)| self.layers[l][i as usize].abs() * self.weights[l] > self.threshold)
                .collect();
            seeds.sort_unstable();
            for &(l, i) in &seeds {
                self.queued[l][i as usize] = true;
            }
            self.queue.extend(seeds);
            while let Some((l, i)) = self.queue.pop_front() {
                self.queued[l][i as usize] = false;
                if self.layers[l][i as usize].abs() * self.weights[l] > self.threshold {
                    self.push(l, i);
                }
            }
            outstanding = self.outstanding();
            largest = self
                .touched
                .iter()
                .map(|&(l, i)| self.layers[l][i as usize].abs() * self.weights[l])
                .fold(0.0, f64::max);
        }
        outstanding
    }
}

impl FocusOperator {
    /// The conditional focus `π*(·|s)` for a query distribution `s` given as `(particle,
    /// weight)` pairs (normalised here), within `epsilon` in ℓ1. `global` is this operator's
    /// focus `π*`, which resolves the mass that dangling particles send to the prior.
    pub fn conditional_focus(&self, seeds: &[(u32, f64)], global: &[f64], epsilon: f64) -> PushResult {
        let p = *self.params();
        let teleport = p.lambda_d * p.alpha;
        let total: f64 = seeds.iter().map(|(_, w)| w).sum();
        let mut pusher = Pusher::new(self);
        for &(i, w) in seeds {
            pusher.add(0, i, teleport * w / total);
        }
        let target = epsilon * (1.0 - p.kappa());
        let outstanding = pusher.run(target);
        let scale = pusher.dangling / teleport;
        let vector = pusher.estimate.iter().zip(global).map(|(x, g)| x + scale * g).collect();
        PushResult { vector, pushes: pusher.pushes, error_bound: outstanding / (1.0 - p.kappa()) }
    }

    /// The focus of this graph from `previous`, the focus of `before` (the graph one block
    /// earlier), by pushing only what the block changed (spec/focus.md §6):
    /// `π_new − π_old = (I − M_new)⁻¹·((M_new − M_old)·π_old + λ_d·α·(u_new − u_old))`.
    /// Particles added since are padded with zero. The result carries `previous`'s own error
    /// (at most the ε it was solved to) and adds at most `epsilon` more.
    ///
    /// The change has a global part proportional to `u_new` (the prior's normaliser and the
    /// dangling mass change with any new link): for a particle whose neighbourhood did not
    /// change it is exactly `β·u_new_i` with
    /// `β = λ_d·α·(1 − ρ) + λ_d·(1−α)·(D_new − ρ·D_old)`, `ρ = Z_new/Z_old` the ratio of prior
    /// normalisers and `D` the previous focus's dangling mass in each graph. That part is
    /// deferred like dangling mass (`(I − M)⁻¹u = π/(λ_d·α)`), so only the local rest is pushed.
    /// Correctness does not depend on `β`; locality does.
    ///
    /// Returns `None` when the local change touches more than a quarter of the particles (new
    /// links all over the graph, or neuron weights that changed everywhere): a warm solve is
    /// then the cheaper path.
    pub fn incremental_focus(&self, before: &FocusOperator, previous: &[f64], epsilon: f64) -> Option<PushResult> {
        let n = self.len();
        let p = *self.params();
        let teleport = p.lambda_d * p.alpha;
        let mut old = previous.to_vec();
        old.resize(n, 0.0);
        let mut residual = vec![0.0; n];
        self.apply(&old, self.prior(), &mut residual);
        let mut before_step = vec![0.0; before.len()];
        before.apply(&old[..before.len()], before.prior(), &mut before_step);
        before_step.resize(n, 0.0);
        let dangling = |op: &FocusOperator| {
            old.iter()
                .enumerate()
                .filter(|&(i, _)| op.out.get(i).is_none_or(|&o| o == 0.0))
                .map(|(_, x)| x)
                .sum::<f64>()
        };
        let rho = self.prior_total / before.prior_total;
        let beta = teleport * (1.0 - rho) + p.lambda_d * (1.0 - p.alpha) * (dangling(self) - rho * dangling(before));
        // Entries below the floor (rounding) are left: all together they are at most
        // ε·(1 − κ)/2, so they add at most ε/2.
        let floor = epsilon * (1.0 - p.kappa()) / (2.0 * n as f64);
        let mut left = 0.0;
        let mut local: Vec<(u32, f64)> = Vec::new();
        for i in 0..n {
            let r = residual[i] - before_step[i] - beta * self.prior[i];
            if r.abs() > floor {
                local.push((i as u32, r));
            } else {
                left += r.abs();
            }
        }
        if local.len() > n / 4 {
            return None;
        }
        let mut pusher = Pusher::new(self);
        pusher.dangling = beta;
        for (i, r) in local {
            pusher.add(0, i, r);
        }
        let outstanding = pusher.run(epsilon * (1.0 - p.kappa()) / 2.0);
        let scale = 1.0 - pusher.dangling / teleport;
        let mut vector: Vec<f64> =
            pusher.estimate.iter().zip(&old).map(|(x, o)| o + (x + pusher.dangling * o / teleport) / scale).collect();
        let total = tree_sum(&vector);
        vector.iter_mut().for_each(|v| *v /= total);
        let error_bound = (outstanding + left) / ((1.0 - p.kappa()) * scale.abs());
        Some(PushResult { vector, pushes: pusher.pushes, error_bound })
    }
}
