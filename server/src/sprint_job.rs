//! Sprint inside the node: a preemptible, lowest-priority job of the device pool that proves in
//! consecutive windows and writes each window's signed proof to `<data>/sprint/`.
//!
//! This is Sprint on a chain whose genesis sets none (a development chain decided by this node
//! alone); on a chain that sets it, [`crate::chain_sprint`] takes part in its stages instead.
//! Windows here are wall-clock and local, so the seed material of window `k` is the
//! commit-reveal rule with no committers (`schedule::seed_material` chained from the genesis
//! block's CID) — the chain's own derivation, never a grindable block hash.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context, Result};
use engine::NeuronKey;
use sprint::{
    Model, Profile, Seed,
    file::write_proof,
    proof::{Lane, Proof, prove},
    schedule::seed_material,
    sprint_seed,
};

use crate::pool::{BackgroundJob, DevicePool, Priority, idle_workers, lowest_cpu_priority};

/// What a node's Sprint job does.
#[derive(Clone, Debug)]
pub(crate) struct SprintSettings {
    pub(crate) profile: Profile,
    pub(crate) window: Duration,
    pub(crate) key: PathBuf,
}

/// Running totals, exact under preemption: a round once started is evaluated and counted;
/// nonces count as each round ends, hits and windows as each window ends.
#[derive(Default)]
pub(crate) struct SprintCounters {
    pub(crate) nonces: AtomicU64,
    pub(crate) hits: AtomicU64,
    pub(crate) windows: AtomicU64,
}

/// The seed material and Sprint seed of the window after the one seeded by `previous`:
/// commit-reveal with no committers.
fn next_seed(previous: &Seed) -> (Vec<u8>, Seed) {
    let (material, _) = seed_material(previous, &Default::default(), &Default::default());
    let sprint = sprint_seed(&material);
    (material, sprint)
}

/// Sprint's pause, called after each tensor and each transformer block on every worker: sleep
/// while higher-priority work runs (until `stop` is set), then hand the core to any thread the
/// kernel has queued behind this one.
pub(crate) fn pause<'a>(pool: &'a DevicePool, stop: &'a AtomicBool) -> impl Fn() + Sync + 'a {
    move || {
        pool.wait_turn(Priority::Sprint, || stop.load(Ordering::Acquire));
        std::thread::yield_now();
    }
}

/// Proves on `workers` with [`pause`] while `more(tried, hits)` holds and `stop` is not set,
/// counting exactly: nonces as each round ends, hits and one window once done. Returns the proof
/// and the nonces tried.
pub(crate) fn prove_counted(
    workers: &rayon::ThreadPool,
    pool: &DevicePool,
    counters: &SprintCounters,
    stop: &AtomicBool,
    (model, key): (&Model, &NeuronKey),
    mut more: impl FnMut(u64, usize) -> bool + Send,
) -> (Proof, u64) {
    let pause = pause(pool, stop);
    let mut counted = 0;
    let more = |tried, hits| {
        counters.nonces.fetch_add(tried - counted, Ordering::Relaxed);
        counted = tried;
        !stop.load(Ordering::Acquire) && more(tried, hits)
    };
    let (proof, tried) = workers.install(|| prove(model, key.signing_key(), Lane { offset: 0, step: 1 }, more, &pause));
    counters.nonces.fetch_add(tried - counted, Ordering::Relaxed);
    counters.hits.fetch_add(proof.claim.nonces.len() as u64, Ordering::Relaxed);
    counters.windows.fetch_add(1, Ordering::Relaxed);
    (proof, tried)
}

fn window_file(out: &Path, window: u64) -> PathBuf {
    out.join(format!("window-{window}.json"))
}

/// Starts the node's Sprint job; stopping it ends it after its current round.
pub(crate) fn start(
    settings: SprintSettings,
    genesis: Seed,
    pool: Arc<DevicePool>,
    counters: Arc<SprintCounters>,
    out: PathBuf,
) -> Result<BackgroundJob> {
    let key = NeuronKey::read(&settings.key).with_context(|| format!("Sprint key {}", settings.key.display()))?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let workers = idle_workers("sprint")?;
    BackgroundJob::spawn("sprint", move |flag| {
        lowest_cpu_priority();
        // A restarted node continues after the last window it wrote, with that window's
        // successor seed: no proof file is overwritten and no Sprint seed is reused.
        let first = (0u64..).find(|k| !window_file(&out, *k).exists()).expect("a free window number");
        let mut previous = (0..first).fold(genesis, |previous, _| next_seed(&previous).1);
        for window in first.. {
            if flag.load(Ordering::Acquire) {
                break;
            }
            let (material, sprint) = next_seed(&previous);
            let model = workers.install(|| Model::generate(settings.profile, sprint, &pause(&pool, flag)));
            let start = Instant::now();
            let proving = (&model, &key);
            let (proof, tried) =
                prove_counted(&workers, &pool, &counters, flag, proving, |_, _| start.elapsed() < settings.window);
            let file = window_file(&out, window);
            match write_proof(&file, &proof, &material) {
                Ok(()) => {
                    tracing::info!(window, tried, hits = proof.claim.nonces.len(), file = %file.display(), "Sprint window proved")
                }
                Err(error) => tracing::error!(%error, "writing a Sprint proof failed"),
            }
            previous = sprint;
        }
    })
}
