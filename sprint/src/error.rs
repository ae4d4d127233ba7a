//! Sprint's one error type.

use crate::PublicKey;

/// Result alias for Sprint.
pub type Result<T, E = SprintError> = std::result::Result<T, E>;

/// Why a proof or a proof file is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SprintError {
    /// A proof that breaks a rule (wrong profile or Sprint, disorder, outside the lane, too
    /// sparse, outside its block window) or does not decode.
    #[error("sprint proof: {0}")]
    Malformed(String),
    /// DAG-CBOR that decodes but does not re-encode to the same bytes.
    #[error("sprint proof bytes are not canonical DAG-CBOR (re-encoding differs)")]
    NonCanonical,
    /// More nonces than a proof may carry, or nonces and distances of different lengths.
    #[error(
        "sprint proof (nonces) is {nonces} nonces with {distances} distances, over the limit of {limit} or unpaired"
    )]
    TooLarge { nonces: usize, distances: usize, limit: usize },
    /// The signature does not verify for the prover's key.
    #[error("sprint proof signature does not verify for prover {}", hex::encode(.0))]
    BadSignature(PublicKey),
    /// A proof file that is not the documented JSON.
    #[error("proof file: {0}")]
    File(String),
    /// Reading or writing a proof file failed.
    #[error("proof file: {0}")]
    Io(#[from] std::io::Error),
}
