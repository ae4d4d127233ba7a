//! The node's device pool (spec/sprint.md §7): one set of compute resources — the CPU cores
//! now, the GPU when the CUDA path lands — shared by every job in priority order: user queries,
//! then the per-block focus solve, then Sprint. (Compiled-transformer training slots in above
//! Sprint when the compiler lands.)
//!
//! Higher-priority work announces itself with [`DevicePool::enter`] for as long as it runs;
//! preemptible work calls [`DevicePool::wait_turn`] between its units (Sprint: between rounds
//! of forward passes) and waits there while anything above it runs. On the CPU the operating
//! system preempts too: Sprint's threads run under `SCHED_IDLE` ([`lowest_cpu_priority`]), so a
//! query thread takes a core the moment it is runnable, even in the middle of a round.

use std::{
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

/// Work classes, highest priority first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Priority {
    /// A user's request.
    Query,
    /// The per-block focus solve (with the block commit it follows).
    Focus,
    /// Sprint proving.
    Sprint,
}

impl Priority {
    fn rank(self) -> usize {
        self as usize
    }
}

/// Running work per class, and how often preemptible work waited.
#[derive(Default)]
pub(crate) struct DevicePool {
    running: Mutex<[usize; 3]>,
    finished: Condvar,
    waits: AtomicU64,
}

/// One unit of running work; it leaves the pool when dropped.
pub(crate) struct Turn {
    pool: Arc<DevicePool>,
    priority: Priority,
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut running = self.pool.running.lock().expect("the pool lock is never poisoned");
        running[self.priority.rank()] -= 1;
        drop(running);
        self.pool.finished.notify_all();
    }
}

/// How often a waiting job re-checks whether it should give up waiting (a stop request).
const RECHECK: Duration = Duration::from_millis(50);

impl DevicePool {
    /// Work of class `priority` starts; it runs until the returned turn is dropped.
    pub(crate) fn enter(self: &Arc<Self>, priority: Priority) -> Turn {
        self.running.lock().expect("the pool lock is never poisoned")[priority.rank()] += 1;
        Turn { pool: Arc::clone(self), priority }
    }

    /// Blocks while work of a higher priority than `priority` runs, or until `give_up()` holds.
    /// Returns whether it had to wait.
    pub(crate) fn wait_turn(&self, priority: Priority, give_up: impl Fn() -> bool) -> bool {
        let mut running = self.running.lock().expect("the pool lock is never poisoned");
        let mut waited = false;
        while running[..priority.rank()].iter().any(|&n| n > 0) && !give_up() {
            waited = true;
            running = self.finished.wait_timeout(running, RECHECK).expect("the pool lock is never poisoned").0;
        }
        if waited {
            self.waits.fetch_add(1, Ordering::Relaxed);
        }
        waited
    }

    /// How many times preemptible work has waited for higher-priority work.
    pub(crate) fn waits(&self) -> u64 {
        self.waits.load(Ordering::Relaxed)
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
            tracing::warn!(error = %std::io::Error::last_os_error(), "could not lower a Sprint thread to SCHED_IDLE");
        }
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
        assert_eq!(pool.waits(), 1);

        let _focus = pool.enter(Priority::Focus);
        assert!(pool.wait_turn(Priority::Sprint, || true), "giving up ends the wait");
        assert!(!pool.wait_turn(Priority::Query, || false), "queries go before the focus solve");
    }
}
