//! A decided block as value sync carries it: the block, and — so that a node catching up need
//! not solve every height's focus — the focus after it, which the serving node committed.
//!
//! The focus cannot be checked when it arrives: the header that commits its root is the next
//! block's. The receiving node keeps it beside the committed block and takes it only when the
//! next decided header commits the same root (`engine::Node::commit_decided`); a focus that
//! does not match is dropped and the node solves. The committed values are exactly what their
//! leaves stand for (`engine::focus::committed`), so a matching root fixes every bit.

use borsh::{BorshDeserialize, BorshSerialize};
use engine::focus::FocusTransfer;

use crate::error::{ConsensusError, Result};

/// The bytes of a synced value.
#[derive(BorshSerialize, BorshDeserialize)]
struct SyncedValue {
    /// The block's canonical encoding (`ProposedBlock::encode`).
    block: Vec<u8>,
    /// The focus after the block, where the serving node sent it.
    focus: Option<SyncedFocus>,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct SyncedFocus {
    leaves: Vec<u64>,
    iterations: u32,
    /// The bound's bits (borsh refuses NaN floats; a bound is never one, but the wire need not care).
    bound: u64,
}

/// Bytes a focus of `particles` adds to a synced value.
pub fn focus_bytes(particles: usize) -> usize {
    // The option's tag, the vector's length, the leaves, iterations and bound.
    1 + 4 + particles * 8 + 4 + 8
}

/// Encodes a block (its canonical bytes) and the focus after it.
pub fn encode(block: Vec<u8>, focus: Option<FocusTransfer>) -> Result<Vec<u8>> {
    let focus = focus.map(|f| SyncedFocus { leaves: f.leaves, iterations: f.iterations, bound: f.bound.to_bits() });
    borsh::to_vec(&SyncedValue { block, focus }).map_err(ConsensusError::Codec)
}

/// The block's bytes and the focus after it.
pub fn decode(bytes: &[u8]) -> Result<(Vec<u8>, Option<FocusTransfer>)> {
    let SyncedValue { block, focus } = borsh::from_slice(bytes).map_err(ConsensusError::Codec)?;
    let focus =
        focus.map(|f| FocusTransfer { leaves: f.leaves, iterations: f.iterations, bound: f64::from_bits(f.bound) });
    Ok((block, focus))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_synced_value_round_trips_and_its_focus_costs_what_focus_bytes_says() {
        let focus = FocusTransfer { leaves: vec![1 << 59, 3, 0], iterations: 12, bound: 3.5e-9 };
        let without = encode(vec![7; 10], None).unwrap();
        let with = encode(vec![7; 10], Some(focus.clone())).unwrap();
        assert_eq!(with.len() - without.len(), focus_bytes(3) - 1);
        assert_eq!(decode(&with).unwrap(), (vec![7; 10], Some(focus)));
        assert_eq!(decode(&without).unwrap(), (vec![7; 10], None));
        assert!(decode(&with[..with.len() - 1]).is_err(), "a truncated value is refused");
        assert!(decode(&[with.as_slice(), &[0]].concat()).is_err(), "trailing bytes are refused");
    }
}
