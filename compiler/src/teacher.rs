//! What the model learns from: held-out particles, training queries and the teacher's targets
//! (spec/compiled-transformer.md, "Fine-tuning").

use kernels::{LocalPush, PushLimits, PushScratch};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;

use crate::conditional::{self, Graph, ScratchPool};

/// Entries the teacher keeps of each conditional; the rest is one tail bucket.
pub const TEACHER_TOP: usize = 256;

/// A training target: the teacher's best particles with their probabilities, and the mass of
/// everything else.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// `(particle, probability)`, best first.
    pub entries: Vec<(u32, f32)>,
    /// `1 − Σ entries`, spread over the particles not listed.
    pub tail: f32,
}

/// One training example: a context (particles with masses) and the distribution it should give.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// `(particle, mass)`.
    pub context: Vec<(u32, f32)>,
    /// What the model should output.
    pub target: Target,
    /// A particle the loss leaves out, the target renormalised without it: a model-only
    /// example's query. `related` never ranks its own context, and the query's mass (its
    /// conditional's largest) would pull its row toward its own state `h` and away from the
    /// neighbours' rows it should rank (on WordNet + FOLDOC: recall@10 of the model alone
    /// 0.655 → 0.667, KL 1.25 → 1.18).
    pub excluded: Option<u32>,
}

/// splitmix64: a fixed hash for per-particle decisions that must not depend on anything else.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Which particles are query particles the model never trains on: `permille` of the linked ones,
/// chosen by a hash of the seed and the index (stable as the graph grows).
pub fn held_out(graph: &Graph<'_>, permille: u64, seed: u64) -> Vec<bool> {
    (0..graph.focus.len() as u32)
        .map(|i| graph.operator.is_linked(i) && mix(seed ^ mix(i as u64)) % 1000 < permille)
        .collect()
}

/// `count` training queries: half drawn by `π*`, half uniformly, among linked particles that
/// are not held out.
pub fn training_queries(graph: &Graph<'_>, held_out: &[bool], count: usize, seed: u64) -> Vec<u32> {
    let eligible: Vec<u32> =
        (0..graph.focus.len() as u32).filter(|&i| graph.operator.is_linked(i) && !held_out[i as usize]).collect();
    if eligible.is_empty() {
        return Vec::new();
    }
    let mut cumulative = Vec::with_capacity(eligible.len());
    let mut total = 0.0;
    for &i in &eligible {
        total += graph.focus[i as usize];
        cumulative.push(total);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut unit = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (0..count)
        .map(|q| {
            let u = unit();
            if q % 2 == 0 {
                eligible[cumulative.partition_point(|&c| c < u * total).min(eligible.len() - 1)]
            } else {
                eligible[((u * eligible.len() as f64) as usize).min(eligible.len() - 1)]
            }
        })
        .collect()
}

/// The teacher's conditional of one query particle: the best [`TEACHER_TOP`] particles of a tight
/// push (the query itself included), as a target.
pub fn settled_teacher(graph: &Graph<'_>, push: &LocalPush) -> Vec<(u32, f64)> {
    conditional::settled_top(graph, push, TEACHER_TOP, &[])
}

fn as_target(entries: impl Iterator<Item = (u32, f64)>) -> Target {
    let entries: Vec<(u32, f32)> = entries.filter(|(_, p)| *p > 0.0).map(|(i, p)| (i, p as f32)).collect();
    let listed: f32 = entries.iter().map(|(_, p)| p).sum();
    Target { entries, tail: (1.0 - listed).max(0.0) }
}

/// The examples of one query: the model-only example (the query alone → its conditional) and,
/// when the hybrid's push head leaves mass, the hybrid example (the head's frontier, weighted by
/// residual mass → the normalised remainder `(π*(·|p) − p_push)/ρ`).
pub fn examples_of(
    graph: &Graph<'_>,
    scratch: &mut PushScratch,
    query: u32,
    context_len: usize,
    teacher: PushLimits,
) -> (Example, Option<Example>) {
    let tight = graph.operator.local_push(scratch, &[(query, 1.0)], teacher);
    let full = settled_teacher(graph, &tight);
    let model_only =
        Example { context: vec![(query, 1.0)], target: as_target(full.iter().copied()), excluded: Some(query) };
    let head = graph.operator.local_push(scratch, &[(query, 1.0)], conditional::HEAD);
    if head.remainder < 1e-9 {
        return (model_only, None);
    }
    let settled = |i: u32| conditional::settled_score(graph, &head, i);
    let mut remainder: Vec<(u32, f64)> =
        full.iter().map(|&(i, p)| (i, ((p - settled(i)) / head.remainder).max(0.0))).collect();
    remainder.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let hybrid =
        Example { context: frontier(&head, context_len), target: as_target(remainder.into_iter()), excluded: None };
    (model_only, Some(hybrid))
}

/// The `len` heaviest particles of a push's residual, with their masses (heaviest first, ties by
/// index): the hybrid's context tokens.
pub fn frontier(push: &LocalPush, len: usize) -> Vec<(u32, f32)> {
    conditional::top_k(push.residual.iter().copied(), len).into_iter().map(|(i, m)| (i, m as f32)).collect()
}

/// Every query's examples, in query order (in parallel; each query's examples depend only on
/// the query).
pub fn examples(
    graph: &Graph<'_>,
    scratch: &ScratchPool,
    queries: &[u32],
    context_len: usize,
    teacher: PushLimits,
) -> Vec<Example> {
    let pairs: Vec<(Example, Option<Example>)> = queries
        .par_iter()
        .map(|&q| scratch.with(graph.operator, |scratch| examples_of(graph, scratch, q, context_len, teacher)))
        .collect();
    pairs.into_iter().flat_map(|(model_only, hybrid)| std::iter::once(model_only).chain(hybrid)).collect()
}
