//! How good an answer is against the exact conditional focus (spec/compiled-transformer.md,
//! "Metrics"): tie-aware recall@10, NDCG@10 and the forward KL, on held-out query particles.
//! The context particle itself is left out of both rankings, as `related` leaves it out.

use std::time::Instant;

use kernels::PushLimits;
use rayon::prelude::*;

use crate::{
    conditional::{self, Graph, ScratchPool},
    scan::Scan,
    serve::{self, Answer, Served},
    teacher,
};

/// ℓ1 accuracy of the reference conditionals.
pub const REFERENCE_EPSILON: f64 = 1e-8;

/// Ranking quality and latency of one way of answering, averaged over queries.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Row {
    /// What answered.
    pub name: String,
    /// Tie-aware recall@10.
    pub recall_at_10: f64,
    /// NDCG@10 with the exact scores as gains.
    pub ndcg_at_10: f64,
    /// Mean `KL(π*(·|p) ‖ answer)` in nats.
    pub kl: f64,
    /// Median time to answer one query in this process, microseconds.
    pub p50_micros: f64,
    /// 99th percentile of the same.
    pub p99_micros: f64,
}

/// The reference `π*(·|p)` to ℓ1 accuracy [`REFERENCE_EPSILON`] (the pull solver, started from
/// `e_p`).
pub fn reference(graph: &Graph<'_>, query: u32) -> Vec<f64> {
    let mut teleport = vec![0.0; graph.focus.len()];
    teleport[query as usize] = 1.0;
    graph.operator.solve_to(&teleport, Some(&teleport), REFERENCE_EPSILON).pi
}

/// The held-out queries to evaluate on: up to `count`, spread over the held-out set.
pub fn queries(held_out: &[bool], count: usize) -> Vec<u32> {
    let all: Vec<u32> = (0..held_out.len() as u32).filter(|&i| held_out[i as usize]).collect();
    let step = all.len().div_ceil(count.max(1)).max(1);
    all.into_iter().step_by(step).take(count).collect()
}

/// Tie-aware recall@10: the share of the answer's first ten in `{j : exact_j ≥ t − 1e-12}`,
/// `t` the exact tenth score.
pub fn recall_at_10(exact: &[f64], answer: &[u32], query: u32) -> f64 {
    let best = best_ten(exact, query);
    let Some(&(_, tenth)) = best.last() else { return 1.0 };
    let hits = answer.iter().take(10).filter(|&&j| j != query && exact[j as usize] >= tenth - 1e-12).count();
    hits as f64 / best.len() as f64
}

/// NDCG@10 with gains `exact_j`.
pub fn ndcg_at_10(exact: &[f64], answer: &[u32], query: u32) -> f64 {
    let discount = |r: usize| 1.0 / ((r + 2) as f64).log2();
    let ideal: f64 = best_ten(exact, query).iter().enumerate().map(|(r, &(_, x))| x * discount(r)).sum();
    let got: f64 = answer.iter().take(10).enumerate().map(|(r, &j)| exact[j as usize] * discount(r)).sum();
    if ideal > 0.0 { got / ideal } else { 1.0 }
}

/// `KL(exact ‖ answer)` after normalising `answer` (zeros floored, so a missing particle costs
/// a lot rather than infinity).
pub fn kl(exact: &[f64], answer: &[f64]) -> f64 {
    let total: f64 = answer.iter().sum();
    exact.iter().zip(answer).filter(|(x, _)| **x > 0.0).map(|(x, a)| x * (x / (a / total).max(1e-30)).ln()).sum()
}

fn best_ten(exact: &[f64], query: u32) -> Vec<(u32, f64)> {
    let scored = exact.iter().enumerate().filter(|&(j, _)| j as u32 != query).map(|(j, &x)| (j as u32, x));
    conditional::top_k(scored, 10)
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// The model's full distribution for a context (for KL only: serving never builds it).
fn model_distribution(served: &Served, context: &[(u32, f32)], n: usize) -> Vec<f64> {
    let particles = served.model().shape.particles;
    let h = served.encode(context);
    let logits: Vec<f64> = (0..n as u32)
        .map(|j| if (j as usize) < particles { served.logit(&h, j) as f64 } else { f64::NEG_INFINITY })
        .collect();
    let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|z| (z - top).exp()).collect();
    let total: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / total).collect()
}

/// One way of answering, for [`evaluate`].
pub enum Method<'a> {
    /// The exact path, with these push limits.
    Exact(PushLimits),
    /// A model alone.
    ModelOnly(&'a Served),
    /// The served hybrid with a model, its tail read by this scan.
    Hybrid(&'a Served, Scan),
}

/// Evaluates `methods` on `queries` against `references` (one [`reference`] per query), one
/// query at a time (so the timings are a query's own).
pub fn evaluate(
    graph: &Graph<'_>,
    queries: &[u32],
    references: &[Vec<f64>],
    methods: &[(String, Method<'_>)],
) -> Vec<Row> {
    let n = graph.focus.len();
    let pool = ScratchPool::default();
    methods
        .iter()
        .map(|(name, method)| {
            let mut times = Vec::with_capacity(queries.len());
            let (mut recall, mut ndcg, mut divergence) = (0.0, 0.0, 0.0);
            for (&query, exact) in queries.iter().zip(references) {
                let started = Instant::now();
                let answer: Answer = match method {
                    Method::Exact(limits) => serve::exact(graph, &pool, &[query], 10, *limits),
                    Method::ModelOnly(served) => served.model_only(&[query], 10),
                    Method::Hybrid(served, scan) => serve::hybrid(graph, &pool, served, &[query], 10, *scan),
                };
                times.push(started.elapsed().as_secs_f64() * 1e6);
                let ranked: Vec<u32> = answer.particles.iter().map(|&(j, _)| j).collect();
                recall += recall_at_10(exact, &ranked, query);
                ndcg += ndcg_at_10(exact, &ranked, query);
                divergence += kl(exact, &dense_answer(graph, &pool, method, query, n));
            }
            times.sort_by(f64::total_cmp);
            let count = queries.len().max(1) as f64;
            Row {
                name: name.clone(),
                recall_at_10: recall / count,
                ndcg_at_10: ndcg / count,
                kl: divergence / count,
                p50_micros: percentile(&times, 0.5),
                p99_micros: percentile(&times, 0.99),
            }
        })
        .collect()
}

/// A method's whole distribution, for KL: the push path fills its unsettled mass with `π*`
/// (its natural completion), the hybrid with the model's `q`.
fn dense_answer(graph: &Graph<'_>, pool: &ScratchPool, method: &Method<'_>, query: u32, n: usize) -> Vec<f64> {
    let limits = match method {
        Method::ModelOnly(served) => return model_distribution(served, &[(query, 1.0)], n),
        Method::Exact(limits) => *limits,
        Method::Hybrid(..) => conditional::HEAD,
    };
    let push = pool.with(graph.operator, |s| graph.operator.local_push(s, &[(query, 1.0)], limits));
    let rest = match method {
        Method::Hybrid(served, _) => {
            let frontier = teacher::frontier(&push, serve::HYBRID_CONTEXT);
            if frontier.is_empty() { graph.focus.to_vec() } else { model_distribution(served, &frontier, n) }
        }
        _ => graph.focus.to_vec(),
    };
    let mut dense: Vec<f64> = (0..n).map(|j| push.dangling * graph.focus[j] + push.remainder * rest[j]).collect();
    push.estimate.iter().for_each(|&(j, x)| dense[j as usize] += x);
    dense
}

/// The probe-set drift of spec/compiled-transformer.md ("Retraining"): the mean
/// `KL(π*_t(·|p) ‖ q(·|p))` over probe particles `p`, the model alone's distribution `q`
/// against the exact path's on today's graph (its push to [`conditional::EXACT`] completed with
/// `π*`, as [`evaluate`] does; within 0.02 recall@10 of the reference on WordNet at a local
/// push's cost, so a node can afford the check every few blocks). A node compares it with its
/// value when the model was adopted.
pub fn probe_divergence(graph: &Graph<'_>, pool: &ScratchPool, served: &Served, probes: &[u32]) -> f64 {
    let (n, rows) = (graph.focus.len(), served.model().shape.particles);
    // A probe the model has no row for (not folded in yet) tells nothing about it.
    let probes: Vec<u32> = probes.iter().copied().filter(|&p| (p as usize) < rows).collect();
    let total: f64 = probes
        .iter()
        .map(|&probe| {
            let exact = dense_answer(graph, pool, &Method::Exact(conditional::EXACT), probe, n);
            kl(&exact, &model_distribution(served, &[(probe, 1.0)], n))
        })
        .sum();
    total / probes.len().max(1) as f64
}

/// References for `queries`, in parallel (each is a deterministic solve).
pub fn references(graph: &Graph<'_>, queries: &[u32]) -> Vec<Vec<f64>> {
    queries.par_iter().map(|&q| reference(graph, q)).collect()
}
