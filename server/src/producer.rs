//! The block producer: a thread that commits a block from the mempool at a fixed interval.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use engine::Node;

/// A running producer; [`Producer::stop`] lets the current block finish.
pub(crate) struct Producer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Producer {
    pub(crate) fn start(node: Arc<Node>, interval: Duration) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new().name("producer".into()).spawn(move || {
            let mut next = Instant::now() + interval;
            while !flag.load(Ordering::Acquire) {
                let now = Instant::now();
                if now < next {
                    // Sleep in short steps so that a stop request is noticed quickly.
                    std::thread::sleep((next - now).min(Duration::from_millis(50)));
                    continue;
                }
                next += interval;
                if let Err(error) = node.produce_block(unix_millis()) {
                    tracing::error!(%error, "block production failed");
                }
            }
        })?;
        Ok(Producer { stop, thread })
    }

    /// Stops after the block in progress, if any, is committed.
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

/// The proposer's clock, in Unix milliseconds.
pub(crate) fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
