//! The column families and how their keys and values are laid out.
//!
//! Integers are big-endian so that keys sort numerically. Every write of a block goes through
//! one `WriteBatch`; every table below is written only by `Store::commit_block`, except
//! `Mempool` (admission) and `Content` (posted content, not consensus state).

use crate::ids::{Height, LinkIdx, NeuronIdx, ParticleIdx};

/// A column family of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    /// `"genesis"` → genesis DAG-CBOR.
    Meta,
    /// particle CID bytes → [`ParticleIdx`].
    ParticleByCid,
    /// [`ParticleIdx`] → particle CID bytes.
    CidByParticle,
    /// particle CID bytes → content bytes (posted through the API; optional per particle).
    Content,
    /// neuron public key → [`NeuronRecord`](super::NeuronRecord).
    Neurons,
    /// [`NeuronIdx`] → neuron public key.
    NeuronKeys,
    /// [`LinkIdx`] → [`LinkRecord`](super::LinkRecord): every link in commit order.
    Links,
    /// `from ‖ to ‖ neuron` → [`LinkIdx`]: out-links, and the uniqueness index.
    LinksByFrom,
    /// `to ‖ from ‖ neuron` → empty: in-links.
    LinksByTo,
    /// `neuron ‖ LinkIdx` → empty: a neuron's links in commit order.
    LinksByNeuron,
    /// `height ‖ tx index` → compact transaction record.
    Txs,
    /// transaction CID bytes → `height ‖ tx index`.
    TxByCid,
    /// [`Height`] → block record (link range, tx count, header DAG-CBOR). Links by height are
    /// the block's contiguous [`LinkIdx`] range.
    Blocks,
    /// arrival sequence → signature ‖ transaction bytes: admitted, not yet in a block.
    Mempool,
    /// `height ‖ chunk` → focus history chunk (see `focus.rs`).
    Focus,
    /// [`Height`] → focus summary (root, iterations, bound, syntropy).
    FocusSummary,
}

impl Table {
    pub(crate) const ALL: [Table; 16] = [
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
    ];

    pub(crate) fn name(self) -> &'static str {
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
        }
    }

    /// Tables read by point lookups get a bloom filter.
    pub(crate) fn point_lookups(self) -> bool {
        matches!(self, Table::ParticleByCid | Table::Neurons | Table::LinksByFrom | Table::TxByCid | Table::Content)
    }
}

pub(crate) const GENESIS_KEY: &[u8] = b"genesis";

/// Key of a directed link, source first (or target first for `LinksByTo`).
pub(crate) fn link_key(first: ParticleIdx, second: ParticleIdx, neuron: NeuronIdx) -> [u8; 12] {
    let mut key = [0; 12];
    key[..4].copy_from_slice(&first.to_be_bytes());
    key[4..8].copy_from_slice(&second.to_be_bytes());
    key[8..].copy_from_slice(&neuron.to_be_bytes());
    key
}

pub(crate) fn neuron_link_key(neuron: NeuronIdx, link: LinkIdx) -> [u8; 12] {
    let mut key = [0; 12];
    key[..4].copy_from_slice(&neuron.to_be_bytes());
    key[4..].copy_from_slice(&link.to_be_bytes());
    key
}

pub(crate) fn tx_key(height: Height, index: u32) -> [u8; 12] {
    let mut key = [0; 12];
    key[..8].copy_from_slice(&height.to_be_bytes());
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

/// Splits a `height ‖ index` key.
pub(crate) fn parse_tx_key(key: &[u8]) -> Option<(Height, u32)> {
    let height = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let index = u32::from_be_bytes(key.get(8..12)?.try_into().ok()?);
    Some((Height(height), index))
}

/// Reads a big-endian integer of N bytes at `at`.
pub(crate) fn be<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at + N)?.try_into().ok()
}

/// Key of a focus history chunk: the chunk index in the slot of a transaction index.
pub(crate) fn focus_key(height: Height, chunk: u32) -> [u8; 12] {
    tx_key(height, chunk)
}
