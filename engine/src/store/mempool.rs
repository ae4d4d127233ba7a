//! Reading the durable mempool.

use crate::{error::Result, tx::SignedTx};

/// Admitted transactions waiting for a block.
pub trait MempoolReader {
    /// Admitted transactions not yet in a block, in arrival order.
    fn mempool(&self) -> Result<Vec<(u64, SignedTx)>>;
}
