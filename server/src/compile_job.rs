//! The node's background compiler (spec/compiled-transformer.md, "Retraining"): when the graph
//! has no model yet (and enough links to need one), or the model in force was compiled
//! `every_blocks` or more blocks ago, it compiles the tip's focus at the device pool's training
//! priority — below queries and the block's focus, above Sprint — and adopts the result; the
//! next block's header records its CID. A node catching up (`Node::catching_up`: its tip a
//! block sync brought, long behind the clock) compiles nothing until it is level again.

use std::{
    ops::ControlFlow,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::Result;
use compiler::{Progress, Settings};
use engine::Node;

use crate::pool::{BackgroundJob, DevicePool, Priority, idle_workers};

/// When to compile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CompileSchedule {
    /// Recompile once the model in force is this many blocks old (0: never compile).
    pub(crate) every_blocks: u64,
    /// No model is compiled for a graph with fewer links (the exact path is fast there).
    pub(crate) min_links: u64,
}

/// How often the job looks at the chain.
const LOOK_EVERY: Duration = Duration::from_secs(1);

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
        let mut last_attempt = None;
        while !flag.load(Ordering::Acquire) {
            std::thread::sleep(LOOK_EVERY);
            let query = node.query();
            let counts = query.status().counts;
            // A node catching up compiles nothing: its tip is history its peers have passed,
            // and the cores are the sync's (a model compiles once the node decides live).
            let due = !node.catching_up(crate::producer::unix_millis())
                && match query.model() {
                    None => counts.links >= schedule.min_links,
                    Some((_, height)) => counts.height >= height + schedule.every_blocks,
                };
            if !due || last_attempt == Some(counts.height) {
                continue;
            }
            last_attempt = Some(counts.height);
            let stopping = || flag.load(Ordering::Acquire);
            let focus = query.focus();
            let graph = focus.graph();
            let settings = Settings::default();
            let started = std::time::Instant::now();
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
