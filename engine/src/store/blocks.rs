//! Reading committed blocks and transactions.

use ipld_core::cid::Cid;

use crate::{
    error::Result,
    genesis::Genesis,
    ids::Height,
    records::{BlockRecord, TxLocation, TxRecord},
    voting::SprintLedger,
};

/// Committed blocks, their transactions and the genesis document.
pub trait BlockReader {
    /// The genesis document, if the chain was initialised.
    fn genesis(&self) -> Result<Option<Genesis>>;

    /// The block at `height`.
    fn block(&self, height: Height) -> Result<Option<BlockRecord>>;

    /// The highest committed block.
    fn last_block(&self) -> Result<Option<BlockRecord>>;

    /// The transactions of one block, in block order.
    fn block_txs(&self, height: Height) -> Result<Vec<TxRecord>>;

    /// The commit certificate that decided the block at `height` (the consensus crate's
    /// encoding), if consensus decided it.
    fn certificate(&self, height: Height) -> Result<Option<Vec<u8>>>;

    /// A Sprint ledger by the CID a header names (every ledger a block produced is kept).
    fn sprint_ledger(&self, cid: &Cid) -> Result<Option<SprintLedger>>;

    /// The block this node proposed at `height` and `round`, while no block at that height is
    /// committed.
    fn proposal(&self, height: Height, round: u32) -> Result<Option<Vec<u8>>>;

    /// Where a transaction was committed.
    fn tx_location(&self, cid: &Cid) -> Result<Option<TxLocation>>;
}
