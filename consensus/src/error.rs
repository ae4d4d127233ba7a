//! The consensus crate's one error type.

/// Result alias for the crate.
pub type Result<T, E = ConsensusError> = std::result::Result<T, E>;

/// What stops a node's consensus. (A peer's bad message is never one: it is refused and logged.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsensusError {
    /// The node (store, state machine) failed.
    #[error(transparent)]
    Engine(#[from] engine::EngineError),
    /// The configuration cannot run: no validators, a bad key or address.
    #[error("consensus configuration: {0}")]
    Config(String),
    /// Malachite's engine did not start.
    #[error("consensus engine: {0}")]
    Start(String),
    /// Bytes that are not the consensus message they were read as (from a peer, the WAL or
    /// the store's certificates).
    #[error("consensus message: {0}")]
    Codec(borsh::io::Error),
    /// Consensus asked for what this node cannot do (propose without a key, in no round).
    #[error("consensus asked the impossible: {0}")]
    Protocol(String),
    /// The thread or runtime consensus runs on could not start.
    #[error("consensus runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// Malachite's engine, the network or a task stopped.
    #[error("consensus stopped: {0}")]
    Stopped(String),
}
