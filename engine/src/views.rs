//! What the engine answers: receipts, summaries, pages and proofs, as clients see them
//! (serialisable, CIDs and addresses resolved).

use ipld_core::cid::Cid;
use serde::Serialize;

use crate::{
    block::BlockHeader,
    focus::FocusSummary,
    ids::{LinkIdx, ParticleIdx},
    merkle::InclusionProof,
    neuron::Address,
    particle::Particle,
    records::LinkRecord,
    state::{ChainState, GraphCounts},
};

/// The answer to an admitted transaction: it is durable and will be in the next block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// The transaction's CID.
    #[serde(serialize_with = "crate::serde_display")]
    pub cid: Cid,
    /// Positions of links that are duplicates and will add nothing.
    pub duplicates: Vec<usize>,
}

/// What one produced block did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BlockSummary {
    /// Its height.
    pub height: u64,
    /// Its CID.
    #[serde(serialize_with = "crate::serde_display")]
    pub cid: Cid,
    /// Transactions included.
    pub txs: usize,
    /// Links added to the graph.
    pub links: usize,
}

/// Where a transaction stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxStatus {
    /// In a block.
    Committed {
        /// The block.
        height: u64,
        /// Its position in the block.
        index: u32,
    },
    /// Admitted, waiting for a block.
    Pending,
    /// Never admitted.
    Unknown,
}

/// A neuron as clients see it.
#[derive(Clone, Debug, Serialize)]
pub struct NeuronInfo {
    /// Its address.
    pub address: Address,
    /// Its stake.
    pub stake: u64,
    /// Links per block it may add.
    pub quota: u64,
    /// The nonce to sign its next transaction with.
    pub next_nonce: u64,
    /// Committed links.
    pub links: u64,
}

/// A node's state at a glance.
#[derive(Clone, Debug, Serialize)]
pub struct NodeStatus {
    /// The chain id (clients sign it).
    pub chain_id: String,
    /// The tip's CID.
    #[serde(serialize_with = "crate::serde_display")]
    pub tip: Cid,
    /// Graph counts at the tip.
    #[serde(flatten)]
    pub counts: GraphCounts,
    /// Transactions waiting for a block.
    pub mempool: usize,
}

/// What subscribers hear after each block.
#[derive(Clone, Debug)]
pub struct BlockEvent {
    /// The block.
    pub block: BlockSummary,
    /// Its header.
    pub header: BlockHeader,
    /// The links it added.
    pub links: Vec<LinkView>,
    /// The focus of the state after it.
    pub focus: FocusSummary,
}

/// One particle's focus leaf with its Merkle path to a header's `focus_root`.
#[derive(Clone, Debug, Serialize)]
pub struct FocusProof {
    /// The state whose focus this is.
    pub height: u64,
    /// The particle's index (the leaf position).
    pub particle: u32,
    /// The focus value.
    pub focus: f64,
    /// The committed leaf `round(focus·2^60)` (leaf bytes: little-endian u64).
    pub leaf: u64,
    /// The root it proves into.
    #[serde(serialize_with = "crate::serde_hex")]
    pub root: crate::merkle::Hash,
    /// The header holding `root`.
    pub anchor_height: u64,
    /// The audit path.
    pub proof: InclusionProof,
}

/// A committed link with its particles and neuron resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkView {
    /// Its position in commit order.
    pub idx: u64,
    /// Source particle.
    pub from: Particle,
    /// Target particle.
    pub to: Particle,
    /// The neuron that made it.
    pub neuron: Address,
    /// The block that added it.
    pub height: u64,
    /// The transaction's position in that block.
    pub tx_index: u32,
}

impl LinkView {
    pub(crate) fn resolve(state: &ChainState, idx: LinkIdx, record: LinkRecord) -> Self {
        let particle = |i: ParticleIdx| *state.particle(i).expect("committed links use committed particles");
        LinkView {
            idx: idx.0,
            from: particle(record.from),
            to: particle(record.to),
            neuron: *state.neuron_address(record.neuron).expect("committed links use committed neurons"),
            height: record.height.0,
            tx_index: record.tx_index,
        }
    }
}

/// Which links to list; every given field must match.
#[derive(Clone, Debug, Default)]
pub struct LinkFilter {
    /// Source particle.
    pub from: Option<Particle>,
    /// Target particle.
    pub to: Option<Particle>,
    /// Neuron.
    pub neuron: Option<Address>,
    /// Lowest block height (inclusive).
    pub height_from: Option<u64>,
    /// Highest block height (inclusive).
    pub height_to: Option<u64>,
}

impl LinkFilter {
    /// Whether a link passes every field.
    pub fn matches(&self, link: &LinkView) -> bool {
        link_matches(
            (self.from.as_ref(), self.to.as_ref(), self.neuron.as_ref()),
            (self.height_from, self.height_to),
            (&link.from, &link.to, &link.neuron, link.height),
        )
    }
}

/// The one rule of a link filter, for any representation of particles `P` and neurons `N`
/// (CIDs and addresses for subscriptions, dense indices for store scans): every given field
/// must match.
pub(crate) fn link_matches<P: PartialEq, N: PartialEq>(
    (from, to, neuron): (Option<&P>, Option<&P>, Option<&N>),
    (height_from, height_to): (Option<u64>, Option<u64>),
    (link_from, link_to, link_neuron, height): (&P, &P, &N, u64),
) -> bool {
    from.is_none_or(|p| p == link_from)
        && to.is_none_or(|p| p == link_to)
        && neuron.is_none_or(|n| n == link_neuron)
        && height_from.is_none_or(|h| height >= h)
        && height_to.is_none_or(|h| height <= h)
}

/// One page of links.
#[derive(Clone, Debug, Default)]
pub struct LinkPage {
    /// The links, each with the cursor that resumes after it.
    pub links: Vec<(LinkView, String)>,
    /// Whether more may follow.
    pub has_next: bool,
    /// The cursor to resume from (after the last entry scanned, which may be past the last link
    /// returned when a page stopped at [`MAX_SCAN`](crate::query::MAX_SCAN)).
    pub end_cursor: Option<String>,
}

/// A ranked particle.
#[derive(Clone, Debug, Serialize)]
pub struct Ranked {
    /// The particle.
    pub particle: Particle,
    /// Its score (focus, or conditional focus for `related`).
    pub score: f64,
}

/// The answer to `related`.
#[derive(Clone, Debug, Serialize)]
pub struct Related {
    /// The focus height the answer was computed on.
    pub height: u64,
    /// The best particles, context excluded.
    pub particles: Vec<Ranked>,
    /// Its ℓ1 error bound.
    pub error_bound: f64,
    /// Which path answered.
    #[serde(skip)]
    pub path: compiler::Path,
    /// The model that answered (with the exact path: none), and the height it was compiled at.
    #[serde(skip)]
    pub model: Option<(Cid, u64)>,
}

/// A transaction's inclusion in a block.
#[derive(Clone, Debug, Serialize)]
pub struct TxInclusion {
    /// The block.
    pub height: u64,
    /// Position in the block (the leaf index).
    pub index: u32,
    /// The header's CID.
    #[serde(serialize_with = "crate::serde_display")]
    pub block: Cid,
    /// The header's `txs_root`.
    #[serde(serialize_with = "crate::serde_hex")]
    pub txs_root: [u8; 32],
    /// The audit path of the transaction CID's bytes.
    pub proof: InclusionProof,
}

/// A transaction as stored in a block.
#[derive(Clone, Debug, Serialize)]
pub struct TxView {
    /// Its CID.
    #[serde(serialize_with = "crate::serde_display")]
    pub cid: Cid,
    /// The signer.
    pub neuron: Address,
    /// Its nonce.
    pub nonce: u64,
    /// Its links, as signed.
    pub links: Vec<(Particle, Particle)>,
    /// The Sprint step of a Sprint transaction (which has no links).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sprint: Option<crate::SprintTx>,
}
