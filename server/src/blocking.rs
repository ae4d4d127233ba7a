//! Blocking engine work (store reads and scans, solves, durable writes) runs on actix's blocking
//! pool through one helper, never on an async worker, so slow work cannot stall other requests.
//!
//! The work is counted until it finishes, not until its request is answered: a request that
//! timed out leaves its work running, and past [`MAX_BLOCKING`] such pieces new work is refused
//! (`UNAVAILABLE`) instead of queued, so no client can pile up work by giving up on it.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Pieces of blocking work running or queued at once, node-wide.
pub(crate) const MAX_BLOCKING: usize = 128;

static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// The blocking pool refused the work or dropped it: the node is busy or stopping.
#[derive(Debug)]
pub(crate) struct Unavailable;

/// Gives back its place when the work ends, however it ends.
struct Place;

impl Drop for Place {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs `work` on the blocking pool and waits for it.
pub(crate) async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Unavailable> {
    if RUNNING.fetch_add(1, Ordering::AcqRel) >= MAX_BLOCKING {
        RUNNING.fetch_sub(1, Ordering::AcqRel);
        return Err(Unavailable);
    }
    let place = Place;
    actix_web::web::block(move || {
        let _place = place;
        work()
    })
    .await
    .map_err(|_| Unavailable)
}
