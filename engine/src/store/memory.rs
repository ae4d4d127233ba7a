//! A store in memory: the same contract as [`RocksStore`](super::RocksStore), nothing durable.
//! For tests and tools; the conformance suite holds the two to one behaviour.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    ops::Bound,
    sync::{RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use ipld_core::cid::Cid;

use super::{BlockReader, ContentReader, FocusReader, LinkPosition, LinkReader, LinkScan, MempoolReader, StoreWriter};
use crate::{
    error::{EngineError, Result},
    genesis::Genesis,
    ids::{Height, LinkIdx, NeuronIdx, ParticleIdx},
    neuron::Address,
    particle::Particle,
    records::{BlockDiff, BlockRecord, FocusSummary, LinkRecord, NeuronRecord, TxLocation, TxRecord},
    tx::SignedTx,
    voting::SprintLedger,
};

/// Every table as a map.
#[derive(Default)]
struct Tables {
    genesis: Option<Genesis>,
    particles: Vec<Particle>,
    particle_idx: HashMap<Particle, ParticleIdx>,
    neuron_keys: Vec<Address>,
    neurons: HashMap<Address, NeuronRecord>,
    links: Vec<LinkRecord>,
    by_source: BTreeMap<(ParticleIdx, ParticleIdx, NeuronIdx), LinkIdx>,
    by_target: BTreeSet<(ParticleIdx, ParticleIdx, NeuronIdx)>,
    by_neuron: BTreeSet<(NeuronIdx, LinkIdx)>,
    blocks: BTreeMap<Height, BlockRecord>,
    txs: BTreeMap<(Height, u32), TxRecord>,
    tx_by_cid: HashMap<Cid, TxLocation>,
    mempool: BTreeMap<u64, SignedTx>,
    focus: BTreeMap<(Height, u32), Vec<u8>>,
    focus_summaries: BTreeMap<Height, FocusSummary>,
    certificates: BTreeMap<Height, Vec<u8>>,
    sprint_ledgers: HashMap<Cid, SprintLedger>,
    proposals: BTreeMap<(Height, u32), Vec<u8>>,
    /// By the particle's bytes, the order [`ContentReader::for_each_content`] promises.
    content: BTreeMap<Vec<u8>, (Particle, Vec<u8>)>,
}

/// A store in memory.
#[derive(Default)]
pub struct MemoryStore {
    tables: RwLock<Tables>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Tables> {
        // Every write below completes or leaves the maps as they were before it, so the data
        // behind a poisoned lock is consistent.
        self.tables.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Tables> {
        self.tables.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Tables {
    /// Checks that a block continues the stored chain before anything of it is written, so a
    /// refused block changes nothing (as a RocksDB batch either lands whole or not at all).
    fn check_next(&self, block: &BlockDiff) -> Result<()> {
        let corrupt = |what: String| Err(EngineError::Corruption(what));
        if block.first_link.0 != self.links.len() as u64 {
            return corrupt(format!("block links start at {}, the store holds {}", block.first_link, self.links.len()));
        }
        let next_particle = self.particles.len() as u32;
        if block.new_particles.iter().enumerate().any(|(i, (idx, _))| idx.0 != next_particle + i as u32) {
            return corrupt("new particles do not continue the index sequence".into());
        }
        let next_neuron = self.neuron_keys.len() as u32;
        if block.new_neurons.iter().enumerate().any(|(i, (idx, _))| idx.0 != next_neuron + i as u32) {
            return corrupt("new neurons do not continue the index sequence".into());
        }
        Ok(())
    }

    fn apply(&mut self, block: &BlockDiff, certificate: Option<&[u8]>) {
        let height = Height(block.header.height);
        if let Some(certificate) = certificate {
            self.certificates.insert(height, certificate.to_vec());
        }
        if let (Some(ledger), Some(cid)) = (&block.sprint, block.header.sprint) {
            self.sprint_ledgers.insert(cid, ledger.clone());
        }
        self.proposals = self.proposals.split_off(&(Height(height.0 + 1), 0));
        for (idx, particle) in &block.new_particles {
            self.particle_idx.insert(*particle, *idx);
            self.particles.push(*particle);
        }
        for (_, address) in &block.new_neurons {
            self.neuron_keys.push(*address);
        }
        for (address, record) in &block.neurons {
            self.neurons.insert(*address, *record);
        }
        for link in &block.links {
            let idx = LinkIdx(self.links.len() as u64);
            self.links.push(*link);
            self.by_source.insert((link.from, link.to, link.neuron), idx);
            self.by_target.insert((link.to, link.from, link.neuron));
            self.by_neuron.insert((link.neuron, idx));
        }
        for (index, (cid, tx)) in block.txs.iter().enumerate() {
            self.txs.insert((height, index as u32), tx.clone());
            self.tx_by_cid.insert(*cid, TxLocation { height, index: index as u32 });
        }
        for seq in &block.mempool_done {
            self.mempool.remove(seq);
        }
        self.blocks.insert(height, block.record());
    }

    /// Up to `limit` positions of `scan` strictly after `after` (or from its start), in index
    /// order.
    fn positions(&self, scan: LinkScan, after: Option<LinkPosition>, limit: usize) -> Vec<LinkPosition> {
        let start = after.map_or(Bound::Included(scan.start()), Bound::Excluded);
        let not_of_scan = |p: LinkPosition| -> ! { unreachable!("{p:?} is not a position of {scan:?}") };
        let triple = |p| match p {
            LinkPosition::Source(a, b, n) | LinkPosition::Target(a, b, n) => (a, b, n),
            other => not_of_scan(other),
        };
        let covered = |p: &LinkPosition| scan.covers(p);
        match scan {
            LinkScan::BySource { .. } => self
                .by_source
                .range((bound(start, triple), Bound::Unbounded))
                .map(|(&(a, b, n), _)| LinkPosition::Source(a, b, n))
                .take_while(covered)
                .take(limit)
                .collect(),
            LinkScan::ByTarget { .. } => self
                .by_target
                .range((bound(start, triple), Bound::Unbounded))
                .map(|&(a, b, n)| LinkPosition::Target(a, b, n))
                .take_while(covered)
                .take(limit)
                .collect(),
            LinkScan::ByNeuron { .. } => {
                let pair = |p| match p {
                    LinkPosition::Neuron(n, link) => (n, link),
                    other => not_of_scan(other),
                };
                self.by_neuron
                    .range((bound(start, pair), Bound::Unbounded))
                    .map(|&(n, link)| LinkPosition::Neuron(n, link))
                    .take_while(covered)
                    .take(limit)
                    .collect()
            }
            LinkScan::All { .. } => {
                let first = match start {
                    Bound::Included(LinkPosition::Commit(idx)) => idx.0,
                    Bound::Excluded(LinkPosition::Commit(idx)) => idx.0.saturating_add(1),
                    Bound::Included(other) | Bound::Excluded(other) => not_of_scan(other),
                    Bound::Unbounded => 0,
                };
                (first..self.links.len() as u64).take(limit).map(|idx| LinkPosition::Commit(LinkIdx(idx))).collect()
            }
        }
    }
}

/// `b` with its position mapped to a map's key.
fn bound<K>(b: Bound<LinkPosition>, key: impl Fn(LinkPosition) -> K) -> Bound<K> {
    match b {
        Bound::Included(p) => Bound::Included(key(p)),
        Bound::Excluded(p) => Bound::Excluded(key(p)),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl BlockReader for MemoryStore {
    fn genesis(&self) -> Result<Option<Genesis>> {
        Ok(self.read().genesis.clone())
    }

    fn block(&self, height: Height) -> Result<Option<BlockRecord>> {
        Ok(self.read().blocks.get(&height).cloned())
    }

    fn last_block(&self) -> Result<Option<BlockRecord>> {
        Ok(self.read().blocks.last_key_value().map(|(_, block)| block.clone()))
    }

    fn block_txs(&self, height: Height) -> Result<Vec<TxRecord>> {
        Ok(self.read().txs.range((height, 0)..=(height, u32::MAX)).map(|(_, tx)| tx.clone()).collect())
    }

    fn certificate(&self, height: Height) -> Result<Option<Vec<u8>>> {
        Ok(self.read().certificates.get(&height).cloned())
    }

    fn sprint_ledger(&self, cid: &Cid) -> Result<Option<SprintLedger>> {
        Ok(self.read().sprint_ledgers.get(cid).cloned())
    }

    fn proposal(&self, height: Height, round: u32) -> Result<Option<Vec<u8>>> {
        Ok(self.read().proposals.get(&(height, round)).cloned())
    }

    fn tx_location(&self, cid: &Cid) -> Result<Option<TxLocation>> {
        Ok(self.read().tx_by_cid.get(cid).copied())
    }
}

impl LinkReader for MemoryStore {
    fn particles(&self) -> Result<Vec<Particle>> {
        Ok(self.read().particles.clone())
    }

    fn particle_idx(&self, particle: &Particle) -> Result<Option<ParticleIdx>> {
        Ok(self.read().particle_idx.get(particle).copied())
    }

    fn neurons(&self) -> Result<Vec<(Address, NeuronRecord)>> {
        let tables = self.read();
        tables
            .neuron_keys
            .iter()
            .map(|address| {
                let record = tables
                    .neurons
                    .get(address)
                    .ok_or_else(|| EngineError::Corruption("neuron without record".into()))?;
                Ok((*address, *record))
            })
            .collect()
    }

    fn link(&self, from: ParticleIdx, to: ParticleIdx, neuron: NeuronIdx) -> Result<Option<LinkIdx>> {
        Ok(self.read().by_source.get(&(from, to, neuron)).copied())
    }

    fn link_record(&self, idx: LinkIdx) -> Result<Option<LinkRecord>> {
        Ok(self.read().links.get(idx.0 as usize).copied())
    }

    fn scan_links(
        &self,
        scan: LinkScan,
        after: Option<LinkPosition>,
        visit: &mut dyn FnMut(LinkPosition, LinkIdx, LinkRecord) -> Result<bool>,
    ) -> Result<()> {
        // Resolved a chunk at a time under the lock and visited outside it (a visitor may read
        // the store again), so a scan costs what it visits, not the whole index.
        const CHUNK: usize = 256;
        let mut after = after;
        loop {
            let chunk: Vec<(LinkPosition, LinkIdx, LinkRecord)> = {
                let tables = self.read();
                let missing = |what: String| EngineError::Corruption(what);
                tables
                    .positions(scan, after, CHUNK)
                    .into_iter()
                    .map(|position| {
                        let idx = match position {
                            LinkPosition::Source(f, t, n) | LinkPosition::Target(t, f, n) => *tables
                                .by_source
                                .get(&(f, t, n))
                                .ok_or_else(|| missing("in-link without out-link".into()))?,
                            LinkPosition::Neuron(_, idx) | LinkPosition::Commit(idx) => idx,
                        };
                        let record =
                            *tables.links.get(idx.0 as usize).ok_or_else(|| missing(format!("link {idx} missing")))?;
                        Ok((position, idx, record))
                    })
                    .collect::<Result<_>>()?
            };
            let Some(&(last, ..)) = chunk.last() else { return Ok(()) };
            for (position, idx, record) in chunk {
                if !visit(position, idx, record)? {
                    return Ok(());
                }
            }
            after = Some(last);
        }
    }
}

impl FocusReader for MemoryStore {
    fn focus_summary(&self, height: Height) -> Result<Option<FocusSummary>> {
        Ok(self.read().focus_summaries.get(&height).cloned())
    }

    fn focus_chunk(&self, height: Height, chunk: u32) -> Result<Option<Vec<u8>>> {
        Ok(self.read().focus.get(&(height, chunk)).cloned())
    }
}

impl ContentReader for MemoryStore {
    fn content(&self, particle: &Particle) -> Result<Option<Vec<u8>>> {
        Ok(self.read().content.get(&particle.to_bytes()).map(|(_, content)| content.clone()))
    }

    fn for_each_content(&self, visit: &mut dyn FnMut(Particle, &[u8]) -> Result<bool>) -> Result<()> {
        let entries: Vec<(Particle, Vec<u8>)> = self.read().content.values().cloned().collect();
        for (particle, content) in entries {
            if !visit(particle, &content)? {
                break;
            }
        }
        Ok(())
    }
}

impl MempoolReader for MemoryStore {
    fn mempool(&self) -> Result<Vec<(u64, SignedTx)>> {
        Ok(self.read().mempool.iter().map(|(seq, tx)| (*seq, tx.clone())).collect())
    }
}

impl StoreWriter for MemoryStore {
    fn commit_genesis(&self, genesis: &Genesis, block: &BlockDiff) -> Result<()> {
        let mut tables = self.write();
        tables.check_next(block)?;
        tables.genesis = Some(genesis.clone());
        tables.apply(block, None);
        Ok(())
    }

    fn commit_block(&self, block: &BlockDiff, certificate: Option<&[u8]>) -> Result<()> {
        let mut tables = self.write();
        tables.check_next(block)?;
        tables.apply(block, certificate);
        Ok(())
    }

    fn put_proposal(&self, height: Height, round: u32, block: &[u8]) -> Result<()> {
        self.write().proposals.insert((height, round), block.to_vec());
        Ok(())
    }

    fn put_focus(&self, summary: &FocusSummary, chunks: &[(u32, Vec<u8>)]) -> Result<()> {
        let mut tables = self.write();
        let height = Height(summary.height);
        for (chunk, bytes) in chunks {
            tables.focus.insert((height, *chunk), bytes.clone());
        }
        tables.focus_summaries.insert(height, summary.clone());
        Ok(())
    }

    fn append_mempool(&self, entries: &[(u64, &SignedTx)]) -> Result<()> {
        let mut tables = self.write();
        for (seq, tx) in entries {
            tables.mempool.insert(*seq, (*tx).clone());
        }
        Ok(())
    }

    fn drop_mempool(&self, seqs: &[u64]) -> Result<()> {
        let mut tables = self.write();
        for seq in seqs {
            tables.mempool.remove(seq);
        }
        Ok(())
    }

    fn put_contents(&self, entries: &[(Particle, &[u8])]) -> Result<()> {
        let mut tables = self.write();
        for (particle, content) in entries {
            tables.content.insert(particle.to_bytes(), (*particle, content.to_vec()));
        }
        Ok(())
    }
}
