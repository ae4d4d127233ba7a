//! The compiled transformer: a tied token embedding, pre-norm blocks over the context tokens,
//! a mass-weighted pool and the tied output head with a per-particle bias, with its forward and
//! backward passes written out (spec/compiled-transformer.md, "Architecture").
//!
//! For a context of tokens `t_1..t_L` with masses `w_1..w_L` (summing to 1):
//!
//! ```text
//! x_i = E[t_i]
//! per block:  a = LN₁(x);  q, k, v = a·W_q, a·W_k, a·W_v
//!             o_i = Σ_j softmax_j(q_i·k_j/√d + ln w_j)·v_j;   x ← x + o·W_o
//!             b = LN₂(x);  x ← x + relu(b·W_1 + b_1)·W_2 + b_2
//! h = Σ_i w_i·x_i;   logit_j = h·E[j] + bias_j
//! ```
//!
//! `W_o` and `W_2` start at zero, so the untrained network is exactly the spectral model
//! `logit_j = (Σ_i w_i·E[t_i])·E[j] + log π*_j`: the pool mixes the context's embeddings as
//! the conditional focus mixes its particles' conditionals (it is linear in the context).
//!
//! Every product goes through the compute backend (`kernels::Backend::matmul`, fixed summation
//! order); every other sum runs in a fixed order on one thread, or on disjoint rows in
//! parallel, so the same inputs give the same bits on any thread count.

use kernels::{
    Backend,
    dense::{Matrix, Path},
};
use rayon::prelude::*;

use crate::linalg::Gaussian;

/// LayerNorm's variance floor.
const NORM_EPSILON: f32 = 1e-5;

/// The sizes of a model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shape {
    /// Particles (the vocabulary), in the engine's index order.
    pub particles: usize,
    /// Embedding width `d`.
    pub dim: usize,
    /// Hidden width of each block's MLP.
    pub hidden: usize,
    /// Transformer blocks.
    pub blocks: usize,
}

/// One tensor of a block, in the order the block's parameters are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    Norm1Gain,
    Norm1Shift,
    Query,
    Key,
    Value,
    Out,
    Norm2Gain,
    Norm2Shift,
    Up,
    UpBias,
    Down,
    DownBias,
}

impl Part {
    pub(crate) const ALL: [Part; 12] = [
        Part::Norm1Gain,
        Part::Norm1Shift,
        Part::Query,
        Part::Key,
        Part::Value,
        Part::Out,
        Part::Norm2Gain,
        Part::Norm2Shift,
        Part::Up,
        Part::UpBias,
        Part::Down,
        Part::DownBias,
    ];

    /// The tensor's name in the model file, after `blocks.{i}.`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Part::Norm1Gain => "norm1.gain",
            Part::Norm1Shift => "norm1.shift",
            Part::Query => "attention.query",
            Part::Key => "attention.key",
            Part::Value => "attention.value",
            Part::Out => "attention.out",
            Part::Norm2Gain => "norm2.gain",
            Part::Norm2Shift => "norm2.shift",
            Part::Up => "mlp.up",
            Part::UpBias => "mlp.up_bias",
            Part::Down => "mlp.down",
            Part::DownBias => "mlp.down_bias",
        }
    }

    /// `(rows, columns)`; vectors have one row.
    pub(crate) fn dims(self, shape: &Shape) -> (usize, usize) {
        let (d, h) = (shape.dim, shape.hidden);
        match self {
            Part::Norm1Gain | Part::Norm1Shift | Part::Norm2Gain | Part::Norm2Shift | Part::DownBias => (1, d),
            Part::Query | Part::Key | Part::Value | Part::Out => (d, d),
            Part::Up => (d, h),
            Part::UpBias => (1, h),
            Part::Down => (h, d),
        }
    }
}

impl Shape {
    /// Entries of one block's parameters.
    fn block_len(&self) -> usize {
        Part::ALL.iter().map(|p| p.dims(self).0 * p.dims(self).1).sum()
    }

    /// Entries of all blocks' parameters (the dense parameter vector).
    pub(crate) fn dense_len(&self) -> usize {
        self.blocks * self.block_len()
    }

    /// Where `part` of `block` lies in the dense parameter vector.
    pub(crate) fn range(&self, block: usize, part: Part) -> std::ops::Range<usize> {
        let mut start = block * self.block_len();
        for p in Part::ALL {
            let (r, c) = p.dims(self);
            if p == part {
                return start..start + r * c;
            }
            start += r * c;
        }
        unreachable!("every part is in Part::ALL")
    }
}

/// The weights.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// Sizes.
    pub shape: Shape,
    /// `E`, row-major `particles × dim`: input tokens and output head.
    pub embedding: Vec<f32>,
    /// Output bias per particle (initialised to `log π*`).
    pub bias: Vec<f32>,
    /// Every block's tensors, laid out by [`Shape::range`].
    pub dense: Vec<f32>,
}

/// A batch of contexts: context `c` is `tokens[starts[c]..starts[c + 1]]` with the masses in
/// `weights` (each context's sum to 1).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Contexts {
    /// Particle indices.
    pub tokens: Vec<u32>,
    /// Mass of each token within its context.
    pub weights: Vec<f32>,
    /// Context boundaries; `starts.len()` is the number of contexts + 1.
    pub starts: Vec<usize>,
}

impl Contexts {
    /// An empty batch.
    pub fn new() -> Self {
        Contexts { tokens: Vec::new(), weights: Vec::new(), starts: vec![0] }
    }

    /// Appends a context of `(particle, mass)` pairs; masses are normalised here.
    pub fn push(&mut self, context: &[(u32, f32)]) {
        let total: f32 = context.iter().map(|(_, w)| w).sum();
        for &(t, w) in context {
            self.tokens.push(t);
            self.weights.push(w / total);
        }
        self.starts.push(self.tokens.len());
    }

    /// Number of contexts.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn range(&self, c: usize) -> std::ops::Range<usize> {
        self.starts[c]..self.starts[c + 1]
    }
}

/// What the backward pass needs from one block's forward pass.
struct BlockTrace {
    norm1: NormTrace,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    /// Attention probabilities, each context's `L × L` block one after the other.
    probs: Vec<f32>,
    attended: Vec<f32>,
    norm2: NormTrace,
    pre: Vec<f32>,
    act: Vec<f32>,
}

struct NormTrace {
    normalised: Vec<f32>,
    inv_std: Vec<f32>,
    out: Vec<f32>,
}

/// The forward pass kept for the backward pass.
pub(crate) struct Trace {
    blocks: Vec<BlockTrace>,
}

/// Gradients of one batch: the dense parameters, and one row per context token (to be added to
/// that token's embedding row).
pub(crate) struct Gradients {
    pub(crate) dense: Vec<f32>,
    pub(crate) tokens: Vec<f32>,
}

/// Rows of one product handed to a thread.
const ROWS_PER_TASK: usize = 128;

/// `x·W` for the row-major `rows(x) × r` matrix `x` and the row-major `r × c` matrix `w`, rows
/// split across threads (each output row's sums stay in the backend's fixed order).
fn product<B: Backend>(backend: &B, x: &[f32], w: &[f32], r: usize, c: usize) -> Vec<f32> {
    let matrix = Matrix::new(r, c, w.to_vec());
    let parts: Vec<Vec<f32>> = x
        .par_chunks(ROWS_PER_TASK * r)
        .map(|rows| backend.matmul(rows, &matrix, Path::Fast).expect("a matrix product failed on its device"))
        .collect();
    parts.concat()
}

/// The row-major transpose of a row-major `r × c` matrix.
pub(crate) fn transpose(a: &[f32], r: usize, c: usize) -> Vec<f32> {
    let mut t = vec![0.0; a.len()];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = a[i * c + j];
        }
    }
    t
}

/// `xᵀ·y` for `x` (`n × r`) and `y` (`n × c`): a weight gradient, summed over rows ascending.
fn outer_sum<B: Backend>(backend: &B, x: &[f32], y: &[f32], r: usize, c: usize) -> Vec<f32> {
    let n = x.len() / r;
    product(backend, &transpose(x, n, r), y, n, c)
}

fn layer_norm(x: &[f32], gain: &[f32], shift: &[f32]) -> NormTrace {
    let d = gain.len();
    let rows = x.len() / d;
    let mut normalised = vec![0.0; x.len()];
    let mut inv_std = vec![0.0; rows];
    let mut out = vec![0.0; x.len()];
    for r in 0..rows {
        let row = &x[r * d..][..d];
        let mean = row.iter().sum::<f32>() / d as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d as f32;
        let s = 1.0 / (var + NORM_EPSILON).sqrt();
        inv_std[r] = s;
        for j in 0..d {
            let n = (row[j] - mean) * s;
            normalised[r * d + j] = n;
            out[r * d + j] = n * gain[j] + shift[j];
        }
    }
    NormTrace { normalised, inv_std, out }
}

/// LayerNorm's backward pass: returns `dx`, adds into `d_gain`/`d_shift`.
fn layer_norm_back(trace: &NormTrace, gain: &[f32], dy: &[f32], d_gain: &mut [f32], d_shift: &mut [f32]) -> Vec<f32> {
    let d = gain.len();
    let mut dx = vec![0.0; dy.len()];
    for r in 0..trace.inv_std.len() {
        let xhat = &trace.normalised[r * d..][..d];
        let g = &dy[r * d..][..d];
        let mut mean_dxhat = 0.0;
        let mut mean_dxhat_xhat = 0.0;
        for j in 0..d {
            d_gain[j] += g[j] * xhat[j];
            d_shift[j] += g[j];
            let dxhat = g[j] * gain[j];
            mean_dxhat += dxhat;
            mean_dxhat_xhat += dxhat * xhat[j];
        }
        mean_dxhat /= d as f32;
        mean_dxhat_xhat /= d as f32;
        for j in 0..d {
            let dxhat = g[j] * gain[j];
            dx[r * d + j] = trace.inv_std[r] * (dxhat - mean_dxhat - xhat[j] * mean_dxhat_xhat);
        }
    }
    dx
}

pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

impl Model {
    /// A model whose embedding and bias are given (the analytic initialisation), with the
    /// blocks' projections drawn from a seeded Gaussian and the residual outputs at zero.
    pub fn initial(shape: Shape, embedding: Vec<f32>, bias: Vec<f32>, seed: u64) -> Self {
        assert_eq!(embedding.len(), shape.particles * shape.dim);
        assert_eq!(bias.len(), shape.particles);
        let mut dense = vec![0.0; shape.dense_len()];
        let mut gaussian = Gaussian::new(seed);
        for block in 0..shape.blocks {
            for part in Part::ALL {
                let range = shape.range(block, part);
                let fan_in = part.dims(&shape).0 as f64;
                match part {
                    Part::Norm1Gain | Part::Norm2Gain => dense[range].fill(1.0),
                    Part::Query | Part::Key | Part::Value | Part::Up => {
                        let scale = 1.0 / fan_in.sqrt();
                        dense[range].iter_mut().for_each(|w| *w = (gaussian.sample() * scale) as f32);
                    }
                    _ => {}
                }
            }
        }
        Model { shape, embedding, bias, dense }
    }

    /// Particle `i`'s embedding row.
    pub fn row(&self, i: u32) -> &[f32] {
        &self.embedding[i as usize * self.shape.dim..][..self.shape.dim]
    }

    fn part(&self, block: usize, part: Part) -> &[f32] {
        &self.dense[self.shape.range(block, part)]
    }

    /// The pooled state `h` of each context (row-major `contexts × dim`).
    pub fn encode<B: Backend>(&self, backend: &B, contexts: &Contexts) -> Vec<f32> {
        self.forward(backend, contexts).0
    }

    /// The forward pass: the pooled states and what the backward pass needs.
    pub(crate) fn forward<B: Backend>(&self, backend: &B, contexts: &Contexts) -> (Vec<f32>, Trace) {
        let d = self.shape.dim;
        let mut x: Vec<f32> = contexts.tokens.iter().flat_map(|&t| self.row(t).iter().copied()).collect();
        let mut blocks = Vec::with_capacity(self.shape.blocks);
        for block in 0..self.shape.blocks {
            let (trace, next) = self.block_forward(backend, block, contexts, x);
            blocks.push(trace);
            x = next;
        }
        let mut pooled = vec![0.0; contexts.len() * d];
        for c in 0..contexts.len() {
            let h = &mut pooled[c * d..][..d];
            for t in contexts.range(c) {
                let w = contexts.weights[t];
                h.iter_mut().zip(&x[t * d..][..d]).for_each(|(h, x)| *h += w * x);
            }
        }
        (pooled, Trace { blocks })
    }

    fn block_forward<B: Backend>(
        &self,
        backend: &B,
        block: usize,
        contexts: &Contexts,
        x: Vec<f32>,
    ) -> (BlockTrace, Vec<f32>) {
        let (d, h) = (self.shape.dim, self.shape.hidden);
        let norm1 = layer_norm(&x, self.part(block, Part::Norm1Gain), self.part(block, Part::Norm1Shift));
        let q = product(backend, &norm1.out, self.part(block, Part::Query), d, d);
        let k = product(backend, &norm1.out, self.part(block, Part::Key), d, d);
        let v = product(backend, &norm1.out, self.part(block, Part::Value), d, d);
        let scale = 1.0 / (d as f32).sqrt();
        let mut probs = Vec::new();
        let mut attended = vec![0.0; x.len()];
        for c in 0..contexts.len() {
            let range = contexts.range(c);
            for i in range.clone() {
                let scores: Vec<f32> = range
                    .clone()
                    .map(|j| dot(&q[i * d..][..d], &k[j * d..][..d]) * scale + libm::logf(contexts.weights[j]))
                    .collect();
                let top = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = scores.iter().map(|s| libm::expf(s - top)).collect();
                let total: f32 = exps.iter().sum();
                for (j, e) in range.clone().zip(exps) {
                    let p = e / total;
                    probs.push(p);
                    attended[i * d..][..d].iter_mut().zip(&v[j * d..][..d]).for_each(|(o, v)| *o += p * v);
                }
            }
        }
        let projected = product(backend, &attended, self.part(block, Part::Out), d, d);
        let mid: Vec<f32> = x.iter().zip(&projected).map(|(a, b)| a + b).collect();
        let norm2 = layer_norm(&mid, self.part(block, Part::Norm2Gain), self.part(block, Part::Norm2Shift));
        let mut pre = product(backend, &norm2.out, self.part(block, Part::Up), d, h);
        let up_bias = self.part(block, Part::UpBias);
        pre.chunks_exact_mut(h).for_each(|row| row.iter_mut().zip(up_bias).for_each(|(p, b)| *p += b));
        let act: Vec<f32> = pre.iter().map(|&p| p.max(0.0)).collect();
        let down = product(backend, &act, self.part(block, Part::Down), h, d);
        let down_bias = self.part(block, Part::DownBias);
        let mut out = mid.clone();
        for (row, delta) in out.chunks_exact_mut(d).zip(down.chunks_exact(d)) {
            for j in 0..d {
                row[j] += delta[j] + down_bias[j];
            }
        }
        (BlockTrace { norm1, q, k, v, probs, attended, norm2, pre, act }, out)
    }

    /// The backward pass from `d_pooled` (the loss gradient of each context's `h`).
    pub(crate) fn backward<B: Backend>(
        &self,
        backend: &B,
        contexts: &Contexts,
        trace: &Trace,
        d_pooled: &[f32],
    ) -> Gradients {
        let d = self.shape.dim;
        let mut dense = vec![0.0; self.shape.dense_len()];
        let mut dx = vec![0.0; contexts.tokens.len() * d];
        for c in 0..contexts.len() {
            for t in contexts.range(c) {
                let w = contexts.weights[t];
                dx[t * d..][..d].iter_mut().zip(&d_pooled[c * d..][..d]).for_each(|(g, h)| *g = w * h);
            }
        }
        for (block, block_trace) in trace.blocks.iter().enumerate().rev() {
            dx = self.block_backward(backend, block, contexts, block_trace, dx, &mut dense);
        }
        Gradients { dense, tokens: dx }
    }

    fn block_backward<B: Backend>(
        &self,
        backend: &B,
        block: usize,
        contexts: &Contexts,
        t: &BlockTrace,
        d_out: Vec<f32>,
        grads: &mut [f32],
    ) -> Vec<f32> {
        let (d, h) = (self.shape.dim, self.shape.hidden);
        let shape = self.shape;
        let add = |grads: &mut [f32], part: Part, values: &[f32]| {
            grads[shape.range(block, part)].iter_mut().zip(values).for_each(|(g, v)| *g += v);
        };
        // MLP: out = mid + relu(norm2·W1 + b1)·W2 + b2.
        add(grads, Part::Down, &outer_sum(backend, &t.act, &d_out, h, d));
        let mut down_bias = vec![0.0; d];
        d_out.chunks_exact(d).for_each(|row| down_bias.iter_mut().zip(row).for_each(|(b, g)| *b += g));
        add(grads, Part::DownBias, &down_bias);
        let mut d_pre = product(backend, &d_out, &transpose(self.part(block, Part::Down), h, d), d, h);
        d_pre.iter_mut().zip(&t.pre).for_each(|(g, &p)| {
            if p <= 0.0 {
                *g = 0.0
            }
        });
        add(grads, Part::Up, &outer_sum(backend, &t.norm2.out, &d_pre, d, h));
        let mut up_bias = vec![0.0; h];
        d_pre.chunks_exact(h).for_each(|row| up_bias.iter_mut().zip(row).for_each(|(b, g)| *b += g));
        add(grads, Part::UpBias, &up_bias);
        let d_norm2 = product(backend, &d_pre, &transpose(self.part(block, Part::Up), d, h), h, d);
        let (mut d_gain, mut d_shift) = (vec![0.0; d], vec![0.0; d]);
        let d_mid_norm =
            layer_norm_back(&t.norm2, self.part(block, Part::Norm2Gain), &d_norm2, &mut d_gain, &mut d_shift);
        add(grads, Part::Norm2Gain, &d_gain);
        add(grads, Part::Norm2Shift, &d_shift);
        let d_mid: Vec<f32> = d_out.iter().zip(&d_mid_norm).map(|(a, b)| a + b).collect();
        // Attention: mid = input + attended·Wo.
        add(grads, Part::Out, &outer_sum(backend, &t.attended, &d_mid, d, d));
        let d_attended = product(backend, &d_mid, &transpose(self.part(block, Part::Out), d, d), d, d);
        let scale = 1.0 / (d as f32).sqrt();
        let (mut dq, mut dk, mut dv) = (vec![0.0; t.q.len()], vec![0.0; t.k.len()], vec![0.0; t.v.len()]);
        let mut at = 0;
        for c in 0..contexts.len() {
            let range = contexts.range(c);
            let len = range.len();
            for i in range.clone() {
                let probs = &t.probs[at..at + len];
                at += len;
                let dp: Vec<f32> = range.clone().map(|j| dot(&d_attended[i * d..][..d], &t.v[j * d..][..d])).collect();
                let expected: f32 = probs.iter().zip(&dp).map(|(p, g)| p * g).sum();
                for (slot, j) in range.clone().enumerate() {
                    let p = probs[slot];
                    dv[j * d..][..d].iter_mut().zip(&d_attended[i * d..][..d]).for_each(|(g, o)| *g += p * o);
                    let ds = p * (dp[slot] - expected) * scale;
                    for e in 0..d {
                        dq[i * d + e] += ds * t.k[j * d + e];
                        dk[j * d + e] += ds * t.q[i * d + e];
                    }
                }
            }
        }
        add(grads, Part::Query, &outer_sum(backend, &t.norm1.out, &dq, d, d));
        add(grads, Part::Key, &outer_sum(backend, &t.norm1.out, &dk, d, d));
        add(grads, Part::Value, &outer_sum(backend, &t.norm1.out, &dv, d, d));
        let mut d_norm1 = product(backend, &dq, &transpose(self.part(block, Part::Query), d, d), d, d);
        for (g, part) in [(&dk, Part::Key), (&dv, Part::Value)] {
            let more = product(backend, g, &transpose(self.part(block, part), d, d), d, d);
            d_norm1.iter_mut().zip(more).for_each(|(a, b)| *a += b);
        }
        let (mut d_gain, mut d_shift) = (vec![0.0; d], vec![0.0; d]);
        let d_input_norm =
            layer_norm_back(&t.norm1, self.part(block, Part::Norm1Gain), &d_norm1, &mut d_gain, &mut d_shift);
        add(grads, Part::Norm1Gain, &d_gain);
        add(grads, Part::Norm1Shift, &d_shift);
        d_mid.iter().zip(&d_input_norm).map(|(a, b)| a + b).collect()
    }
}

#[cfg(test)]
mod tests {
    use kernels::Cpu;

    use super::*;

    fn small_model() -> Model {
        let shape = Shape { particles: 7, dim: 8, hidden: 12, blocks: 2 };
        let mut g = Gaussian::new(3);
        let embedding = (0..7 * 8).map(|_| g.sample() as f32 * 0.5).collect();
        let bias = (0..7).map(|i| -(i as f32) * 0.1).collect();
        let mut model = Model::initial(shape, embedding, bias, 5);
        // Non-zero residual outputs so every path carries gradient.
        model.dense.iter_mut().for_each(|w| *w += g.sample() as f32 * 0.2);
        model
    }

    /// A scalar loss of the pooled states: `Σ_c Σ_e h_ce · r_ce` for fixed `r`.
    fn loss(model: &Model, contexts: &Contexts, r: &[f32]) -> f64 {
        let (pooled, _) = model.forward(&Cpu, contexts);
        pooled.iter().zip(r).map(|(h, r)| (*h as f64) * (*r as f64)).sum()
    }

    #[test]
    fn backward_matches_finite_differences() {
        let model = small_model();
        let mut contexts = Contexts::new();
        contexts.push(&[(2, 1.0)]);
        contexts.push(&[(0, 0.5), (3, 0.3), (6, 0.2)]);
        contexts.push(&[(4, 2.0), (1, 1.0)]);
        let r: Vec<f32> = (0..3 * 8).map(|i| ((i * 7) % 5) as f32 - 2.0).collect();
        let (_, trace) = model.forward(&Cpu, &contexts);
        let grads = model.backward(&Cpu, &contexts, &trace, &r);
        let step = 1e-2f32;
        let check = |analytic: f32, numeric: f64, what: &str| {
            let tolerance = 2e-2 * numeric.abs().max(analytic.abs() as f64).max(0.05);
            assert!((analytic as f64 - numeric).abs() < tolerance, "{what}: analytic {analytic} vs numeric {numeric}");
        };
        for i in (0..model.dense.len()).step_by(7) {
            let (mut plus, mut minus) = (model.clone(), model.clone());
            plus.dense[i] += step;
            minus.dense[i] -= step;
            let numeric = (loss(&plus, &contexts, &r) - loss(&minus, &contexts, &r)) / (2.0 * step as f64);
            check(grads.dense[i], numeric, &format!("dense[{i}]"));
        }
        // A token's gradient is its embedding row's (tokens are distinct here).
        for (slot, &token) in contexts.tokens.iter().enumerate() {
            for e in [0, 3, 7] {
                let at = token as usize * 8 + e;
                let (mut plus, mut minus) = (model.clone(), model.clone());
                plus.embedding[at] += step;
                minus.embedding[at] -= step;
                let numeric = (loss(&plus, &contexts, &r) - loss(&minus, &contexts, &r)) / (2.0 * step as f64);
                check(grads.tokens[slot * 8 + e], numeric, &format!("token {token} entry {e}"));
            }
        }
    }

    #[test]
    fn the_forward_pass_on_a_gpu_is_the_cpus() {
        let gpu = match kernels::Cuda::new(0) {
            Ok(gpu) => gpu,
            Err(why) => return eprintln!("skipped on CUDA: {why}"),
        };
        let model = small_model();
        let mut contexts = Contexts::new();
        contexts.push(&[(2, 1.0)]);
        contexts.push(&[(0, 0.5), (3, 0.3), (6, 0.2)]);
        let bits = |h: Vec<f32>| h.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(model.encode(&gpu, &contexts)), bits(model.encode(&Cpu, &contexts)));
    }

    #[test]
    fn the_untrained_network_is_the_spectral_mixture() {
        let shape = Shape { particles: 5, dim: 4, hidden: 8, blocks: 1 };
        let embedding: Vec<f32> = (0..20).map(|i| (i as f32 * 0.37).sin()).collect();
        let model = Model::initial(shape, embedding.clone(), vec![0.0; 5], 9);
        let mut contexts = Contexts::new();
        contexts.push(&[(1, 3.0), (4, 1.0)]);
        let h = model.encode(&Cpu, &contexts);
        for e in 0..4 {
            let mixed = 0.75 * embedding[4 + e] + 0.25 * embedding[16 + e];
            assert!((h[e] - mixed).abs() < 1e-6, "{} vs {mixed}", h[e]);
        }
    }
}
