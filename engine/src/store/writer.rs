//! Writing: blocks, focus, the durable mempool and content, each write synced before it returns.

use crate::{
    error::Result,
    genesis::Genesis,
    ids::Height,
    particle::Particle,
    records::{BlockDiff, FocusSummary},
    tx::SignedTx,
};

/// Every write the node makes. Each call is atomic and durable when it returns: after `kill -9`
/// the store holds it entirely or not at all.
pub trait StoreWriter {
    /// Writes the genesis document and block 0 together.
    fn commit_genesis(&self, genesis: &Genesis, block: &BlockDiff) -> Result<()>;

    /// Writes a block, the commit certificate that decided it (consensus; `None` for a chain one
    /// node produces) and every index it touches; drops its transactions from the mempool and
    /// the node's own proposals at its height and below.
    fn commit_block(&self, block: &BlockDiff, certificate: Option<&[u8]>) -> Result<()>;

    /// Durably keeps the block this node proposed at `height` and `round`, so that it proposes
    /// the same block again if asked again, after a restart too.
    fn put_proposal(&self, height: Height, round: u32, block: &[u8]) -> Result<()>;

    /// Stores one height's focus history chunks and summary.
    fn put_focus(&self, summary: &FocusSummary, chunks: &[(u32, Vec<u8>)]) -> Result<()>;

    /// Durably appends admitted transactions to the mempool (one write for all).
    fn append_mempool(&self, entries: &[(u64, &SignedTx)]) -> Result<()>;

    /// Removes mempool entries that can never commit.
    fn drop_mempool(&self, seqs: &[u64]) -> Result<()>;

    /// Durably stores contents under their particles (one write for all).
    fn put_contents(&self, entries: &[(Particle, &[u8])]) -> Result<()>;
}
