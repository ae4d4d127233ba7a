//! The engine's one error type.

use crate::neuron::Address;

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
    /// Something asked for by id that does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A key file or address that does not parse.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A genesis file that does not parse or disagrees with the store.
    #[error("genesis: {0}")]
    Genesis(String),
    /// The store holds data that breaks an invariant.
    #[error("data corruption: {0}")]
    Corruption(String),
    /// RocksDB failed.
    #[error("store: {0}")]
    Store(#[from] rocksdb::Error),
    /// A write failed; the message is the underlying error.
    #[error("storage failed: {0}")]
    StorageFailed(String),
    /// The file system failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The focus computation refused its input.
    #[error("focus: {0}")]
    Focus(String),
    /// The node is stopping and accepts no more work.
    #[error("the node is shutting down")]
    ShuttingDown,
}

impl EngineError {
    /// A stable, machine-readable code for API answers (`extensions.code` in GraphQL).
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::InvalidCid { .. } => "INVALID_CID",
            EngineError::Malformed(_) | EngineError::NonCanonical => "MALFORMED",
            EngineError::BadSignature(_) => "BAD_SIGNATURE",
            EngineError::WrongChain { .. } => "WRONG_CHAIN",
            EngineError::Nonce { .. } => "NONCE",
            EngineError::SelfLink(_) => "SELF_LINK",
            EngineError::TooLarge { .. } => "TOO_LARGE",
            EngineError::RateLimited { .. } => "RATE_LIMITED",
            EngineError::NotFound(_) => "NOT_FOUND",
            EngineError::InvalidKey(_) => "INVALID_KEY",
            EngineError::Genesis(_) => "GENESIS",
            EngineError::Focus(_) => "INTERNAL",
            EngineError::ShuttingDown => "UNAVAILABLE",
            EngineError::Corruption(_) | EngineError::Store(_) | EngineError::StorageFailed(_) | EngineError::Io(_) => {
                "INTERNAL"
            }
        }
    }

    /// Whether the caller sent something wrong (as opposed to the node failing).
    pub fn is_client_error(&self) -> bool {
        !matches!(self.code(), "INTERNAL" | "UNAVAILABLE" | "GENESIS")
    }
}
