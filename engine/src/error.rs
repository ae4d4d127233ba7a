//! The engine's one error type and the stable codes API answers carry.

use std::path::PathBuf;

use ipld_core::cid::Cid;
use kernels::KernelError;

use crate::ids::{Address, AddressError, Height};

/// Result alias for the engine.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine. Input errors leave the store unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A CID that does not parse or uses a codec or hash the graph does not accept.
    #[error("invalid CID {input:?}: {reason}")]
    InvalidCid { input: String, reason: String },
    /// Bytes that are not a transaction (not DAG-CBOR, wrong shape, no links).
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// DAG-CBOR that decodes but does not re-encode to the same bytes.
    #[error("transaction bytes are not canonical DAG-CBOR (re-encoding differs)")]
    NonCanonical,
    /// A signature that does not verify over the transaction bytes.
    #[error("signature does not verify for neuron {0}")]
    BadSignature(Address),
    /// A transaction signed for another chain.
    #[error("chain id {got:?} does not match this chain ({expected:?})")]
    WrongChain { expected: String, got: String },
    /// A replayed or out-of-order nonce.
    #[error("nonce {got} rejected for neuron {neuron}: the next nonce is {expected}")]
    Nonce { neuron: Address, expected: u64, got: u64 },
    /// A link from a particle to itself.
    #[error("self-link rejected: {0} links to itself")]
    SelfLink(String),
    /// An input over a size cap.
    #[error("{what} is {size}, over the limit of {limit}")]
    TooLarge { what: &'static str, size: usize, limit: usize },
    /// A neuron over its per-block link quota.
    #[error(
        "neuron {neuron} is rate limited: {pending} links pending + {requested} requested exceed its quota of {quota} links per block"
    )]
    RateLimited { neuron: Address, pending: u64, requested: u64, quota: u64 },
    /// A particle no committed link uses.
    #[error("not found: particle {0} has no links")]
    ParticleNotLinked(Cid),
    /// A particle no link used yet at a past height.
    #[error("not found: {particle} had no links at height {height}")]
    ParticleNotLinkedAt { particle: Cid, height: Height },
    /// The focus of a height whose committing block (`height + 1`) is not produced yet.
    #[error("not found: the focus of height {height} is committed by block {}, not produced yet", height.0 + 1)]
    FocusNotCommitted { height: Height },
    /// A height without a stored focus.
    #[error("not found: no focus stored for height {0}")]
    FocusNotStored(Height),
    /// A transaction in no block.
    #[error("not found: transaction {0} is not in a block")]
    TxNotInBlock(Cid),
    /// A data directory without a database.
    #[error("not found: no database at {}", .0.display())]
    NoDatabase(PathBuf),
    /// An address that does not parse.
    #[error("invalid key: {0}")]
    Address(#[from] AddressError),
    /// A key file that does not parse.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A genesis file that does not parse or disagrees with the store.
    #[error("genesis: {0}")]
    Genesis(String),
    /// The store holds data that breaks an invariant.
    #[error("data corruption: {0}")]
    Corruption(String),
    /// The database failed.
    #[error("store: {0}")]
    Store(String),
    /// A write failed; the message is the underlying error.
    #[error("storage failed: {0}")]
    StorageFailed(String),
    /// The file system failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The focus computation refused its input.
    #[error("focus: {0}")]
    Kernel(#[from] KernelError),
    /// A proposal built on another tip than the one it was to commit on.
    #[error("the proposal for height {proposed} does not extend the tip at height {tip}")]
    StaleProposal { proposed: u64, tip: u64 },
    /// A block another validator proposed that this node's state machine does not derive.
    #[error("invalid block proposal: {0}")]
    InvalidProposal(String),
    /// A Sprint transaction the next height's rules refuse (wrong stage, not a validator, a
    /// proof that fails its checks, …).
    #[error("Sprint transaction refused: {0}")]
    SprintRefused(String),
    /// Bytes that are not a compiled model of this graph.
    #[error("model refused: {0}")]
    Model(#[from] compiler::CompileError),
    /// The node is stopping and accepts no more work.
    #[error("the node is shutting down")]
    ShuttingDown,
}

/// The stable, machine-readable kind of an error (`error.code` in REST answers,
/// `extensions.code` in GraphQL); the server maps each to its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `INVALID_CID`.
    InvalidCid,
    /// `MALFORMED`.
    Malformed,
    /// `BAD_SIGNATURE`.
    BadSignature,
    /// `WRONG_CHAIN`.
    WrongChain,
    /// `NONCE`.
    Nonce,
    /// `SELF_LINK`.
    SelfLink,
    /// `TOO_LARGE`.
    TooLarge,
    /// `RATE_LIMITED`.
    RateLimited,
    /// `NOT_FOUND`.
    NotFound,
    /// `INVALID_KEY`.
    InvalidKey,
    /// `GENESIS`: the node's configuration, not the caller.
    Genesis,
    /// `INTERNAL`: the node failed.
    Internal,
    /// `UNAVAILABLE`: the node is stopping.
    Unavailable,
}

impl ErrorCode {
    /// The code as API answers spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidCid => "INVALID_CID",
            ErrorCode::Malformed => "MALFORMED",
            ErrorCode::BadSignature => "BAD_SIGNATURE",
            ErrorCode::WrongChain => "WRONG_CHAIN",
            ErrorCode::Nonce => "NONCE",
            ErrorCode::SelfLink => "SELF_LINK",
            ErrorCode::TooLarge => "TOO_LARGE",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::InvalidKey => "INVALID_KEY",
            ErrorCode::Genesis => "GENESIS",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::Unavailable => "UNAVAILABLE",
        }
    }

    /// Whether the caller sent something wrong (as opposed to the node failing).
    pub fn is_client_error(self) -> bool {
        !matches!(self, ErrorCode::Internal | ErrorCode::Unavailable | ErrorCode::Genesis)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl EngineError {
    /// The error's stable code.
    pub fn code(&self) -> ErrorCode {
        match self {
            EngineError::InvalidCid { .. } => ErrorCode::InvalidCid,
            EngineError::Malformed(_)
            | EngineError::NonCanonical
            | EngineError::StaleProposal { .. }
            | EngineError::InvalidProposal(_)
            | EngineError::SprintRefused(_)
            | EngineError::Model(_) => ErrorCode::Malformed,
            EngineError::BadSignature(_) => ErrorCode::BadSignature,
            EngineError::WrongChain { .. } => ErrorCode::WrongChain,
            EngineError::Nonce { .. } => ErrorCode::Nonce,
            EngineError::SelfLink(_) => ErrorCode::SelfLink,
            EngineError::TooLarge { .. } => ErrorCode::TooLarge,
            EngineError::RateLimited { .. } => ErrorCode::RateLimited,
            EngineError::ParticleNotLinked(_)
            | EngineError::ParticleNotLinkedAt { .. }
            | EngineError::FocusNotCommitted { .. }
            | EngineError::FocusNotStored(_)
            | EngineError::TxNotInBlock(_)
            | EngineError::NoDatabase(_) => ErrorCode::NotFound,
            EngineError::Address(_) | EngineError::InvalidKey(_) => ErrorCode::InvalidKey,
            EngineError::Genesis(_) => ErrorCode::Genesis,
            EngineError::ShuttingDown => ErrorCode::Unavailable,
            EngineError::Kernel(_)
            | EngineError::Corruption(_)
            | EngineError::Store(_)
            | EngineError::StorageFailed(_)
            | EngineError::Io(_) => ErrorCode::Internal,
        }
    }

    /// Whether the caller sent something wrong (as opposed to the node failing).
    pub fn is_client_error(&self) -> bool {
        self.code().is_client_error()
    }
}
