//! Storage behind narrow traits, in reth's `storage-api` style: one reader per concern
//! ([`BlockReader`], [`LinkReader`], [`FocusReader`], [`ContentReader`], [`MempoolReader`]), one
//! [`StoreWriter`],
//! and the bundles [`StoreReader`] (a read-only view: what the API and auditors get) and
//! [`FullStore`] (what a node runs on).
//!
//! Two implementations: [`RocksStore`] (RocksDB; the node's) and [`MemoryStore`] (maps in
//! memory; tests and tools). One conformance suite (`engine/tests/it/store.rs`) runs over both.
//!
//! Architecture invariant: only `rocks/` touches RocksDB and decodes its keys and values;
//! callers see typed records ([`crate::records`]) and typed positions ([`LinkPosition`]).

mod blocks;
mod content;
mod focus;
mod links;
mod memory;
mod mempool;
mod rocks;
mod writer;

use std::path::Path;

pub use blocks::BlockReader;
pub use content::ContentReader;
pub use focus::FocusReader;
pub use links::{LinkPosition, LinkReader, LinkScan};
pub use memory::MemoryStore;
pub use mempool::MempoolReader;
pub use rocks::{MemoryBudget, RocksStore};
pub use writer::StoreWriter;

use crate::error::Result;

/// Every reader: the read-only view of a store.
pub trait StoreReader: BlockReader + LinkReader + FocusReader + ContentReader + MempoolReader + Send + Sync {}

impl<T: BlockReader + LinkReader + FocusReader + ContentReader + MempoolReader + Send + Sync> StoreReader for T {}

/// A store a node can run on: every reader and the writer.
pub trait FullStore: StoreReader + StoreWriter {
    /// The read-only view of this store.
    fn as_reader(&self) -> &dyn StoreReader;
}

impl<T: StoreReader + StoreWriter> FullStore for T {
    fn as_reader(&self) -> &dyn StoreReader {
        self
    }
}

/// Opens the database at `path` read-only, beside a node that may be running on it; it sees
/// what was committed up to the moment of opening.
pub fn open_read_only(path: &Path) -> Result<impl StoreReader> {
    RocksStore::open_read_only(path)
}

/// Flushes and fully compacts the database at `path` (no node may hold it) and answers the size
/// of its live files in bytes: what a chain costs on disk.
pub fn compact(path: &Path) -> Result<u64> {
    RocksStore::open(path)?.compact()
}
