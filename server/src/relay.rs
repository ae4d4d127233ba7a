//! Transactions reach every validator: what this node admits from a client it forwards to the
//! other nodes' `POST /tx`, marked with [`RELAYED`] so that they admit it without forwarding it
//! again (the validators form a full mesh; one hop reaches all).
//!
//! Forwarding never holds the client's answer: each peer has a bounded queue and one thread that
//! posts in admission order, so a neuron's nonces arrive in the order they were admitted. When a
//! peer is slow or down its queue fills and further transactions are dropped for that peer only;
//! nothing is lost, because every admitted transaction is durable in this node's mempool and this
//! node includes it when its own turn to propose comes.

use std::{
    sync::{
        Arc,
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
    time::Duration,
};

use engine::SignedTx;

use crate::wire::SignedTxBody;

/// The request header that marks a forwarded transaction (its value is ignored).
pub(crate) const RELAYED: &str = "x-cybergraph-relayed";

/// Transactions queued for one peer before further ones are dropped for it.
const QUEUE: usize = 8192;

/// How long one forward may take before the peer counts as unreachable for that transaction.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The forwarding side of a node: one queue per peer API.
pub(crate) struct Relay {
    peers: Vec<(String, SyncSender<Arc<SignedTxBody>>)>,
}

impl Relay {
    /// Starts a forwarding thread per peer (`http://host:port`, no trailing path). The threads
    /// end once the relay is dropped and their queues drain.
    pub(crate) fn start(peers: &[String]) -> std::io::Result<Relay> {
        let mut senders = Vec::with_capacity(peers.len());
        for peer in peers {
            let (sender, queue) = sync_channel(QUEUE);
            let url = format!("{}/tx", peer.trim_end_matches('/'));
            std::thread::Builder::new().name("tx-relay".into()).spawn(move || forward_all(&url, queue))?;
            senders.push((peer.clone(), sender));
        }
        Ok(Relay { peers: senders })
    }

    /// The body to forward once `signed` is admitted; none (and no copy) without peers.
    pub(crate) fn prepare(&self, signed: &SignedTx) -> Option<Arc<SignedTxBody>> {
        (!self.peers.is_empty()).then(|| Arc::new(SignedTxBody::encode(signed)))
    }

    /// Queues an admitted transaction's body for every peer; never waits.
    pub(crate) fn forward(&self, body: Arc<SignedTxBody>) {
        for (peer, queue) in &self.peers {
            if let Err(TrySendError::Full(_)) = queue.try_send(Arc::clone(&body)) {
                tracing::warn!(%peer, "the peer's relay queue is full: a transaction is left to this node's proposals");
            }
        }
    }
}

/// Posts each queued transaction to `url` until the relay is dropped. Rejections are the peer's
/// verdict (a duplicate, a nonce it has already seen) and are expected; an unreachable peer is
/// reported once per outage.
fn forward_all(url: &str, queue: Receiver<Arc<SignedTxBody>>) {
    let agent = ureq::AgentBuilder::new().timeout(TIMEOUT).build();
    let mut reachable = true;
    for body in queue {
        let answered = match agent.post(url).set(RELAYED, "1").send_json(&*body) {
            Ok(_) => true,
            Err(ureq::Error::Status(status, _)) => {
                tracing::debug!(%url, status, "a peer rejected a relayed transaction");
                true
            }
            Err(error) => {
                if reachable {
                    tracing::warn!(%url, %error, "cannot relay transactions to a peer; they stay in this node's mempool");
                }
                false
            }
        };
        if answered && !reachable {
            tracing::info!(%url, "relaying transactions again");
        }
        reachable = answered;
    }
}
