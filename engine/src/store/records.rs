//! Fixed binary layouts of the records the store keeps.

use ipld_core::cid::Cid;

use super::tables::be;
use crate::{
    block::BlockHeader,
    error::{EngineError, Result},
    ids::{Height, LinkIdx, NeuronIdx, ParticleIdx},
    neuron::Address,
    particle::Particle,
};

fn short(what: &str) -> EngineError {
    EngineError::Corruption(format!("{what} record is truncated"))
}

fn u32_at(bytes: &[u8], at: usize, what: &str) -> Result<u32> {
    be(bytes, at).map(u32::from_be_bytes).ok_or_else(|| short(what))
}

fn u64_at(bytes: &[u8], at: usize, what: &str) -> Result<u64> {
    be(bytes, at).map(u64::from_be_bytes).ok_or_else(|| short(what))
}

/// A neuron's state: `idx ‖ nonce ‖ stake ‖ links` (28 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeuronRecord {
    /// Its index.
    pub idx: NeuronIdx,
    /// The nonce of its last committed transaction (0: none yet).
    pub nonce: u64,
    /// Its stake.
    pub stake: u64,
    /// How many links it has made.
    pub links: u64,
}

impl NeuronRecord {
    pub(crate) fn encode(&self) -> [u8; 28] {
        let mut out = [0; 28];
        out[..4].copy_from_slice(&self.idx.to_be_bytes());
        out[4..12].copy_from_slice(&self.nonce.to_be_bytes());
        out[12..20].copy_from_slice(&self.stake.to_be_bytes());
        out[20..].copy_from_slice(&self.links.to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(NeuronRecord {
            idx: NeuronIdx(u32_at(bytes, 0, "neuron")?),
            nonce: u64_at(bytes, 4, "neuron")?,
            stake: u64_at(bytes, 12, "neuron")?,
            links: u64_at(bytes, 20, "neuron")?,
        })
    }
}

/// A committed link: `from ‖ to ‖ neuron ‖ height ‖ tx index` (24 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkRecord {
    /// Source particle.
    pub from: ParticleIdx,
    /// Target particle.
    pub to: ParticleIdx,
    /// The neuron that made it.
    pub neuron: NeuronIdx,
    /// The block that added it.
    pub height: Height,
    /// The transaction within that block.
    pub tx_index: u32,
}

impl LinkRecord {
    pub(crate) fn encode(&self) -> [u8; 24] {
        let mut out = [0; 24];
        out[..4].copy_from_slice(&self.from.to_be_bytes());
        out[4..8].copy_from_slice(&self.to.to_be_bytes());
        out[8..12].copy_from_slice(&self.neuron.to_be_bytes());
        out[12..20].copy_from_slice(&self.height.to_be_bytes());
        out[20..].copy_from_slice(&self.tx_index.to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(LinkRecord {
            from: ParticleIdx(u32_at(bytes, 0, "link")?),
            to: ParticleIdx(u32_at(bytes, 4, "link")?),
            neuron: NeuronIdx(u32_at(bytes, 8, "link")?),
            height: Height(u64_at(bytes, 12, "link")?),
            tx_index: u32_at(bytes, 20, "link")?,
        })
    }
}

/// A committed transaction in compact form: `neuron ‖ nonce ‖ signature ‖ (from ‖ to)*`.
///
/// CIDs are stored once, in the particle tables, and referenced here by index: the signed
/// DAG-CBOR bytes are canonical, so they are rebuilt exactly from this record (and the chain id),
/// which keeps a link's share of a transaction at 8 bytes instead of two CIDs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxRecord {
    /// The signer.
    pub neuron: NeuronIdx,
    /// Its nonce.
    pub nonce: u64,
    /// The signature over the canonical bytes.
    pub signature: [u8; 64],
    /// Every link as signed (duplicates included), as particle indices.
    pub links: Vec<(ParticleIdx, ParticleIdx)>,
}

impl TxRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(76 + 8 * self.links.len());
        out.extend_from_slice(&self.neuron.to_be_bytes());
        out.extend_from_slice(&self.nonce.to_be_bytes());
        out.extend_from_slice(&self.signature);
        for (from, to) in &self.links {
            out.extend_from_slice(&from.to_be_bytes());
            out.extend_from_slice(&to.to_be_bytes());
        }
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        let signature = be::<64>(bytes, 12).ok_or_else(|| short("transaction"))?;
        let tail = &bytes[76..];
        if !tail.len().is_multiple_of(8) {
            return Err(short("transaction"));
        }
        let links = tail
            .chunks_exact(8)
            .map(|pair| {
                let n = |at| ParticleIdx(u32::from_be_bytes(pair[at..at + 4].try_into().expect("4 bytes")));
                (n(0), n(4))
            })
            .collect();
        Ok(TxRecord {
            neuron: NeuronIdx(u32_at(bytes, 0, "transaction")?),
            nonce: u64_at(bytes, 4, "transaction")?,
            signature,
            links,
        })
    }
}

/// A committed block: `first_link ‖ link_count ‖ first_particle ‖ tx_count ‖ header DAG-CBOR`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRecord {
    /// The first link the block added; its links are `first_link .. first_link + link_count`.
    pub first_link: LinkIdx,
    /// How many links it added.
    pub link_count: u64,
    /// The first particle it introduced (particles before it: `0..first_particle`).
    pub first_particle: ParticleIdx,
    /// How many transactions it holds.
    pub tx_count: u32,
    /// Its header.
    pub header: BlockHeader,
}

impl BlockRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&self.first_link.to_be_bytes());
        out.extend_from_slice(&self.link_count.to_be_bytes());
        out.extend_from_slice(&self.first_particle.to_be_bytes());
        out.extend_from_slice(&self.tx_count.to_be_bytes());
        out.extend_from_slice(&self.header.encode());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        Ok(BlockRecord {
            first_link: LinkIdx(u64_at(bytes, 0, "block")?),
            link_count: u64_at(bytes, 8, "block")?,
            first_particle: ParticleIdx(u32_at(bytes, 16, "block")?),
            tx_count: u32_at(bytes, 20, "block")?,
            header: BlockHeader::decode(bytes.get(24..).ok_or_else(|| short("block"))?)?,
        })
    }
}

/// Everything one block changes, computed without touching the store or the in-memory state,
/// then written by `Store::commit_block` and applied by `ChainState::apply`.
#[derive(Clone, Debug)]
pub struct BlockDiff {
    /// The new header.
    pub header: BlockHeader,
    /// The particle count before this block.
    pub first_particle: ParticleIdx,
    /// Particles first seen in this block, with the indices they get.
    pub new_particles: Vec<(ParticleIdx, Particle)>,
    /// Neurons first seen in this block.
    pub new_neurons: Vec<(NeuronIdx, Address)>,
    /// Every neuron whose record changed, with its new record.
    pub neurons: Vec<(Address, NeuronRecord)>,
    /// Index of the first added link.
    pub first_link: LinkIdx,
    /// Links added (duplicates are not here).
    pub links: Vec<LinkRecord>,
    /// The block's transactions, in order.
    pub txs: Vec<(Cid, TxRecord)>,
    /// Mempool entries this block consumes.
    pub mempool_done: Vec<u64>,
}
