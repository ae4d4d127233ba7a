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

/// What a push to an ℓ1 accuracy computed.
#[derive(Clone, Debug)]
pub struct PushResult {
    /// The solution (dense, one entry per particle).
    pub vector: Vec<f64>,
    /// Pushes performed (the work, in column applications).
    pub pushes: usize,
    /// The ℓ1 error bound at the end.
    pub error_bound: f64,
}

/// The node's incremental push gives up after reading as many matrix entries as this many
/// solver iterations read. A push reads an entry about 15 times slower than the streaming SpMV
/// (communities bench, 2^16 particles: 0.9 iterations' reads took 15 iterations' time) and a
/// warm solve runs 20–200 iterations, so this bounds what a push that declines late wastes to
/// about 30 iterations.
pub const INCREMENTAL_BUDGET: usize = 2;

/// What a local push of a query distribution computed: the conditional focus is
/// `estimate + dangling·π* + Σ_v residual_v·π*(·|v)` exactly, and the push stopped before the
/// last term. Everything is sparse: a query costs its neighbourhood, not the graph.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LocalPush {
    /// Settled mass per particle, ascending by index (only particles the push settled).
    pub estimate: Vec<(u32, f64)>,
    /// How much of the global focus `π*` the answer contains: mass that reached dangling
    /// particles, which spread it over the prior.
    pub dangling: f64,
    /// Unsettled mass per particle (every heat layer folded in), ascending by index: the
    /// frontier whose conditionals make up the rest of the answer.
    pub residual: Vec<(u32, f64)>,
    /// `ρ = Σ residual`: the ℓ1 mass the push did not place, which bounds its ℓ1 error.
    pub remainder: f64,
    /// Column applications performed.
    pub pushes: usize,
    /// Matrix entries read (the work).
    pub edge_reads: usize,
}

/// When a local push stops: no particle's unsettled mass above `threshold` (the ranking rule:
/// what is left is spread thin), or `max_edge_reads` read (a budget for hubs); and which
/// particles it never pushes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PushLimits {
    /// Per-particle unsettled mass (in units of the answer) below which nothing is pushed.
    pub threshold: f64,
    /// Entries read after which no further push starts.
    pub max_edge_reads: usize,
    /// A particle whose row has more entries than this is never pushed: its mass stays
    /// unsettled, for whatever answers for the residual (the compiled model, for a hub).
    pub longest_row: usize,
}

/// Where layer `layer` of particle `i` lives in a particle-major array of `layers` per particle.
#[inline]
fn entry(layers: usize, layer: usize, i: u32) -> usize {
    i as usize * layers + layer
}

/// An entry of [`PushScratch::mass`] holds mass (it is in the touched list).
const SEEN: u8 = 1;
/// An entry is in the queue.
const QUEUED: u8 = 2;
/// The entry's particle is in the list a finished push collects its residual from.
const LISTED: u8 = 4;

/// Dense work arrays for pushes on one operator, reset through the list of entries a push
/// touched, so a query allocates nothing of the graph's size. Reuse one per thread.
#[derive(Debug)]
pub struct PushScratch {
    /// Unsettled mass, particle-major: entry `i·layers + l` is layer `l` at particle `i` (layer
    /// 0 the residual, layer `k + 1` heat layer `q_k`), so a particle's layers share a cache
    /// line — a push reads and writes all of them at the particles it reaches.
    mass: Vec<f64>,
    /// [`SEEN`] and [`QUEUED`] per entry of `mass`.
    flags: Vec<u8>,
    layers: usize,
    touched: Vec<(usize, u32)>,
    queue: VecDeque<(usize, u32)>,
    estimate: Vec<f64>,
    settled: Vec<u32>,
}

impl PushScratch {
    /// Scratch sized for `op`.
    pub fn new(op: &FocusOperator) -> Self {
        let (n, layers) = (op.len(), op.params().heat_terms + 2);
        PushScratch {
            mass: vec![0.0; n * layers],
            flags: vec![0; n * layers],
            layers,
            touched: Vec::new(),
            queue: VecDeque::new(),
            estimate: vec![0.0; n],
            settled: Vec::new(),
        }
    }

    /// Whether this scratch has the shape `op` needs.
    pub fn fits(&self, op: &FocusOperator) -> bool {
        self.estimate.len() == op.len() && self.layers == op.params().heat_terms + 2
    }

    /// Where layer `layer` of particle `i` lives in `mass` and `flags`.
    #[inline]
    fn at(&self, layer: usize, i: u32) -> usize {
        entry(self.layers, layer, i)
    }

    /// Zeroes what the last push touched.
    fn reset(&mut self) {
        for (layer, i) in self.touched.drain(..) {
            let at = entry(self.layers, layer, i);
            self.mass[at] = 0.0;
            self.flags[at] = 0;
        }
        for i in self.settled.drain(..) {
            self.estimate[i as usize] = 0.0;
        }
        self.queue.clear();
    }
}

struct Pusher<'a> {
    op: &'a FocusOperator,
    s: &'a mut PushScratch,
    /// Weight of a unit of mass in each layer towards the outstanding total.
    weights: Vec<f64>,
    dangling: f64,
    threshold: f64,
    /// Particles with longer rows are not pushed ([`PushLimits::longest_row`]).
    longest_row: usize,
    pushes: usize,
    edge_reads: usize,
}

impl<'a> Pusher<'a> {
    fn new(op: &'a FocusOperator, s: &'a mut PushScratch) -> Self {
        assert!(s.fits(op), "push scratch sized for another graph");
        s.reset();
        let heat = &op.heat;
        let mut weights = vec![1.0];
        for k in 0..heat.len() {
            weights.push(heat[k..].iter().sum());
        }
        Pusher {
            op,
            s,
            weights,
            dangling: 0.0,
            threshold: f64::INFINITY,
            longest_row: usize::MAX,
            pushes: 0,
            edge_reads: 0,
        }
    }

    fn weighted(&self, layer: usize, i: u32) -> f64 {
        self.s.mass[self.s.at(layer, i)].abs() * self.weights[layer]
    }

    fn add(&mut self, layer: usize, i: u32, value: f64) {
        let at = self.s.at(layer, i);
        self.s.mass[at] += value;
        if self.s.flags[at] & SEEN == 0 {
            self.s.flags[at] |= SEEN;
            self.s.touched.push((layer, i));
        }
        if self.s.flags[at] & QUEUED == 0 && self.s.mass[at].abs() * self.weights[layer] > self.threshold {
            self.s.flags[at] |= QUEUED;
            self.s.queue.push_back((layer, i));
        }
    }

    fn settle(&mut self, i: u32, value: f64) {
        let at = i as usize;
        if self.s.estimate[at] == 0.0 {
            self.s.settled.push(i);
        }
        self.s.estimate[at] += value;
    }

    fn push(&mut self, layer: usize, i: u32) {
        let at = i as usize;
        let slot = self.s.at(layer, i);
        let g = std::mem::take(&mut self.s.mass[slot]);
        self.pushes += 1;
        let op = self.op;
        let p = op.params();
        if layer == 0 {
            self.settle(i, g);
            let diffusion = p.lambda_d * (1.0 - p.alpha) * g;
            if op.out[at] > 0.0 {
                for (q, a) in op.adjacency.positive(at, op.adjacency.a_out()) {
                    self.edge_reads += 1;
                    self.add(0, q, diffusion * a / op.out[at]);
                }
            } else {
                self.dangling += diffusion;
            }
            if p.lambda_s > 0.0 {
                let springs = p.lambda_s * g / (p.mu + op.d[at]);
                self.add(0, i, springs * p.mu);
                for (j, w) in op.adjacency.positive(at, op.adjacency.w()) {
                    self.edge_reads += 1;
                    self.add(0, j, springs * w);
                }
            }
            if p.lambda_h > 0.0 {
                self.add(1, i, p.lambda_h * g);
            }
        } else {
            let heat_k = self.weights[layer] - self.weights.get(layer + 1).copied().unwrap_or(0.0);
            self.add(0, i, heat_k * g);
            if layer + 1 < self.s.layers {
                if op.d[at] > 0.0 {
                    for (l, w) in op.adjacency.positive(at, op.adjacency.w()) {
                        self.edge_reads += 1;
                        self.add(layer + 1, l, g * w / op.d[at]);
                    }
                } else {
                    self.add(layer + 1, i, g);
                }
            }
        }
    }

    fn outstanding(&self) -> f64 {
        self.s.touched.iter().map(|&(l, i)| self.weighted(l, i)).sum()
    }

    fn largest(&self) -> f64 {
        self.s.touched.iter().map(|&(l, i)| self.weighted(l, i)).fold(0.0, f64::max)
    }

    /// Queues, in (layer, index) order, every entry above the current threshold, then pushes
    /// first in, first out until none is above it or `max_edge_reads` are spent.
    fn sweep(&mut self, max_edge_reads: usize) {
        let mut seeds: Vec<(usize, u32)> =
            self.s.touched.iter().copied().filter(|&(l, i)| self.weighted(l, i) > self.threshold).collect();
        seeds.sort_unstable();
        for &(l, i) in &seeds {
            let at = self.s.at(l, i);
            self.s.flags[at] |= QUEUED;
        }
        self.s.queue.extend(seeds);
        while self.edge_reads < max_edge_reads
            && let Some((l, i)) = self.s.queue.pop_front()
        {
            let at = self.s.at(l, i);
            self.s.flags[at] &= !QUEUED;
            if self.weighted(l, i) > self.threshold && self.op.adjacency.row(i as usize).len() <= self.longest_row {
                self.push(l, i);
            }
        }
    }

    /// Pushes in rounds of falling threshold until the outstanding mass is at most `target`;
    /// `None` once `max_edge_reads` entries have been read short of it.
    fn run(&mut self, target: f64, max_edge_reads: usize) -> Option<f64> {
        let mut outstanding = self.outstanding();
        while outstanding > target {
            if self.edge_reads >= max_edge_reads {
                return None;
            }
            // Each round lowers the bar below the largest entry left, so it always pushes.
            self.threshold = (self.largest() / 4.0).max(f64::MIN_POSITIVE);
            self.sweep(max_edge_reads);
            outstanding = self.outstanding();
        }
        Some(outstanding)
    }
}

impl FocusOperator {
    /// A local push of the query distribution `s` (`(particle, weight)` pairs, normalised
    /// here) that stops at `limits`: the ranking path of `related` and the teacher and push head
    /// of the compiled transformer. Deterministic: one first-in-first-out sweep seeded in index
    /// order. `scratch` must come from [`PushScratch::new`] on this operator.
    pub fn local_push(&self, scratch: &mut PushScratch, seeds: &[(u32, f64)], limits: PushLimits) -> LocalPush {
        let p = *self.params();
        let teleport = p.lambda_d * p.alpha;
        let total: f64 = seeds.iter().map(|(_, w)| w).sum();
        if seeds.is_empty() || total.is_nan() || total <= 0.0 {
            return LocalPush::default();
        }
        let mut pusher = Pusher::new(self, scratch);
        // In units of the answer a unit of residual is worth 1/teleport.
        pusher.threshold = limits.threshold * teleport;
        pusher.longest_row = limits.longest_row;
        for &(i, w) in seeds {
            pusher.add(0, i, teleport * w / total);
        }
        pusher.sweep(limits.max_edge_reads);
        // Each touched particle once (marked on an entry it touched, which the next push's reset
        // clears), ascending; its layers' mass summed in layer order (the untouched ones are
        // +0.0, which changes no sum of nonnegative terms).
        let layers = pusher.s.layers;
        let mut particles: Vec<u32> = Vec::new();
        for &(l, i) in &pusher.s.touched {
            let first = pusher.s.at(0, i);
            if pusher.s.flags[first..first + layers].iter().all(|&f| f & LISTED == 0) {
                pusher.s.flags[first + l] |= LISTED;
                particles.push(i);
            }
        }
        particles.sort_unstable();
        let residual: Vec<(u32, f64)> = particles
            .into_iter()
            .map(|i| (i, (0..layers).map(|l| pusher.weighted(l, i) / teleport).sum::<f64>()))
            .filter(|&(_, mass)| mass > 0.0)
            .collect();
        let remainder = residual.iter().map(|(_, m)| m).sum();
        // The next push resets this list in any order, so it is sorted in place.
        pusher.s.settled.sort_unstable();
        pusher.s.settled.dedup();
        let estimate = pusher.s.settled.iter().map(|&i| (i, pusher.s.estimate[i as usize])).collect();
        LocalPush {
            estimate,
            dangling: pusher.dangling / teleport,
            residual,
            remainder,
            pushes: pusher.pushes,
            edge_reads: pusher.edge_reads,
        }
    }

    /// The conditional focus `π*(·|s)` for a query distribution `s` given as `(particle,
    /// weight)` pairs (normalised here), within `epsilon` in ℓ1. `global` is this operator's
    /// focus `π*`, which resolves the mass that dangling particles send to the prior.
    pub fn conditional_focus(&self, seeds: &[(u32, f64)], global: &[f64], epsilon: f64) -> PushResult {
        let p = *self.params();
        let teleport = p.lambda_d * p.alpha;
        let total: f64 = seeds.iter().map(|(_, w)| w).sum();
        let mut scratch = PushScratch::new(self);
        let mut pusher = Pusher::new(self, &mut scratch);
        for &(i, w) in seeds {
            pusher.add(0, i, teleport * w / total);
        }
        let target = epsilon * (1.0 - p.kappa());
        let outstanding = pusher.run(target, usize::MAX).expect("an unbounded push ends");
        let scale = pusher.dangling / teleport;
        let vector = pusher.s.estimate.iter().zip(global).map(|(x, g)| x + scale * g).collect();
        PushResult { vector, pushes: pusher.pushes, error_bound: outstanding / (1.0 - p.kappa()) }
    }

    /// The edge reads after which an incremental push gives up: those of
    /// [`INCREMENTAL_BUDGET`] solver iterations as counted on the unfused matrices (`A` once,
    /// `W` once per spring and heat term; the CPU step fuses the first passes, but the budget,
    /// which decides what every node pushes, stays this count).
    pub fn incremental_budget(&self) -> usize {
        INCREMENTAL_BUDGET * (self.edge_count() + self.symmetric_nnz() * (self.params().heat_terms + 1))
    }

    /// `Σ focus_i` over this graph's dangling particles, in index order (`focus` has one entry
    /// per particle).
    fn dangling_mass(&self, focus: &[f64]) -> f64 {
        focus.iter().zip(&self.out).filter(|&(_, &out)| out == 0.0).map(|(x, _)| x).sum()
    }

    /// The focus of this graph from `previous`, the focus of `before` (the operator one block
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
    /// Returns `None` — a warm solve is then the cheaper path — when the local change touches
    /// more than a quarter of the particles (new links all over the graph, or neuron weights that
    /// changed everywhere), or when the push would read more than `max_edge_reads` matrix entries
    /// (see [`FocusOperator::incremental_budget`]), or when the previous graph was empty. The
    /// decision depends on the graphs, `previous` and the budget alone (the push is sequential),
    /// so every node makes the same one.
    pub fn incremental_focus(
        &self,
        before: &FocusOperator,
        previous: &[f64],
        epsilon: f64,
        max_edge_reads: usize,
    ) -> Option<PushResult> {
        if before.is_empty() {
            return None;
        }
        let n = self.len();
        let p = *self.params();
        let teleport = p.lambda_d * p.alpha;
        assert_eq!(previous.len(), before.len(), "`previous` is not the focus of `before`'s graph");
        // The previous graph's step at the previous focus: `M_old·π_old + λ_d·α·u_old`.
        let mut before_step = vec![0.0; before.len()];
        before.apply(previous, before.prior(), &mut before_step);
        let mut old = previous.to_vec();
        old.resize(n, 0.0);
        let mut residual = vec![0.0; n];
        self.apply(&old, self.prior(), &mut residual);
        let rho = self.prior_total / before.prior_total;
        let beta = teleport * (1.0 - rho)
            + p.lambda_d * (1.0 - p.alpha) * (self.dangling_mass(&old) - rho * before.dangling_mass(previous));
        // Entries below the floor (rounding) are left: all together they are at most
        // ε·(1 − κ)/2, so they add at most ε/2.
        let floor = epsilon * (1.0 - p.kappa()) / (2.0 * n as f64);
        let mut left = 0.0;
        let mut local: Vec<(u32, f64)> = Vec::new();
        // Particles new since had no step there.
        let before = before_step.into_iter().chain(std::iter::repeat(0.0));
        for (i, ((now, before), prior)) in residual.iter().zip(before).zip(&self.prior).enumerate() {
            let r = now - before - beta * prior;
            if r.abs() > floor {
                local.push((i as u32, r));
            } else {
                left += r.abs();
            }
        }
        if local.len() > n / 4 {
            return None;
        }
        let mut scratch = PushScratch::new(self);
        let mut pusher = Pusher::new(self, &mut scratch);
        pusher.dangling = beta;
        for (i, r) in local {
            pusher.add(0, i, r);
        }
        let outstanding = pusher.run(epsilon * (1.0 - p.kappa()) / 2.0, max_edge_reads)?;
        let scale = 1.0 - pusher.dangling / teleport;
        let mut vector: Vec<f64> =
            pusher.s.estimate.iter().zip(&old).map(|(x, o)| o + (x + pusher.dangling * o / teleport) / scale).collect();
        let total = tree_sum(&vector);
        vector.iter_mut().for_each(|v| *v /= total);
        let error_bound = (outstanding + left) / ((1.0 - p.kappa()) * scale.abs());
        Some(PushResult { vector, pushes: pusher.pushes, error_bound })
    }
}
