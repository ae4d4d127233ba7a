//! Transactions reach every validator: what this node admits from a client it forwards to the
//! other nodes' `POST /tx`, marked with [`RELAYED`] so that they admit it without forwarding it
//! again (the validators form a full mesh; one hop reaches all).
//!
//! Forwarding never holds the client's answer: each peer has a bounded queue and one thread that
//! posts in admission order, so a neuron's nonces arrive in the order they were admitted. When a
//! peer is slow or down its queue fills and further transactions are dropped for that peer only.
//! Nothing is lost for that: every admitted transaction is durable in this node's mempool, and
//! the relay forwards again each one still there after [`FIRST_RESEND`] blocks (a Sprint step,
//! whose stage may last only a few blocks, after one), then after twice as many, and so on up
//! to every [`MAX_RESEND_GAP`] blocks, until a block commits it or the mempool drops it; after a
//! restart it takes up what the durable mempool holds. A follower, which never proposes, depends
//! on that: a peer that was down when its client posted gets the transaction once it is back. (A
//! peer that holds it already refuses the repeat, which changes nothing there.) What it keeps is
//! bounded by the mempool: whatever left it is forgotten at the next block.

use std::{
    collections::{HashSet, VecDeque},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
        mpsc::{Receiver, SyncSender, TrySendError, sync_channel},
    },
    time::Duration,
};

use engine::{Node, SignedTx};
use ipld_core::cid::Cid;

use crate::wire::SignedTxBody;

/// The request header that marks a forwarded transaction (its value is ignored).
pub(crate) const RELAYED: &str = "x-cybergraph-relayed";

/// Transactions queued for one peer before further ones are dropped for it.
const QUEUE: usize = 8192;

/// How long one forward may take before the peer counts as unreachable for that transaction.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Blocks a forwarded transaction may stay in this node's mempool before it is forwarded again:
/// longer than a transaction waits for a block when every peer has it.
pub(crate) const FIRST_RESEND: u32 = 3;

/// The longest gap, in blocks, between forwards of one transaction.
const MAX_RESEND_GAP: u32 = 64;

/// The forwarding side of a node: one queue per peer API, and what was forwarded and is not
/// committed yet.
pub(crate) struct Relay {
    peers: Vec<Peer>,
    outstanding: Mutex<VecDeque<Outstanding>>,
}

/// One peer's queue, and whether it was full at the last try (so a full queue is logged once,
/// not per transaction).
struct Peer {
    api: String,
    queue: SyncSender<Arc<SignedTxBody>>,
    full: AtomicBool,
}

/// A forwarded transaction still in this node's mempool.
struct Outstanding {
    cid: Cid,
    body: Arc<SignedTxBody>,
    /// Blocks since it was last forwarded, and how many to wait before the next forward.
    waited: u32,
    gap: u32,
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
            senders.push(Peer { api: peer.clone(), queue: sender, full: AtomicBool::new(false) });
        }
        Ok(Relay { peers: senders, outstanding: Mutex::default() })
    }

    /// Forwards again, after each block `node` commits, what is still in its mempool (see the
    /// module documentation), starting with what its durable mempool held at start-up.
    pub(crate) fn follow(self: &Arc<Self>, node: &Arc<Node>) {
        if self.peers.is_empty() {
            return;
        }
        {
            let mut outstanding = self.outstanding.lock().unwrap_or_else(|e| e.into_inner());
            for (cid, signed) in node.query().pending_txs() {
                let body = Arc::new(SignedTxBody::encode(&signed));
                outstanding.push_back(Outstanding { cid, body, waited: 0, gap: FIRST_RESEND });
            }
        }
        let (relay, weak_node) = (Arc::downgrade(self), Arc::downgrade(node));
        node.on_block(move |_| {
            if let (Some(relay), Some(node)) = (relay.upgrade(), weak_node.upgrade()) {
                relay.after_block(|cids| node.query().pending(cids));
            }
        });
    }

    /// The body to forward once `signed` is admitted; none (and no copy) without peers.
    pub(crate) fn prepare(&self, signed: &SignedTx) -> Option<Arc<SignedTxBody>> {
        (!self.peers.is_empty()).then(|| Arc::new(SignedTxBody::encode(signed)))
    }

    /// Queues the body of admitted transaction `cid` for every peer, and keeps it to forward
    /// again after `first_gap` blocks (then doubling) while it stays in the mempool; never
    /// waits.
    pub(crate) fn forward(&self, cid: Cid, body: Arc<SignedTxBody>, first_gap: u32) {
        self.send(&body);
        let gap = first_gap.max(1);
        self.outstanding.lock().unwrap_or_else(|e| e.into_inner()).push_back(Outstanding { cid, body, waited: 0, gap });
    }

    /// One block later: forgets what `pending` (which of these transactions the mempool still
    /// holds) says has left, and forwards again what has waited its gap, doubling the gap.
    /// `pending` runs without the relay's lock held (it takes the node's, which admission holds
    /// across a sync, and a client's forward must not wait behind that).
    fn after_block(&self, pending: impl FnOnce(&[Cid]) -> Vec<bool>) {
        let cids: Vec<Cid> = self.outstanding.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|o| o.cid).collect();
        let gone: HashSet<Cid> =
            cids.iter().zip(pending(&cids)).filter(|(_, held)| !held).map(|(cid, _)| *cid).collect();
        let mut outstanding = self.outstanding.lock().unwrap_or_else(|e| e.into_inner());
        // Entries forwarded meanwhile were not asked about: they stay.
        outstanding.retain(|o| !gone.contains(&o.cid));
        for entry in outstanding.iter_mut() {
            entry.waited += 1;
            if entry.waited >= entry.gap {
                self.send(&entry.body);
                entry.waited = 0;
                entry.gap = (entry.gap * 2).min(MAX_RESEND_GAP);
            }
        }
    }

    fn send(&self, body: &Arc<SignedTxBody>) {
        for peer in &self.peers {
            let full = matches!(peer.queue.try_send(Arc::clone(body)), Err(TrySendError::Full(_)));
            if full && !peer.full.swap(true, Ordering::Relaxed) {
                tracing::warn!(peer = %peer.api, "the peer's relay queue is full: transactions wait for their next forward");
            } else if !full {
                peer.full.store(false, Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use std::{
        io::{BufRead, BufReader, Read, Write},
        net::TcpListener,
    };

    use super::*;

    /// The first request a listener receives: its request line, headers and body.
    fn receive(listener: &TcpListener) -> String {
        let (mut socket, _) = listener.accept().unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut reader = BufReader::new(socket.try_clone().unwrap());
        let (mut head, mut length) = (String::new(), 0);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").unwrap();
        head + &String::from_utf8(body).unwrap()
    }

    #[test]
    fn a_transaction_a_down_peer_missed_reaches_it_once_it_is_back() {
        // A port nothing listens on yet: the first forward finds the peer down.
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let relay = Relay::start(&[format!("http://127.0.0.1:{port}")]).unwrap();
        let body = Arc::new(SignedTxBody { tx: "dHg=".into(), signature: "c2ln".into() });
        relay.forward(Cid::default(), body, FIRST_RESEND);
        std::thread::sleep(Duration::from_millis(300));
        let peer = TcpListener::bind(("127.0.0.1", port)).unwrap();

        // Still in the mempool: forwarded again at the third block, not before.
        let all_pending = |cids: &[Cid]| vec![true; cids.len()];
        relay.after_block(all_pending);
        relay.after_block(all_pending);
        peer.set_nonblocking(true).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert!(peer.accept().is_err(), "forwarded again before its gap");
        peer.set_nonblocking(false).unwrap();
        relay.after_block(all_pending);
        let request = receive(&peer);
        assert!(request.starts_with("POST /tx "), "{request}");
        assert!(request.to_ascii_lowercase().contains(&format!("{RELAYED}: 1")), "{request}");
        assert!(request.contains(r#""tx":"dHg=""#) && request.contains(r#""signature":"c2ln""#), "{request}");

        // The next forward waits twice as long; once committed it is forgotten.
        let gap = |relay: &Relay| relay.outstanding.lock().unwrap().front().map(|o| (o.waited, o.gap));
        assert_eq!(gap(&relay), Some((0, 2 * FIRST_RESEND)));
        relay.after_block(|cids| vec![false; cids.len()]);
        assert_eq!(gap(&relay), None);
    }
}
