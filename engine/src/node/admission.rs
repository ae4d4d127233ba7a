//! Admission: a thread that takes every queued submission, checks nonce and quota against the
//! chain state plus the mempool, writes all admitted ones with one synced write (group commit),
//! then answers each. An answered transaction is in the synced write-ahead log.

use std::{
    sync::{Arc, mpsc},
    thread::JoinHandle,
};

use crate::{
    error::{EngineError, Result},
    mempool::Origin,
    shared::{Inner, Shared},
    tx::{SignedTx, VerifiedTx},
    views::Receipt,
};

/// Most submissions written by one synced write.
const MAX_GROUP_COMMIT: usize = 1024;

type Reply = mpsc::Sender<Result<Receipt>>;

/// The admission thread and its queue.
pub(super) struct Admission {
    queue: Option<mpsc::Sender<(VerifiedTx, Origin, Reply)>>,
    thread: Option<JoinHandle<()>>,
}

impl Admission {
    /// Starts the thread.
    pub(super) fn start(shared: &Arc<Shared>) -> Result<Self> {
        let (queue, receiver) = mpsc::channel();
        let worker = Arc::clone(shared);
        let thread = std::thread::Builder::new().name("admission".into()).spawn(move || run(&worker, &receiver))?;
        Ok(Admission { queue: Some(queue), thread: Some(thread) })
    }

    /// Queues a verified transaction and waits for its answer.
    pub(super) fn admit(&self, tx: VerifiedTx, origin: Origin) -> Result<Receipt> {
        let (reply, answer) = mpsc::channel();
        self.queue
            .as_ref()
            .ok_or(EngineError::ShuttingDown)?
            .send((tx, origin, reply))
            .map_err(|_| EngineError::ShuttingDown)?;
        answer.recv().map_err(|_| EngineError::ShuttingDown)?
    }
}

impl Drop for Admission {
    /// Stops admission after the submissions already queued are answered.
    fn drop(&mut self) {
        self.queue.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Holding the lock across the write keeps the in-memory mempool identical to the durable one.
fn run(shared: &Shared, queue: &mpsc::Receiver<(VerifiedTx, Origin, Reply)>) {
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP_COMMIT {
            match queue.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let mut inner = shared.lock();
        let Inner { state, mempool, .. } = &mut *inner;
        let mut admitted = Vec::new();
        let mut answers = Vec::with_capacity(group.len());
        for (tx, origin, reply) in group {
            let answer = mempool.check(state, &tx, origin).map(|()| {
                let receipt = Receipt { cid: tx.cid, duplicates: mempool.duplicates(state, &tx) };
                let seq = mempool.next_seq();
                let tx = Arc::new(tx);
                mempool.insert(seq, Arc::clone(&tx));
                admitted.push((seq, tx));
                receipt
            });
            answers.push((reply, answer));
        }
        let entries: Vec<(u64, &SignedTx)> = admitted.iter().map(|(seq, tx)| (*seq, &tx.signed)).collect();
        if let Err(e) = (!entries.is_empty()).then(|| shared.store.append_mempool(&entries)).transpose() {
            tracing::error!(error = %e, "mempool write failed; rejecting the group");
            let seqs: Vec<u64> = admitted.iter().map(|(seq, _)| *seq).collect();
            mempool.remove(&seqs);
            for (reply, answer) in answers {
                let _ = reply.send(answer.and(Err(EngineError::StorageFailed(e.to_string()))));
            }
            continue;
        }
        drop(inner);
        for (reply, answer) in answers {
            let _ = reply.send(answer);
        }
    }
}
