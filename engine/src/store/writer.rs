//! Writing: blocks, focus, the durable mempool and content, each write synced before it returns.

use crate::{
    error::Result,
    genesis::Genesis,
    particle::Particle,
    records::{BlockDiff, FocusSummary},
    tx::SignedTx,
};

/// Every write the node makes. Each call is atomic and durable when it returns: after `kill -9`
/// the store holds it entirely or not at all.
pub trait StoreWriter {
    /// Writes the genesis document and block 0 together.
    fn commit_genesis(&self, genesis: &Genesis, block: &BlockDiff) -> Result<()>;

    /// Writes a block and every index it touches, and drops its transactions from the mempool.
    fn commit_block(&self, block: &BlockDiff) -> Result<()>;

    /// Stores one height's focus history chunks and summary.
    fn put_focus(&self, summary: &FocusSummary, chunks: &[(u32, Vec<u8>)]) -> Result<()>;

    /// Durably appends admitted transactions to the mempool (one write for all).
    fn append_mempool(&self, entries: &[(u64, &SignedTx)]) -> Result<()>;

    /// Removes mempool entries that can never commit.
    fn drop_mempool(&self, seqs: &[u64]) -> Result<()>;

    /// Durably stores contents under their particles (one write for all).
    fn put_contents(&self, entries: &[(Particle, &[u8])]) -> Result<()>;
}
