//! Answering `related` (spec/compiled-transformer.md, "Architecture"): the exact path (a local
//! push), the model alone (one forward pass and a scan of the output embedding) and the served
//! hybrid `p_push + ρ·q`.
//!
//! The model's answers come from the output scan ([`crate::scan`]): its best [`RESCORED`] rows
//! by int8 logit are re-scored with the f32 rows.

use std::sync::Arc;

use kernels::{Cpu, LocalPush, PushLimits};

use crate::{
    conditional::{self, Graph, ScratchPool},
    model::{Contexts, Model, dot},
    scan::{OutputRows, Scan},
    teacher,
};

/// Rows re-scored in f32 after the int8 scan.
pub const RESCORED: usize = 64;

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

/// A model ready to serve: the f32 weights and the output rows prepared for scanning.
#[derive(Debug)]
pub struct Served {
    /// Shared with the same model's other preparations ([`Served::indexed`]).
    model: Arc<Model>,
    pub(crate) rows: OutputRows,
}

/// What one scan found, re-scored.
struct ScanResult {
    /// The best rows by f32 logit, best first.
    best: Vec<(u32, f32)>,
    /// `log Σ_j exp(logit_j)`.
    log_partition: f32,
}

impl Served {
    /// Prepares `model` for serving, its output rows indexed.
    pub fn new(model: Model) -> Self {
        let rows = OutputRows::new(&model);
        Served { model: Arc::new(model), rows }
    }

    /// Prepares `model` for serving without indexing its output rows: ready at once, every
    /// scan reads every row (the answers of [`Scan::Full`]) until [`Served::indexed`] replaces
    /// it. A node adopts a model so and indexes it in the background.
    pub fn unindexed(model: Model) -> Self {
        let rows = OutputRows::unindexed(&model);
        Served { model: Arc::new(model), rows }
    }

    /// Whether an indexed scan reads only some rows ([`Served::new`], [`Served::indexed`]).
    pub fn is_indexed(&self) -> bool {
        self.rows.is_indexed()
    }

    /// The same weights (shared, not copied) with the output rows indexed.
    pub fn indexed(&self) -> Served {
        Served { model: Arc::clone(&self.model), rows: OutputRows::new(&self.model) }
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
        let mut model = Model::clone(&self.model);
        crate::train::fold_in(&mut model, graph);
        Some(self.refitted_to(Arc::new(model)))
    }

    /// These weights arranged as `index`'s output rows — a fold-in of `index`'s model — without
    /// clustering again: the rows new or changed since go to their nearest cluster.
    pub fn with_index_of(&self, index: &Served) -> Served {
        index.refitted_to(Arc::clone(&self.model))
    }

    /// `model` (this model with rows added or changed) with these output rows refitted to it.
    fn refitted_to(&self, model: Arc<Model>) -> Served {
        let (before, d) = (&self.model, self.model.shape.dim);
        let changed = |row: usize| {
            row >= before.shape.particles || before.embedding[row * d..][..d] != model.embedding[row * d..][..d]
        };
        let rows = self.rows.refitted(&model, changed);
        Served { model, rows }
    }

    fn scan(&self, h: &[f32], keep: usize, scan: Scan) -> ScanResult {
        let found = self.rows.scan(h, keep, scan);
        let best = conditional::top_k(found.best.into_iter().map(|(j, z)| (j, z as f64)), keep);
        let mut best: Vec<(u32, f32)> = best.into_iter().map(|(j, _)| (j, self.logit(h, j))).collect();
        best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ScanResult { best, log_partition: found.log_partition }
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
        let scan = self.scan(&h, (k + context.len()).max(RESCORED), Scan::Full);
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
    /// the head's frontier from the rows `scan` reads (the node's is [`Scan::Indexed`]; the
    /// model alone always reads every row: it is the model's own claim, measured). Where the
    /// head settles everything, it is the exact path.
    pub fn hybrid(
        &self,
        graph: &Graph<'_>,
        head: &LocalPush,
        context_len: usize,
        k: usize,
        exclude: &[u32],
        scan: Scan,
    ) -> Answer {
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
        let scan = self.scan(&h, RESCORED, scan);
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

/// The served hybrid for a context: the push head to [`conditional::HEAD`], then
/// [`Served::hybrid`] with `scan`.
pub fn hybrid(graph: &Graph<'_>, pool: &ScratchPool, served: &Served, context: &[u32], k: usize, scan: Scan) -> Answer {
    served.hybrid(graph, &push(graph, pool, context, conditional::HEAD), HYBRID_CONTEXT, k, context, scan)
}

/// `related` on one graph: the served hybrid (indexed scan) when a model is given, else the
/// exact path.
pub fn related(graph: &Graph<'_>, pool: &ScratchPool, model: Option<&Served>, context: &[u32], k: usize) -> Answer {
    match model {
        Some(served) => hybrid(graph, pool, served, context, k, Scan::Indexed),
        None => exact(graph, pool, context, k, conditional::EXACT),
    }
}

/// Frontier tokens the served hybrid gives the model (the training default).
pub const HYBRID_CONTEXT: usize = 8;
