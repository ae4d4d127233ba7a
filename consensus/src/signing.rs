//! ed25519 for votes, proposals and the proof that ties a validator's key to its network peer id.
//!
//! Our own [`SigningScheme`] over `ed25519-dalek` (the engine's neurons sign with it too), so its
//! signature and key types carry our borsh encoding. Every signed message is prefixed with the
//! chain id: a vote for one chain is no vote for another.

use async_trait::async_trait;
use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use malachitebft_core_types::{SignedMessage, SigningScheme, ValidatorProof, VoteExtensionScope};
use malachitebft_signing::{Error, Signer, VerificationResult, Verifier};

use crate::context::{Cybergraph, Proposal, Vote};

/// The scheme: ed25519 (RFC 8032, strict verification).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ed25519;

/// An ed25519 signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

/// An ed25519 public key (a valid curve point).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The key, if the bytes are a valid point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Option<Self> {
        VerifyingKey::from_bytes(bytes).ok().map(PublicKey)
    }

    /// The key's bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    fn verifies(&self, message: &[u8], signature: &Signature) -> bool {
        self.0.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature.0)).is_ok()
    }
}

impl SigningScheme for Ed25519 {
    type DecodingError = String;
    type Signature = Signature;
    type PublicKey = PublicKey;
    type PrivateKey = SigningKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, String> {
        Ok(Signature(bytes.try_into().map_err(|_| format!("a signature is 64 bytes, not {}", bytes.len()))?))
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, String> {
        let bytes: &[u8; 32] =
            bytes.try_into().map_err(|_| format!("a public key is 32 bytes, not {}", bytes.len()))?;
        PublicKey::from_bytes(bytes).ok_or_else(|| "not an ed25519 public key".to_owned())
    }

    fn encode_public_key(public_key: &PublicKey) -> Vec<u8> {
        public_key.to_bytes().to_vec()
    }
}

/// What signs and verifies for one chain: the chain id every message is bound to, and this
/// validator's key (none on a node that only follows).
#[derive(Clone)]
pub struct Keys {
    chain_id: String,
    key: Option<SigningKey>,
}

impl Keys {
    /// A validator's keys on `chain_id`.
    pub fn validator(chain_id: &str, key: SigningKey) -> Self {
        Keys { chain_id: chain_id.to_owned(), key: Some(key) }
    }

    /// A following node's: it verifies, it signs nothing.
    pub fn follower(chain_id: &str) -> Self {
        Keys { chain_id: chain_id.to_owned(), key: None }
    }

    fn domain(&self, message: &[u8]) -> Vec<u8> {
        let id = self.chain_id.as_bytes();
        [&(id.len() as u32).to_be_bytes(), id, message].concat()
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, Error> {
        let key = self.key.as_ref().ok_or_else(|| Error::from_source("this node holds no validator key"))?;
        Ok(Signature(key.sign(&self.domain(message)).to_bytes()))
    }

    fn verify(&self, message: &[u8], signature: &Signature, key: &PublicKey) -> VerificationResult {
        VerificationResult::from_bool(key.verifies(&self.domain(message), signature))
    }
}

/// The signing bytes of a proof that a network peer is run by a validator's key.
fn proof_bytes(public_key: &[u8], peer_id: &[u8]) -> Vec<u8> {
    ValidatorProof::<Cybergraph>::signing_bytes(public_key, peer_id)
}

#[async_trait]
impl Signer<Cybergraph> for Keys {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<Cybergraph, Vote>, Error> {
        let signature = self.sign(&vote.signing_bytes())?;
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(&self, proposal: Proposal) -> Result<SignedMessage<Cybergraph, Proposal>, Error> {
        let signature = self.sign(&proposal.signing_bytes())?;
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        _scope: VoteExtensionScope<Cybergraph>,
        _extension: (),
    ) -> Result<SignedMessage<Cybergraph, ()>, Error> {
        Err(Error::from_source("this chain's votes carry no extension"))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<Cybergraph>, Error> {
        let signature = self.sign(&proof_bytes(&public_key, &peer_id))?;
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}

#[async_trait]
impl Verifier<Cybergraph> for Keys {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(self.verify(&vote.signing_bytes(), signature, public_key))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(self.verify(&proposal.signing_bytes(), signature, public_key))
    }

    async fn verify_signed_vote_extension(
        &self,
        _scope: &VoteExtensionScope<Cybergraph>,
        _extension: &(),
        _signature: &Signature,
        _public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(VerificationResult::Invalid)
    }

    async fn verify_validator_proof(&self, proof: &ValidatorProof<Cybergraph>) -> Result<VerificationResult, Error> {
        let Ok(key) = Ed25519::decode_public_key(&proof.public_key) else {
            return Ok(VerificationResult::Invalid);
        };
        Ok(self.verify(&proof_bytes(&proof.public_key, &proof.peer_id), &proof.signature, &key))
    }
}
