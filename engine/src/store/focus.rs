//! Reading the focus history.

use crate::{error::Result, ids::Height, records::FocusSummary};

/// Each height's focus summary and history chunks (the focus module defines their format).
pub trait FocusReader {
    /// The focus summary of a height.
    fn focus_summary(&self, height: Height) -> Result<Option<FocusSummary>>;

    /// One stored focus history chunk.
    fn focus_chunk(&self, height: Height, chunk: u32) -> Result<Option<Vec<u8>>>;
}
