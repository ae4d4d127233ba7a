//! Transactions: signed, canonical DAG-CBOR batches of cyberlinks.
//!
//! Wire form (spec/graph-and-api.md): the DAG-CBOR map
//! `{chain_id: text, neuron: bytes(32), nonce: uint, links: [{from: CID, to: CID}]}`, keys in
//! canonical order, CIDs as tag 42; a Sprint transaction has no links and a `sprint` step
//! (`voting.rs`). The neuron signs exactly those bytes; the transaction's
//! identity is the CIDv1 (dag-cbor, sha2-256) of the bytes.

use ipld_core::cid::Cid;
use serde::{Deserialize, Serialize};

use crate::{
    error::{EngineError, Result},
    neuron::{Address, NeuronKey, verify_signature},
    particle::{Particle, dag_cbor_cid},
    voting::SprintTx,
};

/// One link as it travels in a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireLink {
    /// The source particle.
    pub from: Cid,
    /// The target particle.
    pub to: Cid,
}

/// The signed body of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    /// The chain this transaction is for; signatures do not carry over between chains.
    pub chain_id: String,
    /// The signer's ed25519 public key.
    #[serde(with = "serde_bytes")]
    pub neuron: [u8; 32],
    /// The neuron's sequence number: 1 for its first transaction, then +1 each.
    pub nonce: u64,
    /// The links, in the order the neuron wants them applied (none in a Sprint transaction).
    pub links: Vec<WireLink>,
    /// A Sprint step instead of links (left out of the encoding when absent, so a link
    /// transaction's bytes are the spec's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sprint: Option<SprintTx>,
}

impl Transaction {
    /// A transaction of `links` for `chain_id` by the key's neuron.
    pub fn new(chain_id: &str, key: &NeuronKey, nonce: u64, links: &[(Particle, Particle)]) -> Self {
        Transaction {
            chain_id: chain_id.to_owned(),
            neuron: key.address().0,
            nonce,
            links: links.iter().map(|(from, to)| WireLink { from: from.cid(), to: to.cid() }).collect(),
            sprint: None,
        }
    }

    /// A Sprint transaction for `chain_id` by the key's neuron.
    pub fn sprint(chain_id: &str, key: &NeuronKey, nonce: u64, step: SprintTx) -> Self {
        Transaction {
            chain_id: chain_id.to_owned(),
            neuron: key.address().0,
            nonce,
            links: Vec::new(),
            sprint: Some(step),
        }
    }

    /// Canonical DAG-CBOR bytes.
    pub fn encode(&self) -> Vec<u8> {
        serde_ipld_dagcbor::to_vec(self).expect("a transaction always encodes")
    }

    /// Encodes and signs.
    pub fn sign(&self, key: &NeuronKey) -> SignedTx {
        let bytes = self.encode();
        let signature = key.sign(&bytes);
        SignedTx { bytes, signature }
    }
}

/// A transaction as submitted: the exact bytes and the signature over them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedTx {
    /// Canonical DAG-CBOR of a [`Transaction`].
    pub bytes: Vec<u8>,
    /// ed25519 signature over `bytes`.
    pub signature: [u8; SIGNATURE_BYTES],
}

/// Bytes of an ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;

impl SignedTx {
    /// What the transaction takes of a block's byte budget: its encoding and its signature.
    pub fn block_bytes(&self) -> usize {
        self.bytes.len() + SIGNATURE_BYTES
    }
}

/// Consensus limits on transaction size (set in genesis).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxLimits {
    /// Largest accepted encoding, in bytes.
    pub max_tx_bytes: usize,
    /// Most links in one transaction.
    pub max_links_per_tx: usize,
}

impl Default for TxLimits {
    fn default() -> Self {
        TxLimits { max_tx_bytes: 128 * 1024, max_links_per_tx: 1000 }
    }
}

/// A transaction whose every stateless rule holds: size, canonical encoding, chain id, CIDs,
/// no self-links, a valid signature. Stateful rules (nonce, quota) are checked at admission.
#[derive(Clone, Debug)]
pub struct VerifiedTx {
    /// The transaction's identity.
    pub cid: Cid,
    /// The signer.
    pub neuron: Address,
    /// The signer's sequence number.
    pub nonce: u64,
    /// The links, validated.
    pub links: Vec<(Particle, Particle)>,
    /// The Sprint step, if this is a Sprint transaction.
    pub sprint: Option<SprintTx>,
    /// What was signed, kept to store and re-serve it.
    pub signed: SignedTx,
}

impl SignedTx {
    /// Checks every stateless rule; the first one broken is the error.
    pub fn verify(self, chain_id: &str, limits: &TxLimits) -> Result<VerifiedTx> {
        if self.bytes.len() > limits.max_tx_bytes {
            return Err(EngineError::TooLarge {
                what: "transaction (bytes)",
                size: self.bytes.len(),
                limit: limits.max_tx_bytes,
            });
        }
        let tx: Transaction =
            serde_ipld_dagcbor::from_slice(&self.bytes).map_err(|e| EngineError::Malformed(e.to_string()))?;
        if tx.encode() != self.bytes {
            return Err(EngineError::NonCanonical);
        }
        if tx.chain_id != chain_id {
            return Err(EngineError::WrongChain { expected: chain_id.to_owned(), got: tx.chain_id });
        }
        match (&tx.sprint, tx.links.is_empty()) {
            (None, true) => return Err(EngineError::Malformed("transaction has no links".into())),
            (Some(_), false) => {
                return Err(EngineError::Malformed("a Sprint transaction carries no links".into()));
            }
            (Some(step), true) => step.check(&Address(tx.neuron))?,
            (None, false) => {}
        }
        if tx.links.len() > limits.max_links_per_tx {
            return Err(EngineError::TooLarge {
                what: "transaction (links)",
                size: tx.links.len(),
                limit: limits.max_links_per_tx,
            });
        }
        let links = tx
            .links
            .iter()
            .map(|link| {
                let (from, to) = (Particle::from_cid(link.from)?, Particle::from_cid(link.to)?);
                if from == to {
                    return Err(EngineError::SelfLink(from.to_string()));
                }
                Ok((from, to))
            })
            .collect::<Result<Vec<_>>>()?;
        let neuron = Address(tx.neuron);
        verify_signature(&neuron, &self.bytes, &self.signature)?;
        Ok(VerifiedTx {
            cid: dag_cbor_cid(&self.bytes),
            neuron,
            nonce: tx.nonce,
            links,
            sprint: tx.sprint,
            signed: self,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn particle(n: u32) -> Particle {
        Particle::of_content(&n.to_le_bytes())
    }

    fn signed(key: &NeuronKey, links: &[(Particle, Particle)]) -> SignedTx {
        Transaction::new("test", key, 1, links).sign(key)
    }

    #[test]
    fn keys_are_in_dag_cbor_canonical_order() {
        let key = NeuronKey::from_secret([1; 32]);
        let bytes = Transaction::new("c", &key, 1, &[(particle(1), particle(2))]).encode();
        // map(4), then "links" (5 bytes) < "nonce" (5) < "neuron" (6) < "chain_id" (8).
        assert_eq!(bytes[0], 0xa4);
        assert_eq!(&bytes[1..7], b"\x65links");
        let ipld: ipld_core::ipld::Ipld = serde_ipld_dagcbor::from_slice(&bytes).unwrap();
        assert_eq!(serde_ipld_dagcbor::to_vec(&ipld).unwrap(), bytes);
    }

    #[test]
    fn each_stateless_rule_has_its_own_error() {
        let key = NeuronKey::from_secret([2; 32]);
        let limits = TxLimits { max_tx_bytes: 4096, max_links_per_tx: 3 };
        let ok = signed(&key, &[(particle(1), particle(2))]);
        ok.clone().verify("test", &limits).unwrap();

        let code = |tx: SignedTx| tx.verify("test", &limits).unwrap_err().code();
        assert_eq!(ok.clone().verify("other", &limits).unwrap_err().code(), "WRONG_CHAIN");
        let mut bad_sig = ok.clone();
        bad_sig.signature[0] ^= 1;
        assert_eq!(code(bad_sig), "BAD_SIGNATURE");
        assert_eq!(code(SignedTx { bytes: b"\xff\x00garbage".to_vec(), signature: [0; 64] }), "MALFORMED");
        assert_eq!(code(signed(&key, &[(particle(1), particle(1))])), "SELF_LINK");
        assert_eq!(code(signed(&key, &[])), "MALFORMED");
        let many: Vec<_> = (0..4).map(|i| (particle(i), particle(i + 100))).collect();
        assert_eq!(code(signed(&key, &many)), "TOO_LARGE");
        assert_eq!(code(SignedTx { bytes: vec![0; 5000], signature: [0; 64] }), "TOO_LARGE");
        let git = Cid::new_v1(0x78, particle(1).cid().hash().to_owned());
        let mut tx = Transaction::new("test", &key, 1, &[(particle(1), particle(2))]);
        tx.links[0].to = git;
        assert_eq!(code(tx.sign(&key)), "INVALID_CID");
    }

    #[test]
    fn non_canonical_encodings_are_rejected() {
        let key = NeuronKey::from_secret([3; 32]);
        let tx = Transaction::new("test", &key, 1, &[(particle(1), particle(2))]);
        let mut bytes = tx.encode();
        // Re-encode the nonce 1 (0x01) as a one-byte uint (0x18 0x01): valid CBOR, not minimal.
        let at = bytes.windows(6).position(|w| w == b"\x65nonce").unwrap() + 6;
        assert_eq!(bytes[at], 0x01);
        bytes.splice(at..at + 1, [0x18, 0x01]);
        let signature = key.sign(&bytes);
        let err = SignedTx { bytes, signature }.verify("test", &TxLimits::default()).unwrap_err();
        assert!(matches!(err, EngineError::NonCanonical | EngineError::Malformed(_)), "{err}");
    }

    proptest! {
        #[test]
        fn encoding_round_trips(seeds in prop::collection::vec((any::<u32>(), any::<u32>()), 1..20), nonce in 1u64.., chain in "[a-z0-9-]{1,20}") {
            let key = NeuronKey::from_secret([4; 32]);
            let links: Vec<_> = seeds.iter().map(|&(a, b)| (particle(a), particle(b))).collect();
            let tx = Transaction::new(&chain, &key, nonce, &links);
            let bytes = tx.encode();
            let back: Transaction = serde_ipld_dagcbor::from_slice(&bytes).unwrap();
            prop_assert_eq!(&back, &tx);
            prop_assert_eq!(back.encode(), bytes);
        }

        #[test]
        fn garbage_is_an_error_not_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let result = SignedTx { bytes, signature: [0; 64] }.verify("test", &TxLimits::default());
            prop_assert!(result.is_err());
        }
    }
}
