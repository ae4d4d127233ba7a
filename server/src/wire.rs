//! The JSON bodies of the HTTP API, shared by the server's routes and GraphQL resolvers and by
//! the CLI's client (`client.rs`), so both ends read and write one definition.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use engine::{ChainParams, SignedTx};
use serde::{Deserialize, Serialize};

/// The wire form of a transaction: standard padded base64 of the DAG-CBOR bytes and of the
/// 64-byte ed25519 signature over them (spec/graph-and-api.md). `POST /tx` takes it as JSON,
/// `submitTransaction` as its two arguments.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SignedTxBody {
    pub(crate) tx: String,
    pub(crate) signature: String,
}

impl SignedTxBody {
    pub(crate) fn encode(signed: &SignedTx) -> Self {
        SignedTxBody { tx: STANDARD.encode(&signed.bytes), signature: STANDARD.encode(signed.signature) }
    }

    /// The signed transaction, or what is wrong with the encoding.
    pub(crate) fn decode(&self) -> Result<SignedTx, String> {
        let base64 =
            |what: &str, text: &str| STANDARD.decode(text).map_err(|e| format!("{what} is not standard base64: {e}"));
        let bytes = base64("tx", &self.tx)?;
        let signature: [u8; 64] = base64("signature", &self.signature)?
            .try_into()
            .map_err(|s: Vec<u8>| format!("signature has {} bytes, expected 64", s.len()))?;
        Ok(SignedTx { bytes, signature })
    }
}

/// `POST /tx`'s answer (`engine::Receipt` as JSON).
#[derive(Debug, Deserialize)]
pub(crate) struct ReceiptBody {
    pub(crate) cid: String,
    pub(crate) duplicates: Vec<usize>,
}

/// Every error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorDetail,
}

/// An error's code and message.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ErrorDetail {
    pub(crate) code: String,
    pub(crate) message: String,
}

/// What a signer needs of `GET /status`.
#[derive(Debug, Deserialize)]
pub(crate) struct ChainHead {
    pub(crate) chain_id: String,
    pub(crate) params: ChainParams,
}

/// What a signer needs of `GET /neuron/{address}`.
#[derive(Debug, Deserialize)]
pub(crate) struct NextNonce {
    pub(crate) next_nonce: u64,
}
