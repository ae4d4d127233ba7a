//! The mempool: admitted transactions waiting for a block, in arrival order.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use ipld_core::cid::Cid;

use crate::{
    error::{EngineError, Result},
    neuron::Address,
    particle::Particle,
    state::ChainState,
    tx::VerifiedTx,
};

/// Where a submitted transaction comes from: what admission may refuse up front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A client: a Sprint step the next height would make a no-op is refused, so the client
    /// learns now rather than spending a nonce on nothing.
    Client,
    /// Another node that admitted it (a relay), or this node's own durable mempool at start-up:
    /// such a step is admitted all the same. It stays a valid transaction (a block that carries
    /// it spends its nonce and changes nothing), and refusing it here would leave every later
    /// transaction of its signer waiting on a nonce this node never sees.
    Peer,
}

/// What a neuron has waiting.
#[derive(Clone, Copy, Debug)]
struct Pending {
    last_nonce: u64,
    links: u64,
    txs: usize,
}

/// Admitted, durable, not yet committed transactions.
#[derive(Default)]
pub(crate) struct Mempool {
    entries: BTreeMap<u64, Arc<VerifiedTx>>,
    next_seq: u64,
    neurons: HashMap<Address, Pending>,
    /// Pending links with the number of waiting transactions that carry each.
    links: HashMap<(Address, Particle, Particle), u32>,
    cids: HashMap<Cid, u64>,
}

impl Mempool {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The waiting transactions, in admission order.
    pub(crate) fn transactions(&self) -> impl Iterator<Item = &Arc<VerifiedTx>> {
        self.entries.values()
    }

    /// Whether a transaction is waiting.
    pub(crate) fn contains(&self, cid: &Cid) -> bool {
        self.cids.contains_key(cid)
    }

    /// The entries holding these transactions, for those that are waiting here.
    pub(crate) fn seqs_of<'a>(&self, cids: impl IntoIterator<Item = &'a Cid>) -> Vec<u64> {
        cids.into_iter().filter_map(|cid| self.cids.get(cid).copied()).collect()
    }

    /// The sequence number the next admitted transaction gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The nonce the neuron's next transaction must carry, counting waiting ones.
    pub(crate) fn next_nonce(&self, state: &ChainState, neuron: &Address) -> u64 {
        self.neurons.get(neuron).map_or_else(|| state.next_nonce(neuron), |p| p.last_nonce + 1)
    }

    /// Links the neuron has waiting.
    pub(crate) fn pending_links(&self, neuron: &Address) -> u64 {
        self.neurons.get(neuron).map_or(0, |p| p.links)
    }

    /// The stateful admission rules: the next nonce, and the neuron's waiting links plus this
    /// transaction's within one block's quota (so everything admitted fits the next block); a
    /// Sprint step on a chain that runs Sprint, and, from `Origin::Client`, one the next height
    /// would not make a no-op.
    pub(crate) fn check(&self, state: &ChainState, tx: &VerifiedTx, origin: Origin) -> Result<()> {
        let expected = self.next_nonce(state, &tx.neuron);
        if tx.nonce != expected {
            return Err(EngineError::Nonce { neuron: tx.neuron, expected, got: tx.nonce });
        }
        let pending = self.pending_links(&tx.neuron);
        let quota = state.quota_of(&tx.neuron);
        if pending + tx.links.len() as u64 > quota {
            return Err(EngineError::RateLimited {
                neuron: tx.neuron,
                pending,
                requested: tx.links.len() as u64,
                quota,
            });
        }
        match &tx.sprint {
            Some(step) => state.check_sprint(&tx.neuron, step, origin == Origin::Client),
            None => Ok(()),
        }
    }

    /// Positions of the transaction's links that are already committed, waiting, or repeated
    /// earlier in the same transaction: they will be no-ops.
    pub(crate) fn duplicates(&self, state: &ChainState, tx: &VerifiedTx) -> Vec<usize> {
        let mut seen = std::collections::HashSet::new();
        tx.links
            .iter()
            .enumerate()
            .filter(|(_, (from, to))| {
                !seen.insert((from, to))
                    || self.links.contains_key(&(tx.neuron, *from, *to))
                    || state.has_link(&tx.neuron, from, to)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// Adds an admitted transaction; the caller has run [`Mempool::check`].
    pub(crate) fn insert(&mut self, seq: u64, tx: Arc<VerifiedTx>) {
        let pending = self.neurons.entry(tx.neuron).or_insert(Pending { last_nonce: 0, links: 0, txs: 0 });
        pending.last_nonce = tx.nonce;
        pending.links += tx.links.len() as u64;
        pending.txs += 1;
        for (from, to) in &tx.links {
            *self.links.entry((tx.neuron, *from, *to)).or_default() += 1;
        }
        self.next_seq = self.next_seq.max(seq + 1);
        self.cids.insert(tx.cid, seq);
        self.entries.insert(seq, tx);
    }

    /// Removes entries (committed, dropped, or admitted but not made durable).
    pub(crate) fn remove(&mut self, seqs: &[u64]) {
        for seq in seqs {
            let Some(tx) = self.entries.remove(seq) else {
                continue;
            };
            self.cids.remove(&tx.cid);
            if let Some(pending) = self.neurons.get_mut(&tx.neuron) {
                pending.links -= tx.links.len() as u64;
                pending.txs -= 1;
                if pending.txs == 0 {
                    self.neurons.remove(&tx.neuron);
                }
            }
            for (from, to) in &tx.links {
                let key = (tx.neuron, *from, *to);
                if let Some(count) = self.links.get_mut(&key) {
                    *count -= 1;
                    if *count == 0 {
                        self.links.remove(&key);
                    }
                }
            }
        }
    }

    /// The next block's transactions in arrival order, and the entries that can never commit
    /// (a nonce already used). A neuron whose transaction does not fit its quota or the block's
    /// byte budget, or follows a nonce gap, waits, with all its later transactions, for a later
    /// block.
    pub(crate) fn select(&self, state: &ChainState) -> (Vec<(u64, Arc<VerifiedTx>)>, Vec<u64>) {
        let mut chosen = Vec::new();
        let mut stale = Vec::new();
        let mut progress: HashMap<Address, (u64, u64, bool)> = HashMap::new();
        let mut block_bytes_left = state.genesis().params.max_block_tx_bytes;
        for (&seq, tx) in &self.entries {
            let (next, used, waiting) =
                progress.entry(tx.neuron).or_insert_with(|| (state.next_nonce(&tx.neuron), 0, false));
            let bytes = tx.signed.block_bytes();
            if tx.nonce < *next {
                stale.push(seq);
            } else if *waiting
                || tx.nonce > *next
                || *used + tx.links.len() as u64 > state.quota_of(&tx.neuron)
                || bytes > block_bytes_left
            {
                *waiting = true;
            } else {
                *next += 1;
                *used += tx.links.len() as u64;
                block_bytes_left -= bytes;
                chosen.push((seq, Arc::clone(tx)));
            }
        }
        (chosen, stale)
    }
}
