//! The node's background compiler (spec/compiled-transformer.md, "Retraining"): when the graph
//! has no model yet (and enough links to need one), the model in force was compiled
//! `every_blocks` or more blocks ago, or it has drifted — on a fixed set of probe particles the
//! mean KL of the exact path's answers to its own has risen by more than `drift` nats since it
//! was adopted — it compiles the tip's focus at the device pool's training priority (below queries
//! and the block's focus, above Sprint) and adopts the result; the next block's header records
//! its CID. Between compiles, at most every [`UPKEEP_EVERY`] and only after new blocks,
//! particles added since the model was compiled are folded in (rows from their neighbours', no retraining) and the drift
//! is measured. A node catching up (`Node::catching_up`: its tip a block sync brought, long
//! behind the clock) does none of this until it is level again.

use std::{
    ops::ControlFlow,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Result;
use compiler::{Progress, Settings};
use engine::{Node, model::AdoptedModel};
use ipld_core::cid::Cid;

use crate::pool::{BackgroundJob, DevicePool, Priority, idle_workers};

/// When to compile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CompileSchedule {
    /// Recompile once the model in force is this many blocks old (0: no background model work
    /// at all — no compile, fold-in or drift check).
    pub(crate) every_blocks: u64,
    /// No model is compiled for a graph with fewer links (the exact path is fast there).
    pub(crate) min_links: u64,
    /// Recompile once the probe-set drift (`compiler::eval::probe_divergence`) has risen this
    /// many nats above its value at adoption (0: drift never triggers a compile).
    pub(crate) drift: f64,
}

/// How often the job looks at the chain.
const LOOK_EVERY: Duration = Duration::from_secs(1);

/// The least time between two rounds of upkeep of the model in force (fold-in, then the drift
/// check): one round costs ~0.65 s of one core on WordNet + FOLDOC (a copy of the weights and
/// 32 exact pushes), at the training priority. Serving is each node's own, so wall time may
/// decide it.
const UPKEEP_EVERY: Duration = Duration::from_secs(10);

/// Probe particles of the drift check: held-out particles of the graph the model is first
/// seen on (each costs an exact push, ~20 ms on WordNet, per check).
const PROBES: usize = 32;

/// The model in force as the job last looked after it.
struct Upkeep {
    cid: Cid,
    probes: Vec<u32>,
    /// The probe-set divergence when the model was first seen, nats.
    baseline: f64,
    /// The height and time of the last upkeep.
    height: u64,
    at: Instant,
    /// The latest divergence minus the baseline.
    drift: f64,
}

/// Why a compile is due, if it is: `model` is the model in force's height and drift.
fn compile_due(schedule: &CompileSchedule, links: u64, height: u64, model: Option<(u64, f64)>) -> Option<&'static str> {
    match model {
        None => (links >= schedule.min_links).then_some("no model yet"),
        Some((compiled_at, _)) if height >= compiled_at + schedule.every_blocks => Some("the model is old"),
        Some((_, drift)) if schedule.drift > 0.0 && drift > schedule.drift => Some("the model drifted"),
        Some(_) => None,
    }
}

/// Starts the background compiler, unless the schedule says never; stopping it gives up the
/// compile in progress at its next pause.
pub(crate) fn start(
    node: Arc<Node>,
    pool: Arc<DevicePool>,
    schedule: CompileSchedule,
) -> Result<Option<BackgroundJob>> {
    if schedule.every_blocks == 0 {
        return Ok(None);
    }
    let workers = idle_workers("compile")?;
    let job = BackgroundJob::spawn("compile", move |flag: &AtomicBool| {
        let (mut last_attempt, mut upkeep) = (None, None::<Upkeep>);
        let stopping = || flag.load(Ordering::Acquire);
        while !stopping() {
            std::thread::sleep(LOOK_EVERY);
            // A node catching up does no model work: its tip is history its peers have passed,
            // and the cores are the sync's (it resumes once the node decides live).
            if node.catching_up(crate::producer::unix_millis()) {
                continue;
            }
            let query = node.query();
            let counts = query.status().counts;
            let served = query.served_model();
            if let Some(model) = &served {
                let fresh = upkeep.as_ref().is_none_or(|u| u.cid != model.cid);
                let stale = upkeep.as_ref().is_some_and(|u| u.height < counts.height && u.at.elapsed() >= UPKEEP_EVERY);
                if fresh || stale {
                    pool.wait_turn(Priority::Training, stopping);
                    if stopping() {
                        break;
                    }
                    let previous = upkeep.take().filter(|_| !fresh);
                    let measure = schedule.drift > 0.0;
                    upkeep = Some(workers.install(|| look_after(&node, model, previous, counts.height, measure)));
                }
            }
            let drift = |model: &AdoptedModel| upkeep.as_ref().filter(|u| u.cid == model.cid).map_or(0.0, |u| u.drift);
            let due =
                compile_due(&schedule, counts.links, counts.height, served.as_deref().map(|m| (m.height, drift(m))));
            let Some(reason) = due.filter(|_| last_attempt != Some(counts.height)) else { continue };
            last_attempt = Some(counts.height);
            let focus = query.focus();
            let graph = focus.graph();
            let settings = Settings::default();
            let started = Instant::now();
            tracing::info!(height = focus.summary.height, reason, "compiling a model");
            // Between teacher chunks and every ten steps: wait while queries or a block's focus
            // run, and give the compile up when the node stops.
            let pause = |_: Progress| {
                pool.wait_turn(Priority::Training, stopping);
                if stopping() { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            };
            let Some(compiled) = workers.install(|| compiler::compile(&graph, &settings, &pause)) else {
                break;
            };
            let height = focus.summary.height;
            match node.adopt_model(&compiled.file(height).to_bytes()) {
                Ok(cid) => tracing::info!(
                    model = %cid,
                    height,
                    seconds = started.elapsed().as_secs_f64(),
                    final_kl = compiled.final_loss,
                    "model compiled"
                ),
                Err(error) => tracing::error!(%error, "adopting a compiled model failed"),
            }
        }
    })?;
    Ok(Some(job))
}

/// The drift check's probe particles on `graph`: [`PROBES`] of the particles a compile with the
/// default settings holds out (never trained on).
pub(crate) fn probes(graph: &compiler::Graph<'_>) -> Vec<u32> {
    let settings = Settings::default();
    let held_out = compiler::teacher::held_out(graph, settings.held_out_permille, settings.seed);
    compiler::eval::queries(&held_out, PROBES)
}

/// One round of upkeep of the model in force at `height`: folds in the particles added since
/// it was compiled, then measures its divergence from the exact path on its probes (chosen, and
/// the baseline taken, the first time the model is seen: `previous` is `None`; none when the
/// drift is not to be `measure`d, so no check costs anything).
fn look_after(node: &Node, model: &Arc<AdoptedModel>, previous: Option<Upkeep>, height: u64, measure: bool) -> Upkeep {
    let focus = node.query().focus();
    let graph = focus.graph();
    let folded = model.served.folded_in(&graph).and_then(|folded| node.serve_folded(model, folded));
    let served = folded.as_deref().map_or(&model.served, |model| &model.served);
    let pool = compiler::ScratchPool::default();
    match previous {
        None => {
            let probes = if measure { probes(&graph) } else { Vec::new() };
            let baseline = compiler::eval::probe_divergence(&graph, &pool, served, &probes);
            tracing::info!(model = %model.cid, probes = probes.len(), divergence = baseline, "model probes chosen");
            Upkeep { cid: model.cid, probes, baseline, height, at: Instant::now(), drift: 0.0 }
        }
        Some(upkeep) => {
            let divergence = compiler::eval::probe_divergence(&graph, &pool, served, &upkeep.probes);
            let drift = divergence - upkeep.baseline;
            tracing::debug!(model = %model.cid, divergence, drift, "model drift checked");
            Upkeep { height, at: Instant::now(), drift, ..upkeep }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compile_is_due_without_a_model_when_old_or_when_drifted() {
        let schedule = CompileSchedule { every_blocks: 100, min_links: 1000, drift: 0.25 };
        assert_eq!(compile_due(&schedule, 999, 5, None), None);
        assert_eq!(compile_due(&schedule, 1000, 5, None), Some("no model yet"));
        assert_eq!(compile_due(&schedule, 1000, 149, Some((50, 0.0))), None);
        assert_eq!(compile_due(&schedule, 1000, 150, Some((50, 0.0))), Some("the model is old"));
        assert_eq!(compile_due(&schedule, 1000, 60, Some((50, 0.25))), None);
        assert_eq!(compile_due(&schedule, 1000, 60, Some((50, 0.26))), Some("the model drifted"));
        let no_drift_trigger = CompileSchedule { drift: 0.0, ..schedule };
        assert_eq!(compile_due(&no_drift_trigger, 1000, 60, Some((50, 0.5))), None);
    }
}
