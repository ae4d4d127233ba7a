//! The records a committed chain consists of, as the state machine produces them and the store
//! keeps them. Plain data: how a store lays them out is its own business.

use ipld_core::cid::Cid;
use serde::Serialize;

use crate::{
    block::BlockHeader,
    ids::{Height, LinkIdx, NeuronIdx, ParticleIdx},
    merkle::Hash,
    neuron::Address,
    particle::Particle,
    voting::{SprintLedger, SprintTx},
};

/// Where a committed transaction sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    /// The block.
    pub height: Height,
    /// Position in the block.
    pub index: u32,
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
    /// The Sprint step of a Sprint transaction (which has no links).
    pub sprint: Option<SprintTx>,
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

/// Everything one block changes, computed without touching the store or the in-memory state,
/// then written by the store's writer and applied by the state machine.
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
    /// This node's mempool entries the block consumes (set by the node, not the state machine:
    /// another validator's block may carry transactions this node never saw).
    pub mempool_done: Vec<u64>,
    /// The Sprint ledger after the block, when Sprint runs on this chain (the header holds
    /// its CID).
    pub sprint: Option<SprintLedger>,
}

impl BlockDiff {
    /// The block's record in the store.
    pub fn record(&self) -> BlockRecord {
        BlockRecord {
            first_link: self.first_link,
            link_count: self.links.len() as u64,
            first_particle: self.first_particle,
            tx_count: self.txs.len() as u32,
            header: self.header.clone(),
        }
    }
}

/// What one height's focus computation produced.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FocusSummary {
    /// The height whose state this is the focus of.
    pub height: u64,
    /// Particles ranked.
    pub particles: u32,
    /// Solver iterations (0 when carried over).
    pub iterations: u32,
    /// The a-posteriori error bound reached.
    pub bound: f64,
    /// Syntropy `J` in nats.
    pub syntropy: f64,
    /// The commitment, as in header `height + 1`.
    #[serde(serialize_with = "crate::serde_hex")]
    pub root: Hash,
    /// Wall time of the solve in microseconds (informational; not consensus).
    pub solve_micros: u64,
}
