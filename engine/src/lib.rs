//! The cybergraph state machine and its store.
//!
//! Neurons (ed25519 keys) sign [`Transaction`]s of cyberlinks between [`Particle`]s (CIDs). A
//! [`Node`] admits them into a durable mempool, and each block moves the [`ChainState`] by a pure
//! transition ([`ChainState::prepare_block`]) that the store ([`store::FullStore`]) writes in one
//! atomic batch; [`Query`] answers reads.
//!
//! ```
//! use engine::{Genesis, Node, NodeConfig, NeuronKey, Particle, Transaction};
//! let dir = tempfile::tempdir().unwrap();
//! let key = NeuronKey::generate();
//! Node::init(dir.path(), &Genesis::development(&[key.address()], 0)).unwrap();
//! let node = Node::open(dir.path(), NodeConfig::default()).unwrap();
//! let (a, b) = (Particle::of_content(b"tree"), Particle::of_content(b"oak"));
//! let tx = Transaction::new(node.chain_id(), &key, 1, &[(a, b)]).sign(&key);
//! node.submit(tx).unwrap();
//! assert_eq!(node.produce_block(1).unwrap().unwrap().links, 1);
//! assert_eq!(node.query().status().counts.links, 1);
//! ```
//!
//! Architecture invariants: this crate never imports a web framework or GraphQL; the state
//! machine ([`state`]) reads no clock, network, randomness or store; only [`store`] touches
//! RocksDB.

pub mod audit;
pub mod block;
mod error;
pub mod focus;
pub mod genesis;
pub mod ids;
mod mempool;
pub mod merkle;
pub mod model;
pub mod neuron;
mod node;
pub mod particle;
pub mod query;
pub mod records;
mod shared;
pub mod state;
pub mod store;
pub mod tx;
pub mod views;
pub mod voting;

pub use block::{BlockHeader, ProposedBlock};
pub use error::{EngineError, ErrorCode, Result};
pub use focus::{Focus, FocusSummary};
pub use genesis::{ChainParams, Genesis, GenesisValidator};
pub use mempool::Origin;
pub use neuron::{Address, NeuronKey};
pub use node::{CATCHING_UP_LAG_MS, Node, Proposal};
pub use particle::Particle;
pub use query::Query;
pub use shared::NodeConfig;
pub use state::ChainState;
pub use tx::{SIGNATURE_BYTES, SignedTx, Transaction, TxLimits, VerifiedTx};
pub use views::{BlockEvent, BlockSummary, FocusProof, NeuronInfo, NodeStatus, Receipt, TxStatus};
pub use voting::{SprintLedger, SprintParams, SprintTx};

/// The state after the chain a store holds (what `cybergraph status` shows).
pub fn chain_state(store: &dyn store::StoreReader) -> Result<ChainState> {
    node::restore_chain_state(store)
}

/// Serialises bytes as lower-case hex.
fn serde_hex<S: serde::Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&hex::encode(bytes))
}

/// Serialises a value by its `Display` form (CIDs as strings in JSON answers).
fn serde_display<T: std::fmt::Display, S: serde::Serializer>(value: &T, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}
