//! The column families and how their keys and values are laid out.
//!
//! Integers are big-endian so that keys sort numerically. Every write of a block goes through
//! one `WriteBatch`; every table below is written only by `RocksStore::commit_block`, except
//! `Mempool` (admission), `Content` (posted content, not consensus state) and `Proposals` (a
//! validator's own proposals). The link indices'
//! keys are [`LinkPosition`](crate::store::LinkPosition)s' bytes.

use crate::ids::Height;

/// A column family of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Table {
    /// `"genesis"` → genesis DAG-CBOR.
    Meta,
    /// particle CID bytes → [`ParticleIdx`](crate::ids::ParticleIdx).
    ParticleByCid,
    /// [`ParticleIdx`](crate::ids::ParticleIdx) → particle CID bytes.
    CidByParticle,
    /// particle CID bytes → content bytes (posted through the API; optional per particle).
    Content,
    /// neuron public key → [`NeuronRecord`](crate::records::NeuronRecord).
    Neurons,
    /// [`NeuronIdx`](crate::ids::NeuronIdx) → neuron public key.
    NeuronKeys,
    /// [`LinkIdx`](crate::ids::LinkIdx) → [`LinkRecord`](crate::records::LinkRecord): every link in commit order.
    Links,
    /// `from ‖ to ‖ neuron` → [`LinkIdx`](crate::ids::LinkIdx): out-links, and the uniqueness index.
    LinksByFrom,
    /// `to ‖ from ‖ neuron` → empty: in-links.
    LinksByTo,
    /// `neuron ‖ LinkIdx` → empty: a neuron's links in commit order.
    LinksByNeuron,
    /// `height ‖ tx index` → compact transaction record.
    Txs,
    /// transaction CID bytes → `height ‖ tx index`.
    TxByCid,
    /// [`Height`](crate::ids::Height) → block record (link range, tx count, header DAG-CBOR). Links by height are
    /// the block's contiguous [`LinkIdx`](crate::ids::LinkIdx) range.
    Blocks,
    /// arrival sequence → signature ‖ transaction bytes: admitted, not yet in a block.
    Mempool,
    /// `height ‖ chunk` → focus history chunk (see `focus.rs`).
    Focus,
    /// [`Height`](crate::ids::Height) → focus summary (root, iterations, bound, syntropy).
    FocusSummary,
    /// [`Height`](crate::ids::Height) → the commit certificate that decided the block (opaque: the
    /// consensus crate's encoding), written in the block's batch.
    Certificates,
    /// `height ‖ round` → the block this node proposed there, so that it proposes the same one
    /// again after a restart; dropped when a block at that height commits.
    Proposals,
    /// Sprint ledger CID bytes → its DAG-CBOR: every ledger a block's header named.
    Sprint,
}

impl Table {
    pub(super) const ALL: [Table; 19] = [
        Table::Meta,
        Table::ParticleByCid,
        Table::CidByParticle,
        Table::Content,
        Table::Neurons,
        Table::NeuronKeys,
        Table::Links,
        Table::LinksByFrom,
        Table::LinksByTo,
        Table::LinksByNeuron,
        Table::Txs,
        Table::TxByCid,
        Table::Blocks,
        Table::Mempool,
        Table::Focus,
        Table::FocusSummary,
        Table::Certificates,
        Table::Proposals,
        Table::Sprint,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::ParticleByCid => "particle_by_cid",
            Table::CidByParticle => "cid_by_particle",
            Table::Content => "content",
            Table::Neurons => "neurons",
            Table::NeuronKeys => "neuron_keys",
            Table::Links => "links",
            Table::LinksByFrom => "links_by_from",
            Table::LinksByTo => "links_by_to",
            Table::LinksByNeuron => "links_by_neuron",
            Table::Txs => "txs",
            Table::TxByCid => "tx_by_cid",
            Table::Blocks => "blocks",
            Table::Mempool => "mempool",
            Table::Focus => "focus",
            Table::FocusSummary => "focus_summary",
            Table::Certificates => "certificates",
            Table::Proposals => "proposals",
            Table::Sprint => "sprint",
        }
    }

    /// Tables read by point lookups get a bloom filter.
    pub(super) fn point_lookups(self) -> bool {
        matches!(self, Table::ParticleByCid | Table::Neurons | Table::LinksByFrom | Table::TxByCid | Table::Content)
    }
}

pub(super) const GENESIS_KEY: &[u8] = b"genesis";

pub(super) fn tx_key(height: Height, index: u32) -> [u8; 12] {
    let mut key = [0; 12];
    key[..8].copy_from_slice(&height.to_be_bytes());
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

/// Splits a `height ‖ index` key.
pub(super) fn parse_tx_key(key: &[u8]) -> Option<(Height, u32)> {
    let height = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let index = u32::from_be_bytes(key.get(8..12)?.try_into().ok()?);
    Some((Height(height), index))
}

/// Reads a big-endian integer of N bytes at `at`.
pub(super) fn be<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at + N)?.try_into().ok()
}

/// Key of a proposal: the round in the slot of a transaction index.
pub(super) fn proposal_key(height: Height, round: u32) -> [u8; 12] {
    tx_key(height, round)
}

/// Key of a focus history chunk: the chunk index in the slot of a transaction index.
pub(super) fn focus_key(height: Height, chunk: u32) -> [u8; 12] {
    tx_key(height, chunk)
}
