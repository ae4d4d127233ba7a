//! Block headers: DAG-CBOR, chained by CID.

use ipld_core::cid::Cid;
use serde::{Deserialize, Serialize};

use crate::{
    error::{EngineError, Result},
    merkle::{self, Hash},
    particle::dag_cbor_cid,
    tx::SignedTx,
};

/// A block header. Its CID is the CIDv1 (dag-cbor, sha2-256) of its canonical encoding, and
/// the next header's `parent`; the genesis block's parent is the genesis document's CID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    /// 0 for genesis, then +1.
    pub height: u64,
    /// Unix time in milliseconds chosen by the proposer; never below the parent's.
    pub time: u64,
    /// The previous header's CID (the genesis document's CID at height 0).
    pub parent: Cid,
    /// Merkle root over the CIDs (bytes) of the block's transactions, in block order.
    #[serde(with = "serde_bytes")]
    pub txs_root: Hash,
    /// Commitment to the whole link set: `H(0x02 ‖ parent graph_root ‖ links_root)`, where
    /// `links_root` is the Merkle root over the links this block added (see [`link_leaf`]).
    #[serde(with = "serde_bytes")]
    pub graph_root: Hash,
    /// Merkle root over the quantised focus of the state after the *parent* block
    /// (spec/focus.md §4; the one-block lag is explained in `focus.rs`).
    #[serde(with = "serde_bytes")]
    pub focus_root: Hash,
    /// CID of the adopted compiled transformer, when one exists.
    pub model: Option<Cid>,
    /// CID of the Sprint state (weights and seed) when Sprint runs.
    pub sprint: Option<Cid>,
}

impl BlockHeader {
    /// Canonical DAG-CBOR bytes.
    pub fn encode(&self) -> Vec<u8> {
        serde_ipld_dagcbor::to_vec(self).expect("a header always encodes")
    }

    /// Decodes a header, insisting on the canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let header: BlockHeader =
            serde_ipld_dagcbor::from_slice(bytes).map_err(|e| EngineError::Corruption(format!("block header: {e}")))?;
        if header.encode() != bytes {
            return Err(EngineError::Corruption("block header is not canonical DAG-CBOR".into()));
        }
        Ok(header)
    }

    /// The header's CID.
    pub fn cid(&self) -> Cid {
        dag_cbor_cid(&self.encode())
    }
}

/// A block as validators exchange it: the header and the signed transactions, in block order.
/// Everything else a block changes (indices, new particles, the roots) every validator derives
/// from these again, and accepts the block only if that gives the same header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposedBlock {
    /// The proposer's header.
    pub header: BlockHeader,
    /// The transactions as their neurons signed them.
    pub txs: Vec<SignedTx>,
}

/// [`ProposedBlock`]'s canonical DAG-CBOR form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBlock {
    header: BlockHeader,
    txs: Vec<WireTx>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireTx {
    #[serde(with = "serde_bytes")]
    bytes: Vec<u8>,
    #[serde(with = "serde_bytes")]
    signature: [u8; 64],
}

impl ProposedBlock {
    /// Canonical DAG-CBOR bytes: `{header, txs: [{bytes, signature}]}`.
    pub fn encode(&self) -> Vec<u8> {
        let txs = self.txs.iter().map(|tx| WireTx { bytes: tx.bytes.clone(), signature: tx.signature }).collect();
        serde_ipld_dagcbor::to_vec(&WireBlock { header: self.header.clone(), txs }).expect("a block always encodes")
    }

    /// Decodes a block, insisting on the canonical encoding.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let refuse = |why: String| EngineError::InvalidProposal(why);
        let wire: WireBlock = serde_ipld_dagcbor::from_slice(bytes).map_err(|e| refuse(format!("not a block: {e}")))?;
        let block = ProposedBlock {
            header: wire.header,
            txs: wire.txs.into_iter().map(|tx| SignedTx { bytes: tx.bytes, signature: tx.signature }).collect(),
        };
        if block.encode() != bytes {
            return Err(refuse("block is not canonical DAG-CBOR".into()));
        }
        Ok(block)
    }
}

/// The Merkle leaf of one added link: neuron key ‖ from CID bytes ‖ to CID bytes (CIDs are
/// self-delimiting, so the concatenation is unambiguous).
pub fn link_leaf(neuron: &[u8; 32], from: &[u8], to: &[u8]) -> Vec<u8> {
    [neuron.as_slice(), from, to].concat()
}

/// The `graph_root` after a block whose added links have these leaves (see [`link_leaf`]):
/// `H(0x02 ‖ parent ‖ root(leaves))`.
pub fn graph_root_after(parent: &Hash, link_leaves: &[Vec<u8>]) -> Hash {
    use sha2::{Digest, Sha256};
    let links_root = merkle::root(link_leaves);
    Sha256::new().chain_update([2u8]).chain_update(parent).chain_update(links_root).finalize().into()
}

/// `txs_root`: the Merkle root over the transactions' CID bytes, in block order.
pub fn txs_root(tx_cids: &[Cid]) -> Hash {
    merkle::root(&tx_cids.iter().map(Cid::to_bytes).collect::<Vec<_>>())
}

/// `graph_root` of the genesis block: the root of an empty link set.
pub fn genesis_graph_root() -> Hash {
    merkle::root::<&[u8]>(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with every field set to something recognisable.
    fn header() -> BlockHeader {
        BlockHeader {
            height: 3,
            time: 1_700_000_000_000,
            parent: dag_cbor_cid(b"parent"),
            txs_root: [1; 32],
            graph_root: [2; 32],
            focus_root: [3; 32],
            model: None,
            sprint: None,
        }
    }

    #[test]
    fn header_round_trips_canonically() {
        let header = header();
        let bytes = header.encode();
        assert_eq!(BlockHeader::decode(&bytes).unwrap(), header);
        assert_eq!(header.cid(), dag_cbor_cid(&bytes));
        let mut tampered = bytes.clone();
        tampered.push(0);
        assert!(BlockHeader::decode(&tampered).is_err());
    }

    #[test]
    fn a_proposed_block_round_trips_canonically_and_refuses_trailing_bytes() {
        let block =
            ProposedBlock { header: header(), txs: vec![SignedTx { bytes: vec![1, 2, 3], signature: [7; 64] }] };
        let bytes = block.encode();
        assert_eq!(ProposedBlock::decode(&bytes).unwrap(), block);
        let mut tampered = bytes;
        tampered.push(0);
        assert!(matches!(ProposedBlock::decode(&tampered), Err(EngineError::InvalidProposal(_))));
        assert!(matches!(ProposedBlock::decode(b"\xa0"), Err(EngineError::InvalidProposal(_))));
    }
}
