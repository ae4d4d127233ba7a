//! Answering `related` (spec/compiled-transformer.md, "Architecture"): the exact path (a local
//! push), the model alone (one forward pass and a scan of the output embedding) and the served
//! hybrid `p_push + ρ·q`.
//!
//! The output scan is memory-bound (`n × d` per query), so it reads an int8 copy of `E` (a
//! quarter of the bytes) with the query state quantised too, keeps the best [`RESCORED`] rows of
//! each chunk while it goes, and re-scores the best of those with the f32 rows. The softmax
//! normaliser comes from the same pass. Chunks run on every core; nothing of size `n` is
//! allocated per query.

use kernels::{Cpu, LocalPush, PushLimits};
use rayon::prelude::*;

use crate::{
    conditional::{self, Graph, ScratchPool},
    model::{Contexts, Model, dot},
    teacher,
};

/// Rows re-scored in f32 after the int8 scan.
pub const RESCORED: usize = 64;

/// Rows per scan task.
const SCAN_CHUNK: usize = 16_384;

/// Which path produced an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Local push to [`conditional::EXACT`].
    Exact,
    /// The push head and the model's answer for the remainder.
    Hybrid,
    /// One forward pass, no push.
    ModelOnly,
}

/// An answer: the best particles with scores (estimates of `π*(·|s)`), best first.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// `(particle, score)`.
    pub particles: Vec<(u32, f64)>,
    /// An ℓ1 bound on the scores' error: the unsettled mass `ρ` on the exact path (everything
    /// it omits is nonnegative), `2ρ` on the hybrid (the model places that mass, perhaps all
    /// wrong), 2 for the model alone (no guarantee).
    pub error_bound: f64,
    /// The path.
    pub path: Path,
}

/// A model ready to serve: the f32 weights and an int8 copy of the output embedding.
#[derive(Debug)]
pub struct Served {
    model: Model,
    /// Row-quantised `E`: row `j` is `scales[j]·quantised[j]`.
    quantised: Vec<i8>,
    scales: Vec<f32>,
}

/// One scan task's share: its best rows by int8 logit and its `exp` sum relative to its top.
struct ChunkScan {
    best: Vec<(u32, f32)>,
    top: f32,
    sum: f32,
}

/// What one scan found.
struct ScanResult {
    /// The best rows by f32 logit, best first.
    best: Vec<(u32, f32)>,
    /// `log Σ_j exp(logit_j)`.
    log_partition: f32,
}

fn quantise(row: &[f32]) -> (Vec<i8>, f32) {
    let largest = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
    (row.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale)
}

fn int_dot(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

/// `eˣ` for `x ≤ 0` (to a few ulp; below −87 it is `e⁻⁸⁷` ≈ 1.6e-38 rather than 0, and a NaN
/// gives that too — the model file's validation refuses non-finite weights) in plain arithmetic
/// that inlines into the scan where `f32::exp` is a library call per row: `x = k·ln 2 + r`, `eʳ`
/// by its degree-6 Taylor polynomial (|r| ≤ ln 2 / 2), `2ᵏ` by exponent bits.
fn exp_nonpositive(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
    let x = x.max(-87.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    // ln 2 split so that `k·LN2_HIGH` is exact.
    let r = (x - k * 0.693_145_75) - k * 1.428_606_8e-6;
    let poly = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let two_k = f32::from_bits(((shifted.to_bits() as i32 - ROUND.to_bits() as i32 + 127) << 23) as u32);
    poly * two_k
}

/// Rows scored together: their int8 logits first (a loop that vectorises), then their maximum
/// and `exp` sum (in order, so the same bits in either build).
const SCAN_BLOCK: usize = 64;

/// One scan task: the int8 rows `first..` with their scales and biases.
struct ScanChunk<'a> {
    query: &'a [i8],
    query_scale: f32,
    rows: &'a [i8],
    scales: &'a [f32],
    bias: &'a [f32],
    first: u32,
}

impl ScanChunk<'_> {
    fn scan(&self, keep: usize) -> ChunkScan {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above).
            return unsafe { self.scan_avx2(keep) };
        }
        self.scan_portable(keep)
    }

    /// The same loop compiled for AVX2 (integer products are exact and nothing is contracted
    /// into fused multiply-adds, so the answer is the same bits).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn scan_avx2(&self, keep: usize) -> ChunkScan {
        self.scan_portable(keep)
    }

    #[inline(always)]
    fn scan_portable(&self, keep: usize) -> ChunkScan {
        let d = self.query.len();
        let mut best: Vec<(u32, f32)> = Vec::with_capacity(2 * keep + SCAN_BLOCK);
        let mut floor = f32::NEG_INFINITY;
        let (mut top, mut sum) = (f32::NEG_INFINITY, 0.0f32);
        let mut logits = [0.0f32; SCAN_BLOCK];
        for (b, block) in self.rows.chunks(SCAN_BLOCK * d).enumerate() {
            let at = b * SCAN_BLOCK;
            let logits = &mut logits[..block.len() / d];
            for (r, (logit, row)) in logits.iter_mut().zip(block.chunks_exact(d)).enumerate() {
                *logit = int_dot(self.query, row) as f32 * self.query_scale * self.scales[at + r] + self.bias[at + r];
            }
            let block_top = logits.iter().fold(f32::NEG_INFINITY, |m, &z| m.max(z));
            if block_top > top {
                sum *= exp_nonpositive(top - block_top);
                top = block_top;
            }
            sum += logits.iter().map(|&z| exp_nonpositive(z - top)).sum::<f32>();
            if block_top > floor {
                for (r, &logit) in logits.iter().enumerate() {
                    if logit > floor {
                        best.push((self.first + (at + r) as u32, logit));
                    }
                }
                if best.len() > 2 * keep {
                    best.select_nth_unstable_by(keep, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    best.truncate(keep);
                    floor = best.iter().fold(f32::INFINITY, |m, x| m.min(x.1));
                }
            }
        }
        ChunkScan { best, top, sum }
    }
}

impl Served {
    /// Prepares `model` for serving.
    pub fn new(model: Model) -> Self {
        let d = model.shape.dim;
        let (mut quantised, mut scales) = (Vec::with_capacity(model.embedding.len()), Vec::new());
        for row in model.embedding.chunks_exact(d) {
            let (q, s) = quantise(row);
            quantised.extend(q);
            scales.push(s);
        }
        Served { model, quantised, scales }
    }

    /// The weights.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// This model on a graph that has grown since it was compiled, without retraining: rows
    /// for the particles added since (and for any still without one), each the weighted mean of
    /// its neighbours' rows, with bias `log π*` ([`crate::train::fold_in`]). `None` when the
    /// graph has no particle the model lacks.
    pub fn folded_in(&self, graph: &Graph<'_>) -> Option<Served> {
        if graph.focus.len() <= self.model.shape.particles {
            return None;
        }
        let mut model = self.model.clone();
        crate::train::fold_in(&mut model, graph);
        Some(Served::new(model))
    }

    fn scan(&self, h: &[f32], keep: usize) -> ScanResult {
        let d = self.model.shape.dim;
        let (hq, h_scale) = quantise(h);
        let chunks: Vec<ChunkScan> = self
            .quantised
            .par_chunks(SCAN_CHUNK * d)
            .enumerate()
            .map(|(c, rows)| {
                let first = c * SCAN_CHUNK;
                let chunk = ScanChunk {
                    query: &hq,
                    query_scale: h_scale,
                    rows,
                    scales: &self.scales[first..],
                    bias: &self.model.bias[first..],
                    first: first as u32,
                };
                chunk.scan(keep)
            })
            .collect();
        let top = chunks.iter().fold(f32::NEG_INFINITY, |m, c| m.max(c.top));
        let sum: f32 = chunks.iter().map(|c| c.sum * exp_nonpositive(c.top - top)).sum();
        let best = conditional::top_k(chunks.into_iter().flat_map(|c| c.best).map(|(j, z)| (j, z as f64)), keep);
        let mut best: Vec<(u32, f32)> = best.into_iter().map(|(j, _)| (j, self.logit(h, j))).collect();
        best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ScanResult { best, log_partition: top + sum.ln() }
    }

    pub(crate) fn logit(&self, h: &[f32], j: u32) -> f32 {
        dot(h, self.model.row(j)) + self.model.bias[j as usize]
    }

    pub(crate) fn encode(&self, context: &[(u32, f32)]) -> Vec<f32> {
        let mut contexts = Contexts::new();
        contexts.push(context);
        self.model.encode(&Cpu, &contexts)
    }

    /// The model alone: `softmax(h·Eᵀ + b)` for the context (equal masses), its best `k`
    /// outside the context.
    pub fn model_only(&self, context: &[u32], k: usize) -> Answer {
        let tokens: Vec<(u32, f32)> =
            context.iter().filter(|&&p| (p as usize) < self.model.shape.particles).map(|&p| (p, 1.0)).collect();
        if tokens.is_empty() {
            return Answer { particles: Vec::new(), error_bound: 2.0, path: Path::ModelOnly };
        }
        let h = self.encode(&tokens);
        let scan = self.scan(&h, (k + context.len()).max(RESCORED));
        let particles = scan
            .best
            .iter()
            .filter(|(j, _)| !context.contains(j))
            .take(k)
            .map(|&(j, z)| (j, ((z - scan.log_partition) as f64).exp()))
            .collect();
        Answer { particles, error_bound: 2.0, path: Path::ModelOnly }
    }

    /// The served hybrid: the push head's settled part plus `ρ·q`, `q` the model's answer for
    /// the head's frontier. Where the head settles everything, it is the exact path.
    pub fn hybrid(&self, graph: &Graph<'_>, head: &LocalPush, context_len: usize, k: usize, exclude: &[u32]) -> Answer {
        let settled = conditional::settled_top(graph, head, k + RESCORED, exclude);
        let frontier: Vec<(u32, f32)> = teacher::frontier(head, context_len)
            .into_iter()
            .filter(|&(j, _)| (j as usize) < self.model.shape.particles)
            .collect();
        if frontier.is_empty() || head.remainder <= 0.0 {
            let particles = settled.into_iter().take(k).collect();
            return Answer { particles, error_bound: head.remainder, path: Path::Exact };
        }
        let h = self.encode(&frontier);
        let scan = self.scan(&h, RESCORED);
        let q = |j: u32| {
            if (j as usize) < self.model.shape.particles {
                ((self.logit(&h, j) - scan.log_partition) as f64).exp()
            } else {
                0.0
            }
        };
        let mut candidates: Vec<u32> = settled
            .iter()
            .map(|&(j, _)| j)
            .chain(scan.best.iter().map(|&(j, _)| j))
            .filter(|j| !exclude.contains(j))
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        let scored =
            candidates.into_iter().map(|j| (j, conditional::settled_score(graph, head, j) + head.remainder * q(j)));
        Answer { particles: conditional::top_k(scored, k), error_bound: 2.0 * head.remainder, path: Path::Hybrid }
    }
}

fn push(graph: &Graph<'_>, pool: &ScratchPool, context: &[u32], limits: PushLimits) -> LocalPush {
    let seeds: Vec<(u32, f64)> = context.iter().map(|&p| (p, 1.0)).collect();
    pool.with(graph.operator, |scratch| graph.operator.local_push(scratch, &seeds, limits))
}

/// The exact path: a local push to `limits`, ranked.
pub fn exact(graph: &Graph<'_>, pool: &ScratchPool, context: &[u32], k: usize, limits: PushLimits) -> Answer {
    let push = push(graph, pool, context, limits);
    Answer {
        particles: conditional::settled_top(graph, &push, k, context),
        error_bound: push.remainder,
        path: Path::Exact,
    }
}

/// `related` on one graph: the served hybrid when a model is given, else the exact path.
pub fn related(graph: &Graph<'_>, pool: &ScratchPool, model: Option<&Served>, context: &[u32], k: usize) -> Answer {
    match model {
        Some(served) => {
            served.hybrid(graph, &push(graph, pool, context, conditional::HEAD), HYBRID_CONTEXT, k, context)
        }
        None => exact(graph, pool, context, k, conditional::EXACT),
    }
}

/// Frontier tokens the served hybrid gives the model (the training default).
pub const HYBRID_CONTEXT: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Shape;

    #[test]
    fn the_vectorisable_exp_is_within_a_few_ulp_of_libm() {
        for i in 0..=200_000 {
            let x = -87.0 * i as f32 / 200_000.0;
            let (got, want) = (exp_nonpositive(x), libm::expf(x));
            assert!((got - want).abs() <= 4.0 * f32::EPSILON * want, "e^{x}: {got} vs {want}");
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(f32::NEG_INFINITY) < 1e-37);
    }

    #[test]
    fn the_blocked_scan_finds_the_best_rows_and_the_partition_of_a_plain_loop() {
        // 40,037 particles: three scan tasks, the last one partial and ending in a partial block.
        let shape = Shape { particles: 40_037, dim: 16, hidden: 32, blocks: 1 };
        let mut gaussian = crate::linalg::Gaussian::new(5);
        let embedding = (0..shape.particles * shape.dim).map(|_| gaussian.sample() as f32).collect();
        let bias = (0..shape.particles).map(|_| gaussian.sample() as f32).collect();
        let served = Served::new(Model::initial(shape, embedding, bias, 1));
        let h: Vec<f32> = (0..16).map(|_| gaussian.sample() as f32).collect();
        let scan = served.scan(&h, RESCORED);

        let (hq, h_scale) = quantise(&h);
        let d = shape.dim;
        let quantised: Vec<f32> = (0..shape.particles)
            .map(|j| {
                let row = &served.quantised[j * d..][..d];
                int_dot(&hq, row) as f32 * h_scale * served.scales[j] + served.model.bias[j]
            })
            .collect();
        let mut by_int8: Vec<(u32, f64)> = quantised.iter().enumerate().map(|(j, &z)| (j as u32, z as f64)).collect();
        by_int8 = conditional::top_k(by_int8, RESCORED);
        let mut expected: Vec<(u32, f32)> = by_int8.iter().map(|&(j, _)| (j, served.logit(&h, j))).collect();
        expected.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        assert_eq!(scan.best, expected);

        let top = quantised.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let partition = top + quantised.iter().map(|&z| (z as f64 - top).exp()).sum::<f64>().ln();
        assert!((scan.log_partition as f64 - partition).abs() < 1e-4, "{} vs {partition}", scan.log_partition);
    }
}
