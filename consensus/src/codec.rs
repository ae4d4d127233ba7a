//! How consensus messages travel and rest: borsh for every one (Malachite's generic messages
//! carry borsh impls behind their `borsh` features; ours derive it). One codec for the network,
//! the sync protocol and the write-ahead log.

use bytes::Bytes;
use malachitebft_codec::{Codec, HasEncodedLen};
use malachitebft_core_consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg};
use malachitebft_core_types::{
    CommitCertificate, ExtendedCommitCertificate, ExtendedCommitSignature, PolkaCertificate, Round, SignedExtension,
    ValidatorProof,
};
use malachitebft_engine::util::streaming::StreamMessage;
use malachitebft_sync::{RawDecidedValue, Request, Response, Status, ValueResponse};

use crate::{
    context::{BlockId, Cybergraph, Height, ProposalPart, ValidatorAddress},
    error::{ConsensusError, Result},
    signing::Signature,
};

/// The codec: borsh, refusing trailing bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct BorshCodec;

fn encode(message: &impl borsh::BorshSerialize) -> Result<Bytes> {
    Ok(Bytes::from(borsh::to_vec(message).map_err(ConsensusError::Codec)?))
}

fn decode<T: borsh::BorshDeserialize>(bytes: &[u8]) -> Result<T> {
    borsh::from_slice(bytes).map_err(ConsensusError::Codec)
}

macro_rules! borsh_codec {
    ($($message:ty),* $(,)?) => {$(
        impl Codec<$message> for BorshCodec {
            type Error = ConsensusError;

            fn decode(&self, bytes: Bytes) -> Result<$message> {
                decode(&bytes)
            }

            fn encode(&self, message: &$message) -> Result<Bytes> {
                encode(message)
            }
        }
    )*};
}

borsh_codec!(
    ProposalPart,
    SignedConsensusMsg<Cybergraph>,
    LivenessMsg<Cybergraph>,
    StreamMessage<ProposalPart>,
    ProposedValue<Cybergraph>,
    PolkaCertificate<Cybergraph>,
    CommitCertificate<Cybergraph>,
    Status<Cybergraph>,
    Request<Cybergraph>,
);

/// A sync response's form: upstream's borsh impl needs one for the extended certificate, which
/// it lacks.
#[derive(borsh::BorshSerialize, borsh::BorshDeserialize)]
struct WireResponse {
    start_height: Height,
    values: Vec<WireDecided>,
}

#[derive(borsh::BorshSerialize, borsh::BorshDeserialize)]
struct WireDecided {
    value_bytes: Vec<u8>,
    height: Height,
    round: Round,
    value_id: BlockId,
    signatures: Vec<(ValidatorAddress, Signature, Option<SignedExtension<Cybergraph>>)>,
}

impl WireResponse {
    fn of(Response::ValueResponse(response): &Response<Cybergraph>) -> Self {
        let values = response
            .values
            .iter()
            .map(|value| {
                let certificate = &value.certificate;
                WireDecided {
                    value_bytes: value.value_bytes.to_vec(),
                    height: certificate.height,
                    round: certificate.round,
                    value_id: certificate.value_id,
                    signatures: certificate
                        .commit_signatures
                        .iter()
                        .map(|s| (s.address, s.signature, s.extension.clone()))
                        .collect(),
                }
            })
            .collect();
        WireResponse { start_height: response.start_height, values }
    }

    fn into_response(self) -> Response<Cybergraph> {
        let values = self
            .values
            .into_iter()
            .map(|value| {
                let certificate = ExtendedCommitCertificate {
                    height: value.height,
                    round: value.round,
                    value_id: value.value_id,
                    commit_signatures: value
                        .signatures
                        .into_iter()
                        .map(|(address, signature, extension)| ExtendedCommitSignature {
                            address,
                            signature,
                            extension,
                        })
                        .collect(),
                };
                RawDecidedValue::new(Bytes::from(value.value_bytes), certificate)
            })
            .collect();
        Response::ValueResponse(ValueResponse::new(self.start_height, values))
    }
}

impl Codec<Response<Cybergraph>> for BorshCodec {
    type Error = ConsensusError;

    fn decode(&self, bytes: Bytes) -> Result<Response<Cybergraph>> {
        Ok(decode::<WireResponse>(&bytes)?.into_response())
    }

    fn encode(&self, response: &Response<Cybergraph>) -> Result<Bytes> {
        encode(&WireResponse::of(response))
    }
}

impl HasEncodedLen<Response<Cybergraph>> for BorshCodec {
    fn encoded_len(&self, response: &Response<Cybergraph>) -> Result<usize> {
        borsh::object_length(&WireResponse::of(response)).map_err(ConsensusError::Codec)
    }
}

/// The proof that a network peer is run by a validator's key has no borsh form upstream:
/// `public_key ‖ peer_id ‖ signature`, the first two length-prefixed.
impl Codec<ValidatorProof<Cybergraph>> for BorshCodec {
    type Error = ConsensusError;

    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<Cybergraph>> {
        let (public_key, peer_id, signature): (Vec<u8>, Vec<u8>, Signature) = decode(&bytes)?;
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }

    fn encode(&self, proof: &ValidatorProof<Cybergraph>) -> Result<Bytes> {
        encode(&(&proof.public_key, &proof.peer_id, proof.signature))
    }
}

/// What a stored commit certificate says, for auditors: the round that decided the block and
/// the validators whose precommits for it the certificate carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateSummary {
    /// The decided height.
    pub height: u64,
    /// The deciding round.
    pub round: u32,
    /// The decided block's header CID.
    pub block: ipld_core::cid::Cid,
    /// The signers, as neuron addresses, in the certificate's order.
    pub signers: Vec<engine::Address>,
}

impl CertificateSummary {
    /// Decodes a certificate as the node stores it (this codec's bytes).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let certificate: CommitCertificate<Cybergraph> = decode(bytes)?;
        Ok(CertificateSummary {
            height: certificate.height.0,
            round: certificate.round.as_u32().unwrap_or(0),
            block: certificate.value_id.0,
            signers: certificate.commit_signatures.iter().map(|s| s.address.neuron()).collect(),
        })
    }
}
