//! Compilation: the teacher's examples, the analytic initialisation and AdamW on the forward KL
//! (spec/compiled-transformer.md, "Analytic initialisation" and "Fine-tuning").
//!
//! Determinism: every random choice comes from ChaCha streams seeded by [`Settings::seed`];
//! examples are computed per query and collected in query order; a batch's per-example work runs
//! in parallel into separate outputs, and everything summed across examples (embedding rows,
//! biases, the dense parameters) is summed in one fixed order. The model file is therefore the
//! same bytes on any thread count.

use std::{ops::ControlFlow, time::Instant};

use kernels::{Cpu, PushLimits};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;

use crate::{
    conditional::Graph,
    linalg,
    model::{Contexts, Model, Shape},
    teacher::{self, Example},
};

/// Above this many particles the softmax is sampled; below it every particle is a candidate.
const FULL_SOFTMAX_MAX: usize = 4096;

/// What to compile.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// Embedding width `d`.
    pub dim: usize,
    /// Hidden width of the MLPs.
    pub hidden: usize,
    /// Transformer blocks.
    pub blocks: usize,
    /// Context tokens of a hybrid example (the push frontier's heaviest particles).
    pub context: usize,
    /// Training queries (each gives a model-only and a hybrid example).
    pub queries: usize,
    /// The teacher's per-particle residual threshold (its push limits otherwise the exact
    /// path's).
    pub teacher_threshold: f64,
    /// Conditionals sampled for the randomised SVD.
    pub init_queries: usize,
    /// Optimiser steps.
    pub steps: usize,
    /// Examples per step.
    pub batch: usize,
    /// Uniform negatives shared by a batch (sampled softmax).
    pub negatives: usize,
    /// Peak AdamW learning rate (linear warm-up, cosine decay to a tenth).
    pub learning_rate: f32,
    /// Decoupled weight decay.
    pub weight_decay: f32,
    /// Particles (per mille of the linked ones) held out as query particles.
    pub held_out_permille: u64,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            dim: 64,
            hidden: 128,
            blocks: 1,
            context: crate::serve::HYBRID_CONTEXT,
            queries: 80_000,
            teacher_threshold: 1e-5,
            init_queries: 4096,
            steps: 8000,
            batch: 256,
            negatives: 512,
            learning_rate: 1e-2,
            weight_decay: 1e-4,
            held_out_permille: 20,
            seed: 1,
        }
    }
}

impl Settings {
    /// The teacher's push limits.
    pub fn teacher_limits(&self) -> PushLimits {
        PushLimits { threshold: self.teacher_threshold, ..crate::conditional::EXACT }
    }
}

/// Where a compilation is, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    /// Teacher conditionals computed so far.
    Teacher { done: usize, total: usize },
    /// The randomised SVD is running.
    Initialising,
    /// Optimiser steps done, with the recent mean loss (forward KL, nats).
    Training { step: usize, steps: usize, loss: f32 },
}

/// A compiled model with what the report needs.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The trained model.
    pub model: Model,
    /// The analytic initialisation alone (the spectral baseline).
    pub spectral: Model,
    /// Training examples.
    pub examples: usize,
    /// Mean loss of the last steps.
    pub final_loss: f32,
    /// Seconds spent on the teacher, the initialisation and training.
    pub seconds: [f64; 3],
    /// What was compiled with.
    pub settings: Settings,
}

/// What a compile's progress callback answers: go on, or stop (the node is shutting down).
pub type Proceed = ControlFlow<()>;

/// Teacher queries between two questions to `progress`: each query's examples are its own (the
/// chunks only schedule them), and on WordNet + FOLDOC a chunk takes about 2 s on two cores, so
/// a node that stops does not wait long for its background compile (1,024 took ~16 s).
const TEACHER_CHUNK: usize = 128;

/// Compiles a model of `graph`; `None` when `progress` answered stop (it is asked between
/// teacher chunks, after the initialisation and every ten optimiser steps).
pub fn compile(
    graph: &Graph<'_>,
    settings: &Settings,
    progress: &(dyn Fn(Progress) -> Proceed + Sync),
) -> Option<Compiled> {
    let n = graph.focus.len();
    let started = Instant::now();
    let held_out = teacher::held_out(graph, settings.held_out_permille, settings.seed);
    let queries = teacher::training_queries(graph, &held_out, settings.queries, settings.seed ^ 1);
    let mut examples = Vec::with_capacity(queries.len() * 2);
    // One push scratch per concurrent worker for the whole teacher, not one per chunk and split.
    let scratch = crate::conditional::ScratchPool::default();
    for (i, chunk) in queries.chunks(TEACHER_CHUNK).enumerate() {
        examples.extend(teacher::examples(graph, &scratch, chunk, settings.context, settings.teacher_limits()));
        let done = (i * TEACHER_CHUNK + chunk.len()).min(queries.len());
        if progress(Progress::Teacher { done, total: queries.len() }).is_break() {
            return None;
        }
    }
    let teacher_seconds = started.elapsed().as_secs_f64();

    if progress(Progress::Initialising).is_break() {
        return None;
    }
    let started = Instant::now();
    let spectral = initialise(graph, &examples, settings);
    let init_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut model = spectral.clone();
    let final_loss =
        if examples.is_empty() || n == 0 { 0.0 } else { train(&mut model, &examples, settings, progress)? };
    Some(Compiled {
        model,
        spectral,
        examples: examples.len(),
        final_loss,
        seconds: [teacher_seconds, init_seconds, started.elapsed().as_secs_f64()],
        settings: *settings,
    })
}

/// The analytic initialisation: `E = V·√Σ` of `log(max(n·T, 1))` over the first
/// `init_queries` model-only targets, bias `log π*`, and particles no sampled conditional
/// reached folded in from their neighbours.
fn initialise(graph: &Graph<'_>, examples: &[Example], settings: &Settings) -> Model {
    let n = graph.focus.len();
    let rows: Vec<Vec<(u32, f64)>> = examples
        .iter()
        // The model-only examples (a query's whole conditional), not a hybrid's remainder,
        // whatever its frontier's length.
        .filter(|e| e.excluded.is_some())
        .take(settings.init_queries)
        .map(|e| {
            let mut row: Vec<(u32, f64)> = e
                .target
                .entries
                .iter()
                .map(|&(j, p)| (j, libm::log((n as f64 * p as f64).max(1.0))))
                .filter(|(_, v)| *v > 0.0)
                .collect();
            row.sort_unstable_by_key(|&(j, _)| j);
            row
        })
        .collect();
    let shape = Shape { particles: n, dim: settings.dim, hidden: settings.hidden, blocks: settings.blocks };
    let spectral = linalg::spectral_embedding(&rows, n, settings.dim, 8, settings.seed ^ 2);
    // A rank-deficient sample (tiny graphs) gives fewer columns than `dim`: the rest are zero.
    let rank = spectral.len().checked_div(n).unwrap_or(0);
    let embedding: Vec<f32> = (0..n)
        .flat_map(|i| {
            let spectral = &spectral;
            (0..settings.dim).map(move |e| if e < rank { spectral[i * rank + e] as f32 } else { 0.0 })
        })
        .collect();
    let bias = graph.focus.iter().map(|&p| libm::log(p.max(f64::MIN_POSITIVE)) as f32).collect();
    let mut model = Model::initial(shape, embedding, bias, settings.seed ^ 3);
    fold_in(&mut model, graph);
    model
}

/// Gives every particle whose embedding row is zero (never reached by a sampled conditional, or
/// new since the model was compiled) the weighted mean of its neighbours' rows, and extends the
/// model to the graph's particles with bias `log π*` for new ones. Rows are computed from the
/// rows as they were before the call, so the result does not depend on the order.
pub fn fold_in(model: &mut Model, graph: &Graph<'_>) {
    let d = model.shape.dim;
    let n = graph.focus.len();
    let old = model.shape.particles;
    model.embedding.resize(n * d, 0.0);
    model.bias.extend(graph.focus[old.min(n)..].iter().map(|&p| libm::log(p.max(f64::MIN_POSITIVE)) as f32));
    model.shape.particles = n;
    let is_zero = |e: &[f32], i: usize| e[i * d..][..d].iter().all(|&x| x == 0.0);
    let before = &model.embedding;
    let updates: Vec<(usize, Vec<f32>)> = (0..n)
        .into_par_iter()
        .filter(|&i| is_zero(before, i))
        .filter_map(|i| {
            let mut row = vec![0.0f64; d];
            let mut total = 0.0;
            for (j, w) in graph.operator.neighbours(i as u32) {
                if !is_zero(before, j as usize) {
                    total += w;
                    row.iter_mut().zip(&before[j as usize * d..][..d]).for_each(|(r, &x)| *r += w * x as f64);
                }
            }
            (total > 0.0).then(|| (i, row.iter().map(|r| (r / total) as f32).collect()))
        })
        .collect();
    for (i, row) in updates {
        model.embedding[i * d..][..d].copy_from_slice(&row);
    }
}

/// AdamW state for one parameter vector.
struct Moments {
    first: Vec<f32>,
    second: Vec<f32>,
}

impl Moments {
    fn new(len: usize) -> Self {
        Moments { first: vec![0.0; len], second: vec![0.0; len] }
    }

    /// One AdamW update of `params[at..at + grad.len()]`.
    fn update(&mut self, params: &mut [f32], at: usize, grad: &[f32], step: &StepSize) {
        let (b1, b2) = (0.9f32, 0.999f32);
        for (k, &g) in grad.iter().enumerate() {
            let i = at + k;
            self.first[i] = b1 * self.first[i] + (1.0 - b1) * g;
            self.second[i] = b2 * self.second[i] + (1.0 - b2) * g * g;
            let m = self.first[i] / step.correction1;
            let v = self.second[i] / step.correction2;
            params[i] -= step.rate * (m / (v.sqrt() + 1e-8) + step.decay * params[i]);
        }
    }
}

struct StepSize {
    rate: f32,
    decay: f32,
    correction1: f32,
    correction2: f32,
}

/// The gradient of one example's loss with respect to its pooled state, output rows and biases.
struct ExampleGradient {
    d_pooled: Vec<f32>,
    /// `(row, g)`: the row's gradient is `g·h`, the bias's `g`.
    outputs: Vec<(u32, f32)>,
    loss: f64,
}

/// Forward KL of one example over its candidates (sampled softmax with log-Q correction).
fn example_gradient(model: &Model, h: &[f32], example: &Example, negatives: &[u32]) -> ExampleGradient {
    let n = model.shape.particles;
    let excluded_mass: f32 =
        example.target.entries.iter().filter(|&&(j, _)| Some(j) == example.excluded).map(|&(_, t)| t).sum();
    let rescale = 1.0 / (1.0 - excluded_mass).max(f32::EPSILON);
    let mut listed: Vec<u32> = example.target.entries.iter().map(|&(j, _)| j).chain(example.excluded).collect();
    listed.sort_unstable();
    listed.dedup();
    let mut candidates: Vec<(u32, f32, f32)> = example
        .target
        .entries
        .iter()
        .filter(|&&(j, _)| Some(j) != example.excluded)
        .map(|&(j, t)| (j, t * rescale, 0.0))
        .collect();
    let others: Vec<u32> = if n <= FULL_SOFTMAX_MAX {
        (0..n as u32).filter(|j| listed.binary_search(j).is_err()).collect()
    } else {
        negatives.iter().copied().filter(|j| listed.binary_search(j).is_err()).collect()
    };
    if !others.is_empty() {
        let share = example.target.tail * rescale / others.len() as f32;
        // Each of the `n − listed` others (the excluded particle counted as listed) stands for
        // (n − listed)/|others| of them.
        let correction = libm::logf((n - listed.len()) as f32 / others.len() as f32);
        candidates.extend(others.iter().map(|&j| (j, share, correction)));
    }
    let logits: Vec<f32> =
        candidates.iter().map(|&(j, _, c)| crate::model::dot(h, model.row(j)) + model.bias[j as usize] + c).collect();
    let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|z| libm::expf(z - top)).collect();
    let total: f32 = exps.iter().sum();
    let log_total = libm::logf(total) + top;
    let d = model.shape.dim;
    let mut d_pooled = vec![0.0; d];
    let mut outputs = Vec::with_capacity(candidates.len());
    let mut loss = 0.0f64;
    for ((&(j, t, _), e), z) in candidates.iter().zip(&exps).zip(&logits) {
        let p = e / total;
        if t > 0.0 {
            loss += t as f64 * (libm::log(t as f64) - (z - log_total) as f64);
        }
        let g = p - t;
        d_pooled.iter_mut().zip(model.row(j)).for_each(|(a, &x)| *a += g * x);
        outputs.push((j, g));
    }
    ExampleGradient { d_pooled, outputs, loss }
}

/// Trains `model` on `examples`; returns the mean loss of the last 50 steps.
/// AdamW over the examples; `None` when `progress` answered stop.
fn train(
    model: &mut Model,
    examples: &[Example],
    settings: &Settings,
    progress: &(dyn Fn(Progress) -> Proceed + Sync),
) -> Option<f32> {
    let (n, d) = (model.shape.particles, model.shape.dim);
    let mut rng = ChaCha8Rng::seed_from_u64(settings.seed ^ 4);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let mut next = order.len();
    let mut dense_moments = Moments::new(model.dense.len());
    let mut row_moments = Moments::new(model.embedding.len());
    let mut bias_moments = Moments::new(model.bias.len());
    let mut recent: Vec<f32> = Vec::new();
    let warmup = (settings.steps / 20).max(1);
    let (mut correction1, mut correction2) = (1.0f32, 1.0f32);
    for step in 0..settings.steps {
        let mut batch = Vec::with_capacity(settings.batch);
        while batch.len() < settings.batch.min(examples.len()) {
            if next == order.len() {
                for i in (1..order.len()).rev() {
                    order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
                }
                next = 0;
            }
            batch.push(&examples[order[next]]);
            next += 1;
        }
        let mut negatives: Vec<u32> = (0..settings.negatives).map(|_| (rng.next_u64() % n as u64) as u32).collect();
        negatives.sort_unstable();
        negatives.dedup();

        let mut contexts = Contexts::new();
        batch.iter().for_each(|e| contexts.push(&e.context));
        let (pooled, trace) = model.forward(&Cpu, &contexts);
        let shared: &Model = model;
        let per_example: Vec<ExampleGradient> = batch
            .par_iter()
            .enumerate()
            .map(|(b, e)| example_gradient(shared, &pooled[b * d..][..d], e, &negatives))
            .collect();
        let d_pooled: Vec<f32> = per_example.iter().flat_map(|g| g.d_pooled.iter().copied()).collect();
        let grads = model.backward(&Cpu, &contexts, &trace, &d_pooled);
        let scale = 1.0 / batch.len() as f32;

        // Embedding rows: output contributions (example order) then input tokens (slot order),
        // summed per row in that order.
        let mut sources: Vec<(u32, u32, u32)> = Vec::new();
        for (b, g) in per_example.iter().enumerate() {
            sources.extend(g.outputs.iter().enumerate().map(|(k, &(j, _))| (j, b as u32, k as u32)));
        }
        let token_source = u32::MAX;
        sources.extend(contexts.tokens.iter().enumerate().map(|(slot, &t)| (t, token_source, slot as u32)));
        sources.sort_unstable();
        let groups: Vec<&[(u32, u32, u32)]> = sources.chunk_by(|a, b| a.0 == b.0).collect();
        let rows: Vec<(u32, Vec<f32>, f32)> = groups
            .par_iter()
            .map(|group| {
                let mut row = vec![0.0f32; d];
                let mut bias = 0.0f32;
                for &(_, b, k) in group.iter() {
                    if b == token_source {
                        row.iter_mut().zip(&grads.tokens[k as usize * d..][..d]).for_each(|(r, g)| *r += g * scale);
                    } else {
                        let g = per_example[b as usize].outputs[k as usize].1 * scale;
                        row.iter_mut().zip(&pooled[b as usize * d..][..d]).for_each(|(r, h)| *r += g * h);
                        bias += g;
                    }
                }
                (group[0].0, row, bias)
            })
            .collect();

        let progress_through = if step < warmup {
            (step + 1) as f32 / warmup as f32
        } else {
            let t = (step - warmup) as f32 / (settings.steps - warmup).max(1) as f32;
            0.1 + 0.9 * 0.5 * (1.0 + libm::cosf(std::f32::consts::PI * t))
        };
        correction1 *= 0.9;
        correction2 *= 0.999;
        let size = StepSize {
            rate: settings.learning_rate * progress_through,
            decay: settings.weight_decay,
            correction1: 1.0 - correction1,
            correction2: 1.0 - correction2,
        };
        let dense_grad: Vec<f32> = grads.dense.iter().map(|g| g * scale).collect();
        dense_moments.update(&mut model.dense, 0, &dense_grad, &size);
        for (j, row, bias) in &rows {
            row_moments.update(&mut model.embedding, *j as usize * d, row, &size);
            bias_moments.update(&mut model.bias, *j as usize, &[*bias], &StepSize { decay: 0.0, ..size });
        }

        let loss = (per_example.iter().map(|g| g.loss).sum::<f64>() / batch.len() as f64) as f32;
        recent.push(loss);
        if recent.len() > 50 {
            recent.remove(0);
        }
        let mean = recent.iter().sum::<f32>() / recent.len() as f32;
        let report = step % 10 == 9 || step + 1 == settings.steps;
        if report && progress(Progress::Training { step: step + 1, steps: settings.steps, loss: mean }).is_break() {
            return None;
        }
    }
    Some(recent.iter().sum::<f32>() / recent.len().max(1) as f32)
}
