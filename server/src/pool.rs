//! The node's device pool (spec/sprint.md §7): one set of compute resources — the CPU cores and
//! the GPU that `--device` gives the focus solve — shared by every job in priority order: user
//! queries, then the per-block focus solve, then compiling the transformer, then Sprint. One
//! gate for all devices: a job's host side (uploads, the stopping rule, normalisation) runs on
//! the cores whichever device computes its steps. Queries and block commits (each with its focus
//! solve, whether the node produced the block alone or consensus decided it:
//! `Node::take_commit_turns`) run in turns and are counted as units and busy time; training and
//! Sprint wait between their steps and are counted as waits.
//!
//! Higher-priority work announces itself with [`DevicePool::enter`] for as long as it runs;
//! preemptible work calls [`DevicePool::wait_turn`] between its units (Sprint: between rounds
//! of forward passes) and waits there while anything above it runs. On the CPU the operating
//! system preempts too: Sprint's threads run under `SCHED_IDLE` ([`lowest_cpu_priority`]), so a
//! query thread takes a core the moment it is runnable, even in the middle of a round.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Work classes, highest priority first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Priority {
    /// A user's request.
    Query,
    /// The per-block focus solve (with the block commit it follows).
    Focus,
    /// Compiling the transformer in the background.
    Training,
    /// Sprint proving.
    Sprint,
}

impl Priority {
    /// Every class, highest priority first.
    pub(crate) const ALL: [Priority; 4] = [Priority::Query, Priority::Focus, Priority::Training, Priority::Sprint];

    fn rank(self) -> usize {
        self as usize
    }

    /// The class's name in metrics.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Priority::Query => "query",
            Priority::Focus => "focus",
            Priority::Training => "training",
            Priority::Sprint => "sprint",
        }
    }
}

/// Running work per class, when each class last finished, and per class: units of work run,
/// their time, and how often the class waited for work above it.
#[derive(Default)]
pub(crate) struct DevicePool {
    state: Mutex<PoolState>,
    stats: [ClassStats; 4],
}

/// One class's counters.
#[derive(Default)]
struct ClassStats {
    /// Units entered with [`DevicePool::enter`].
    entered: AtomicU64,
    /// Their wall time, microseconds.
    busy_micros: AtomicU64,
    /// Waits in [`DevicePool::wait_turn`].
    waits: AtomicU64,
}

/// A snapshot of one class's counters, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClassCounts {
    pub(crate) running: usize,
    pub(crate) entered: u64,
    pub(crate) busy_micros: u64,
    pub(crate) waits: u64,
}

#[derive(Default)]
struct PoolState {
    running: [usize; 4],
    last_finished: [Option<Instant>; 4],
}

impl PoolState {
    /// How long work below `priority` must still wait, if at all: while something above it
    /// runs, and for [`QUIET`] after the last such work finished (a request stream's gaps are
    /// not idle time).
    fn wait_for(&self, priority: Priority, now: Instant) -> Option<Duration> {
        let above = ..priority.rank();
        if self.running[above].iter().any(|&n| n > 0) {
            return Some(QUIET);
        }
        let last = self.last_finished[above].iter().flatten().max()?;
        QUIET.checked_sub(now.duration_since(*last)).filter(|left| !left.is_zero())
    }
}

/// One unit of running work; it leaves the pool when dropped.
pub(crate) struct Turn {
    pool: Arc<DevicePool>,
    priority: Priority,
    started: Instant,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let now = Instant::now();
        let rank = self.priority.rank();
        let busy = now.duration_since(self.started).as_micros() as u64;
        self.pool.stats[rank].busy_micros.fetch_add(busy, Ordering::Relaxed);
        let mut state = self.pool.state.lock().expect("the pool lock is never poisoned");
        state.running[rank] -= 1;
        state.last_finished[rank] = Some(now);
    }
}

/// How long lower-priority work keeps off after higher-priority work finishes, and a waiting
/// job's first interval between looks. Measured on the 2-core machine (`scripts/bench-sprint-interference`):
/// without it, Sprint ran in the gaps of a one-connection request stream and search's p99 rose
/// by a quarter (evicted caches). Waiters poll rather than being notified: waking them at the
/// end of every request cost the requests more than the poll.
const QUIET: Duration = Duration::from_millis(2);

/// The longest a waiting job sleeps between looks (it resumes at most this late).
const MAX_BACKOFF: Duration = Duration::from_millis(32);

impl DevicePool {
    /// Work of class `priority` starts; it runs until the returned turn is dropped.
    pub(crate) fn enter(self: &Arc<Self>, priority: Priority) -> Turn {
        self.state.lock().expect("the pool lock is never poisoned").running[priority.rank()] += 1;
        self.stats[priority.rank()].entered.fetch_add(1, Ordering::Relaxed);
        Turn { pool: Arc::clone(self), priority, started: Instant::now() }
    }

    /// Blocks while work of a higher priority than `priority` runs or has just finished, or
    /// until `give_up()` holds. Returns whether it had to wait.
    pub(crate) fn wait_turn(&self, priority: Priority, give_up: impl Fn() -> bool) -> bool {
        let mut waited = false;
        // Under sustained load the waits back off, so waiting costs the busy cores few wakeups.
        let mut backoff = QUIET;
        loop {
            let wait = self.state.lock().expect("the pool lock is never poisoned").wait_for(priority, Instant::now());
            match wait {
                Some(wait) if !give_up() => std::thread::sleep(wait.max(backoff)),
                _ => break,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
            waited = true;
        }
        if waited {
            self.stats[priority.rank()].waits.fetch_add(1, Ordering::Relaxed);
        }
        waited
    }

    /// The counters of class `priority`.
    pub(crate) fn counts(&self, priority: Priority) -> ClassCounts {
        let running = self.state.lock().expect("the pool lock is never poisoned").running[priority.rank()];
        let stats = &self.stats[priority.rank()];
        ClassCounts {
            running,
            entered: stats.entered.load(Ordering::Relaxed),
            busy_micros: stats.busy_micros.load(Ordering::Relaxed),
            waits: stats.waits.load(Ordering::Relaxed),
        }
    }
}

/// Puts the calling thread in Linux's `SCHED_IDLE` class: it runs only on a core nothing else
/// wants. Elsewhere (and if the call fails) the thread keeps its priority and the cooperative
/// [`DevicePool::wait_turn`] alone keeps it out of the way.
pub(crate) fn lowest_cpu_priority() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: a plain system call on the calling thread (pid 0) with a valid parameter.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        if rc != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "could not lower a background thread to SCHED_IDLE");
        }
    }
}

/// A rayon pool for a background job whose workers run under `SCHED_IDLE`.
pub(crate) fn idle_workers(name: &'static str) -> anyhow::Result<rayon::ThreadPool> {
    Ok(rayon::ThreadPoolBuilder::new()
        .thread_name(move |i| format!("{name}-{i}"))
        .start_handler(|_| lowest_cpu_priority())
        .build()?)
}

/// A background job's thread, running until [`BackgroundJob::stop`]; the body polls the flag it
/// is given and returns soon after it is set.
pub(crate) struct BackgroundJob {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl BackgroundJob {
    pub(crate) fn spawn(name: &str, body: impl FnOnce(&AtomicBool) + Send + 'static) -> anyhow::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || body(&flag))?;
        Ok(BackgroundJob { stop, thread })
    }

    /// Asks the job to stop and waits for it.
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_priority_work_waits_while_higher_priority_work_runs() {
        let pool = Arc::new(DevicePool::default());
        assert!(!pool.wait_turn(Priority::Sprint, || false), "an empty pool never waits");
        let query = pool.enter(Priority::Query);
        assert!(!pool.wait_turn(Priority::Query, || false), "a class never waits for itself");
        let waiter = {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || pool.wait_turn(Priority::Sprint, || false))
        };
        std::thread::sleep(Duration::from_millis(120));
        assert!(!waiter.is_finished(), "Sprint waits while a query runs");
        drop(query);
        assert!(waiter.join().unwrap(), "and resumes when it ends");
        assert_eq!(pool.counts(Priority::Sprint).waits, 1);
        let queries = pool.counts(Priority::Query);
        assert_eq!((queries.running, queries.entered, queries.waits), (0, 1, 0));
        assert!(queries.busy_micros >= 100_000, "the query ran while Sprint waited: {queries:?}");

        assert!(!pool.wait_turn(Priority::Focus, || false), "the focus solve waits for no Sprint");

        let _focus = pool.enter(Priority::Focus);
        assert!(!pool.wait_turn(Priority::Sprint, || true), "giving up returns at once");
        assert!(!pool.wait_turn(Priority::Query, || false), "queries go before the focus solve");
    }

    #[test]
    fn lower_priority_work_keeps_off_for_the_quiet_period() {
        let start = Instant::now();
        let mut state = PoolState::default();
        assert_eq!(state.wait_for(Priority::Sprint, start), None);
        state.running[Priority::Query.rank()] = 1;
        assert_eq!(state.wait_for(Priority::Sprint, start), Some(QUIET));
        assert_eq!(state.wait_for(Priority::Query, start), None);
        state.running[Priority::Query.rank()] = 0;
        state.last_finished[Priority::Query.rank()] = Some(start);
        assert_eq!(state.wait_for(Priority::Sprint, start + QUIET / 4), Some(QUIET * 3 / 4));
        assert_eq!(state.wait_for(Priority::Focus, start + QUIET / 4), Some(QUIET * 3 / 4));
        assert_eq!(state.wait_for(Priority::Sprint, start + QUIET), None);
    }
}
