//! The RocksDB store: one database, one column family per [`Table`](tables::Table).
//!
//! The only module that touches RocksDB. It writes a block's every index in one synced
//! `WriteBatch`, so after `kill -9` the database holds each block entirely or not at all, and an
//! acknowledged mempool entry is in the synced write-ahead log. Keys and values are laid out in
//! `tables.rs` and `codec.rs` and decoded nowhere else.

mod codec;
mod tables;

use std::path::Path;

use ipld_core::cid::Cid;
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType, Direction, IteratorMode,
    Options, WriteBatch, WriteOptions,
};

use tables::{GENESIS_KEY, Table, be, focus_key, parse_tx_key, proposal_key, tx_key};

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

impl From<rocksdb::Error> for EngineError {
    fn from(error: rocksdb::Error) -> Self {
        EngineError::Store(error.into_string())
    }
}

/// One raw entry of a table.
type KeyValue = (Box<[u8]>, Box<[u8]>);

/// The memory RocksDB may hold beyond what it maps from files: memtables (writes not yet
/// flushed, across every table together) and the block cache (decompressed data, index and
/// filter blocks, shared by every table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Bytes of memtables across all tables.
    pub write_buffer_bytes: usize,
    /// Bytes of block cache.
    pub block_cache_bytes: usize,
}

impl Default for MemoryBudget {
    /// 64 MiB of memtables and 64 MiB of block cache.
    fn default() -> Self {
        MemoryBudget { write_buffer_bytes: 64 << 20, block_cache_bytes: 64 << 20 }
    }
}

/// The most a table's memtable holds before it is flushed. A memtable is a skip list, and a
/// block's index inserts walk fewer and warmer nodes in a small one: `cargo bench -p engine
/// --bench store_commit` commits a 9,600-link block in ~20 % less time with 4 MiB than with
/// 16 MiB, the flushes (more, smaller) running in the background. Below 4 MiB, writes begin to
/// wait for flushes.
const TABLE_MEMTABLE_BYTES: usize = 4 << 20;

/// The node's database.
pub struct RocksStore {
    db: DB,
}

fn corrupt(what: &str) -> EngineError {
    EngineError::Corruption(what.to_owned())
}

impl RocksStore {
    /// Opens (creating if needed) the database at `path` for reading and writing, within the
    /// default [`MemoryBudget`]. Only one process may hold it so.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_within(path, MemoryBudget::default())
    }

    /// [`RocksStore::open`] within `budget`.
    pub fn open_within(path: &Path, budget: MemoryBudget) -> Result<Self> {
        let cache = Cache::new_lru_cache(budget.block_cache_bytes)?;
        let db = DB::open_cf_descriptors(&Self::options(&budget), path, Self::descriptors(&budget, &cache))?;
        Ok(RocksStore { db })
    }

    /// Opens an existing database read-only, beside a node that may be running on it. It sees
    /// what was committed up to the moment of opening.
    pub fn open_read_only(path: &Path) -> Result<Self> {
        if !path.join("CURRENT").exists() {
            return Err(EngineError::NoDatabase(path.to_owned()));
        }
        // A database written by an older binary lacks the newer tables; they read as empty.
        let options = Self::options(&MemoryBudget::default());
        let present = DB::list_cf(&options, path)?;
        let names = Table::ALL.iter().map(|t| t.name()).filter(|name| present.iter().any(|p| p == name));
        let db = DB::open_cf_for_read_only(&options, path, names, false)?;
        Ok(RocksStore { db })
    }

    /// Database-wide options: the memtables of every table together stay under the budget's
    /// write buffers (RocksDB flushes the largest when they reach it).
    fn options(budget: &MemoryBudget) -> Options {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_compression_type(DBCompressionType::Lz4);
        opts.set_bottommost_compression_type(DBCompressionType::Zstd);
        opts.set_max_background_jobs(2);
        opts.set_db_write_buffer_size(budget.write_buffer_bytes);
        opts
    }

    /// Per-table options: memtables of [`TABLE_MEMTABLE_BYTES`] (a quarter of the budget if
    /// that is less), two at most, and one block cache shared by every table that also holds
    /// index and filter blocks, so reads stay within the budget's cache however many files the
    /// tables have.
    fn descriptors(budget: &MemoryBudget, cache: &Cache) -> Vec<ColumnFamilyDescriptor> {
        Table::ALL
            .iter()
            .map(|&table| {
                let mut opts = Self::options(budget);
                opts.set_write_buffer_size(TABLE_MEMTABLE_BYTES.min(budget.write_buffer_bytes / 4).max(1 << 20));
                opts.set_max_write_buffer_number(2);
                let mut block = BlockBasedOptions::default();
                block.set_block_cache(cache);
                block.set_cache_index_and_filter_blocks(true);
                // The newest files' index and filter blocks stay cached: every lookup reads them.
                block.set_pin_l0_filter_and_index_blocks_in_cache(true);
                if table.point_lookups() {
                    block.set_bloom_filter(10.0, false);
                }
                opts.set_block_based_table_factory(&block);
                ColumnFamilyDescriptor::new(table.name(), opts)
            })
            .collect()
    }

    /// A table to write: every table exists in a database opened for writing.
    fn cf(&self, table: Table) -> &ColumnFamily {
        self.db.cf_handle(table.name()).expect("every table is opened with a writable database")
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.db.cf_handle(table.name()) {
            Some(cf) => Ok(self.db.get_cf(cf, key)?),
            None => Ok(None),
        }
    }

    fn write_synced(&self, batch: WriteBatch) -> Result<()> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        Ok(self.db.write_opt(batch, &options)?)
    }

    /// Visits every entry of a table in key order, or those from `start` on.
    fn scan(
        &self,
        table: Table,
        start: Option<&[u8]>,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mode = match start {
            Some(key) => IteratorMode::From(key, Direction::Forward),
            None => IteratorMode::Start,
        };
        let Some(cf) = self.db.cf_handle(table.name()) else {
            return Ok(());
        };
        for item in self.db.iterator_cf(cf, mode) {
            let (key, value) = item?;
            if !visit(&key, &value)? {
                break;
            }
        }
        Ok(())
    }

    fn last(&self, table: Table) -> Result<Option<KeyValue>> {
        let Some(cf) = self.db.cf_handle(table.name()) else {
            return Ok(None);
        };
        Ok(self.db.iterator_cf(cf, IteratorMode::End).next().transpose()?)
    }

    fn stage_block(&self, batch: &mut WriteBatch, block: &BlockDiff, certificate: Option<&[u8]>) {
        let height = Height(block.header.height);
        let particles = &block.new_particles;
        self.put_ascending(
            batch,
            Table::ParticleByCid,
            particles.iter().map(|(idx, p)| (p.to_bytes(), idx.to_be_bytes())),
        );
        // Particle and link indices are new and consecutive: those keys come in order already.
        for (idx, particle) in particles {
            batch.put_cf(self.cf(Table::CidByParticle), idx.to_be_bytes(), particle.to_bytes());
        }
        for (idx, address) in &block.new_neurons {
            batch.put_cf(self.cf(Table::NeuronKeys), idx.to_be_bytes(), address.0);
        }
        for (address, record) in &block.neurons {
            batch.put_cf(self.cf(Table::Neurons), address.0, record.encode());
        }
        let links = || (block.first_link.0..).map(LinkIdx).zip(&block.links);
        for (idx, link) in links() {
            batch.put_cf(self.cf(Table::Links), idx.to_be_bytes(), link.encode());
        }
        self.put_ascending(
            batch,
            Table::LinksByFrom,
            links().map(|(idx, l)| (LinkPosition::Source(l.from, l.to, l.neuron).to_bytes(), idx.to_be_bytes())),
        );
        self.put_ascending(
            batch,
            Table::LinksByTo,
            links().map(|(_, l)| (LinkPosition::Target(l.to, l.from, l.neuron).to_bytes(), [])),
        );
        self.put_ascending(
            batch,
            Table::LinksByNeuron,
            links().map(|(idx, l)| (LinkPosition::Neuron(l.neuron, idx).to_bytes(), [])),
        );
        for (index, (cid, tx)) in block.txs.iter().enumerate() {
            let key = tx_key(height, index as u32);
            batch.put_cf(self.cf(Table::Txs), key, tx.encode());
            batch.put_cf(self.cf(Table::TxByCid), cid.to_bytes(), key);
        }
        for seq in &block.mempool_done {
            batch.delete_cf(self.cf(Table::Mempool), seq.to_be_bytes());
        }
        batch.put_cf(self.cf(Table::Blocks), height.to_be_bytes(), block.record().encode());
        if let Some(certificate) = certificate {
            batch.put_cf(self.cf(Table::Certificates), height.to_be_bytes(), certificate);
            // This validator's proposals at this height can never be asked for again (those
            // below went with their own heights' blocks).
            batch.delete_range_cf(
                self.cf(Table::Proposals),
                proposal_key(height, 0),
                proposal_key(Height(height.0 + 1), 0),
            );
        }
        // Keyed by the CID the header already names.
        if let (Some(ledger), Some(cid)) = (&block.sprint, &block.header.sprint) {
            batch.put_cf(self.cf(Table::Sprint), cid.to_bytes(), ledger.encode());
        }
    }

    /// Puts `entries` into `table` in ascending key order (keys are distinct). The memtable is a
    /// skip list that reuses the previous insert's place when the next key directly follows it,
    /// and whose descent for a key near the previous one walks nodes still in cache; a block's
    /// link-index keys in arrival order (random particles) each descend through cold nodes
    /// (`cargo bench -p engine --bench store_commit`: a quarter less time per 9,600-link block).
    fn put_ascending<K: AsRef<[u8]> + Ord, V: AsRef<[u8]>>(
        &self,
        batch: &mut WriteBatch,
        table: Table,
        entries: impl Iterator<Item = (K, V)>,
    ) {
        let mut entries: Vec<(K, V)> = entries.collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let cf = self.cf(table);
        for (key, value) in entries {
            batch.put_cf(cf, key, value);
        }
    }

    /// Compacts every table fully and answers the size of the live SST files in bytes (what
    /// the ingest bench reports per link).
    pub fn compact(&self) -> Result<u64> {
        for table in Table::ALL {
            self.db.flush_cf(self.cf(table))?;
            self.db.compact_range_cf(self.cf(table), None::<&[u8]>, None::<&[u8]>);
        }
        Ok(self.db.live_files()?.iter().map(|f| f.size as u64).sum())
    }
}

impl BlockReader for RocksStore {
    fn genesis(&self) -> Result<Option<Genesis>> {
        self.get(Table::Meta, GENESIS_KEY)?
            .map(|bytes| serde_ipld_dagcbor::from_slice(&bytes).map_err(|e| corrupt(&format!("genesis: {e}"))))
            .transpose()
    }

    fn block(&self, height: Height) -> Result<Option<BlockRecord>> {
        self.get(Table::Blocks, &height.to_be_bytes())?.map(|v| BlockRecord::decode(&v)).transpose()
    }

    fn last_block(&self) -> Result<Option<BlockRecord>> {
        self.last(Table::Blocks)?.map(|(_, v)| BlockRecord::decode(&v)).transpose()
    }

    fn block_txs(&self, height: Height) -> Result<Vec<TxRecord>> {
        let mut txs = Vec::new();
        self.scan(Table::Txs, Some(&tx_key(height, 0)), |key, value| {
            if parse_tx_key(key).map(|(h, _)| h) != Some(height) {
                return Ok(false);
            }
            txs.push(TxRecord::decode(value)?);
            Ok(true)
        })?;
        Ok(txs)
    }

    fn certificate(&self, height: Height) -> Result<Option<Vec<u8>>> {
        self.get(Table::Certificates, &height.to_be_bytes())
    }

    fn sprint_ledger(&self, cid: &Cid) -> Result<Option<SprintLedger>> {
        self.get(Table::Sprint, &cid.to_bytes())?.map(|bytes| SprintLedger::decode(&bytes)).transpose()
    }

    fn proposal(&self, height: Height, round: u32) -> Result<Option<Vec<u8>>> {
        self.get(Table::Proposals, &proposal_key(height, round))
    }

    fn tx_location(&self, cid: &Cid) -> Result<Option<TxLocation>> {
        Ok(self
            .get(Table::TxByCid, &cid.to_bytes())?
            .and_then(|key| parse_tx_key(&key).map(|(height, index)| TxLocation { height, index })))
    }
}

impl LinkReader for RocksStore {
    fn particles(&self) -> Result<Vec<Particle>> {
        let mut particles = Vec::new();
        self.scan(Table::CidByParticle, None, |key, value| {
            let idx = u32::from_be_bytes(be(key, 0).ok_or_else(|| corrupt("particle key"))?);
            if idx as usize != particles.len() {
                return Err(corrupt(&format!("particle index {idx} out of sequence")));
            }
            particles.push(Particle::from_bytes(value)?);
            Ok(true)
        })?;
        Ok(particles)
    }

    fn particle_idx(&self, particle: &Particle) -> Result<Option<ParticleIdx>> {
        Ok(self
            .get(Table::ParticleByCid, &particle.to_bytes())?
            .and_then(|v| be(&v, 0).map(|b| ParticleIdx(u32::from_be_bytes(b)))))
    }

    fn neurons(&self) -> Result<Vec<(Address, NeuronRecord)>> {
        let mut keys = Vec::new();
        self.scan(Table::NeuronKeys, None, |_, value| {
            keys.push(Address(be(value, 0).ok_or_else(|| corrupt("neuron key"))?));
            Ok(true)
        })?;
        keys.into_iter()
            .map(|address| {
                let record = self.get(Table::Neurons, &address.0)?.ok_or_else(|| corrupt("neuron without record"))?;
                Ok((address, NeuronRecord::decode(&record)?))
            })
            .collect()
    }

    fn link(&self, from: ParticleIdx, to: ParticleIdx, neuron: NeuronIdx) -> Result<Option<LinkIdx>> {
        Ok(self
            .get(Table::LinksByFrom, &LinkPosition::Source(from, to, neuron).to_bytes())?
            .and_then(|v| be(&v, 0).map(|b| LinkIdx(u64::from_be_bytes(b)))))
    }

    fn link_record(&self, idx: LinkIdx) -> Result<Option<LinkRecord>> {
        self.get(Table::Links, &idx.to_be_bytes())?.map(|v| LinkRecord::decode(&v)).transpose()
    }

    fn scan_links(
        &self,
        scan: LinkScan,
        after: Option<LinkPosition>,
        visit: &mut dyn FnMut(LinkPosition, LinkIdx, LinkRecord) -> Result<bool>,
    ) -> Result<()> {
        let table = match scan {
            LinkScan::BySource { .. } => Table::LinksByFrom,
            LinkScan::ByTarget { .. } => Table::LinksByTo,
            LinkScan::ByNeuron { .. } => Table::LinksByNeuron,
            LinkScan::All { .. } => Table::Links,
        };
        let start = match after {
            // Strictly after: the smallest key greater than the position's.
            Some(position) => [position.to_bytes(), vec![0]].concat(),
            None => scan.start().to_bytes(),
        };
        self.scan(table, Some(&start), |key, value| {
            let Some(position) = scan.position(key) else {
                return Ok(false);
            };
            let idx = match position {
                LinkPosition::Source(..) => {
                    LinkIdx(u64::from_be_bytes(be(value, 0).ok_or_else(|| corrupt("link index"))?))
                }
                LinkPosition::Target(to, from, neuron) => {
                    self.link(from, to, neuron)?.ok_or_else(|| corrupt("in-link without out-link"))?
                }
                LinkPosition::Neuron(_, idx) | LinkPosition::Commit(idx) => idx,
            };
            let record = match position {
                LinkPosition::Commit(_) => LinkRecord::decode(value)?,
                _ => self.link_record(idx)?.ok_or_else(|| corrupt(&format!("link {idx} missing")))?,
            };
            visit(position, idx, record)
        })
    }
}

impl FocusReader for RocksStore {
    fn focus_summary(&self, height: Height) -> Result<Option<FocusSummary>> {
        self.get(Table::FocusSummary, &height.to_be_bytes())?.map(|v| FocusSummary::decode(&v)).transpose()
    }

    fn focus_chunk(&self, height: Height, chunk: u32) -> Result<Option<Vec<u8>>> {
        self.get(Table::Focus, &focus_key(height, chunk))
    }
}

impl ContentReader for RocksStore {
    fn content(&self, particle: &Particle) -> Result<Option<Vec<u8>>> {
        self.get(Table::Content, &particle.to_bytes())
    }

    fn for_each_content(&self, visit: &mut dyn FnMut(Particle, &[u8]) -> Result<bool>) -> Result<()> {
        self.scan(Table::Content, None, |key, value| visit(Particle::from_bytes(key)?, value))
    }
}

impl MempoolReader for RocksStore {
    fn mempool(&self) -> Result<Vec<(u64, SignedTx)>> {
        let mut entries = Vec::new();
        self.scan(Table::Mempool, None, |key, value| {
            let seq = u64::from_be_bytes(be(key, 0).ok_or_else(|| corrupt("mempool key"))?);
            let signature = be::<64>(value, 0).ok_or_else(|| corrupt("mempool entry"))?;
            entries.push((seq, SignedTx { bytes: value[64..].to_vec(), signature }));
            Ok(true)
        })?;
        Ok(entries)
    }
}

impl StoreWriter for RocksStore {
    fn commit_genesis(&self, genesis: &Genesis, block: &BlockDiff) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(Table::Meta), GENESIS_KEY, genesis.encode());
        self.stage_block(&mut batch, block, None);
        self.write_synced(batch)
    }

    fn commit_block(&self, block: &BlockDiff, certificate: Option<&[u8]>) -> Result<()> {
        let mut batch = WriteBatch::default();
        self.stage_block(&mut batch, block, certificate);
        self.write_synced(batch)
    }

    fn put_proposal(&self, height: Height, round: u32, block: &[u8]) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(Table::Proposals), proposal_key(height, round), block);
        self.write_synced(batch)
    }

    fn put_focus(&self, summary: &FocusSummary, chunks: &[(u32, Vec<u8>)]) -> Result<()> {
        let mut batch = WriteBatch::default();
        let height = Height(summary.height);
        for (chunk, bytes) in chunks {
            batch.put_cf(self.cf(Table::Focus), focus_key(height, *chunk), bytes);
        }
        batch.put_cf(self.cf(Table::FocusSummary), height.to_be_bytes(), summary.encode());
        self.write_synced(batch)
    }

    fn append_mempool(&self, entries: &[(u64, &SignedTx)]) -> Result<()> {
        let mut batch = WriteBatch::default();
        for (seq, tx) in entries {
            let value = [tx.signature.as_slice(), &tx.bytes].concat();
            batch.put_cf(self.cf(Table::Mempool), seq.to_be_bytes(), value);
        }
        self.write_synced(batch)
    }

    fn drop_mempool(&self, seqs: &[u64]) -> Result<()> {
        let mut batch = WriteBatch::default();
        for seq in seqs {
            batch.delete_cf(self.cf(Table::Mempool), seq.to_be_bytes());
        }
        self.write_synced(batch)
    }

    fn put_contents(&self, entries: &[(Particle, &[u8])]) -> Result<()> {
        let mut batch = WriteBatch::default();
        for (particle, content) in entries {
            batch.put_cf(self.cf(Table::Content), particle.to_bytes(), content);
        }
        self.write_synced(batch)
    }
}
