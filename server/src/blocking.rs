//! Blocking engine work (store reads and scans, solves, durable writes) runs on actix's blocking
//! pool through one helper, never on an async worker, so slow work cannot stall other requests.

/// The blocking pool refused the work or dropped it: the node is stopping.
#[derive(Debug)]
pub(crate) struct Unavailable;

/// Runs `work` on the blocking pool and waits for it.
pub(crate) async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Unavailable> {
    actix_web::web::block(work).await.map_err(|_| Unavailable)
}
