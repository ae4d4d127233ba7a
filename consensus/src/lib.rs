//! Several nodes, one chain: Malachite's BFT engine decides each block; the node proposes,
//! validates and commits it. The only crate that depends on Malachite.
//!
//! - [`context`]: what a height, a validator, a value (a block header's CID), a vote and a
//!   proposal are, and how a proposer is drawn.
//! - [`signing`]: ed25519 under the chain id.
//! - [`codec`]: borsh for every message on the wire and in the write-ahead log.
//! - [`parts`]: a block as a stream of proposal parts.
//! - [`synced`]: a decided block as sync carries it, with the focus after it.
//! - [`app`]: the answers to consensus — propose, validate, commit, sync.
//! - [`service`]: starting it all over a node.

pub mod app;
pub mod codec;
pub mod context;
mod error;
pub mod parts;
pub mod service;
pub mod signing;
pub mod synced;

pub use app::Pace;
pub use error::{ConsensusError, Result};
pub use service::{Background, Running, Settings, start};
