//! Reading particles, neurons and links, and scanning the link indices page by page.

use crate::{
    error::Result,
    ids::{LinkIdx, NeuronIdx, ParticleIdx},
    neuron::Address,
    particle::Particle,
    records::{LinkRecord, NeuronRecord},
};

/// Which link index a scan walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkScan {
    /// Out-links of `from` (to `to` only, if given), by target then neuron.
    BySource { from: ParticleIdx, to: Option<ParticleIdx> },
    /// In-links of `to`, by source then neuron.
    ByTarget { to: ParticleIdx },
    /// A neuron's links in commit order, from link `first` on.
    ByNeuron { neuron: NeuronIdx, first: LinkIdx },
    /// Every link in commit order, from link `first` on.
    All { first: LinkIdx },
}

/// A position in a [`LinkScan`]'s index: where a page ended and the next resumes. Its bytes
/// (big-endian, in index order) are what API cursors carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LinkPosition {
    /// `from ‖ to ‖ neuron`.
    Source(ParticleIdx, ParticleIdx, NeuronIdx),
    /// `to ‖ from ‖ neuron`.
    Target(ParticleIdx, ParticleIdx, NeuronIdx),
    /// `neuron ‖ link`.
    Neuron(NeuronIdx, LinkIdx),
    /// `link`.
    Commit(LinkIdx),
}

impl LinkPosition {
    /// The position's bytes.
    pub fn to_bytes(self) -> Vec<u8> {
        match self {
            LinkPosition::Source(a, b, n) | LinkPosition::Target(a, b, n) => {
                [&a.to_be_bytes()[..], &b.to_be_bytes(), &n.to_be_bytes()].concat()
            }
            LinkPosition::Neuron(n, link) => [&n.to_be_bytes()[..], &link.to_be_bytes()].concat(),
            LinkPosition::Commit(link) => link.to_be_bytes().to_vec(),
        }
    }
}

impl LinkScan {
    /// Reads a position of this scan from its bytes: `None` unless they have the index's
    /// length and lie inside the scan (a cursor from another query).
    pub fn position(&self, bytes: &[u8]) -> Option<LinkPosition> {
        let u32_at = |at: usize| Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?));
        let u64_at = |at: usize| Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?));
        let triple = || {
            (bytes.len() == 12).then_some(())?;
            Some((ParticleIdx(u32_at(0)?), ParticleIdx(u32_at(4)?), NeuronIdx(u32_at(8)?)))
        };
        let position = match *self {
            LinkScan::BySource { .. } => triple().map(|(f, t, n)| LinkPosition::Source(f, t, n)),
            LinkScan::ByTarget { .. } => triple().map(|(t, f, n)| LinkPosition::Target(t, f, n)),
            LinkScan::ByNeuron { .. } => {
                (bytes.len() == 12).then_some(())?;
                Some(LinkPosition::Neuron(NeuronIdx(u32_at(0)?), LinkIdx(u64_at(4)?)))
            }
            LinkScan::All { .. } => (bytes.len() == 8).then_some(LinkPosition::Commit(LinkIdx(u64_at(0)?))),
        }?;
        self.covers(&position).then_some(position)
    }

    /// The first position the scan may visit.
    pub fn start(&self) -> LinkPosition {
        let zero = (ParticleIdx(0), NeuronIdx(0));
        match *self {
            LinkScan::BySource { from, to } => LinkPosition::Source(from, to.unwrap_or(zero.0), zero.1),
            LinkScan::ByTarget { to } => LinkPosition::Target(to, zero.0, zero.1),
            LinkScan::ByNeuron { neuron, first } => LinkPosition::Neuron(neuron, first),
            LinkScan::All { first } => LinkPosition::Commit(first),
        }
    }

    /// Whether `position` belongs to the scan (positions past its prefix end it).
    pub fn covers(&self, position: &LinkPosition) -> bool {
        match (*self, *position) {
            (LinkScan::BySource { from, to }, LinkPosition::Source(f, t, _)) => {
                f == from && to.is_none_or(|to| t == to)
            }
            (LinkScan::ByTarget { to }, LinkPosition::Target(t, _, _)) => t == to,
            (LinkScan::ByNeuron { neuron, .. }, LinkPosition::Neuron(n, _)) => n == neuron,
            (LinkScan::All { .. }, LinkPosition::Commit(_)) => true,
            _ => false,
        }
    }
}

/// Particles, neurons and links.
pub trait LinkReader {
    /// Every particle in index order.
    fn particles(&self) -> Result<Vec<Particle>>;

    /// The index of a particle, if any link uses it.
    fn particle_idx(&self, particle: &Particle) -> Result<Option<ParticleIdx>>;

    /// Every neuron with its record, in index order.
    fn neurons(&self) -> Result<Vec<(Address, NeuronRecord)>>;

    /// The link `from → to` by `neuron`, if committed.
    fn link(&self, from: ParticleIdx, to: ParticleIdx, neuron: NeuronIdx) -> Result<Option<LinkIdx>>;

    /// The committed link at `idx`.
    fn link_record(&self, idx: LinkIdx) -> Result<Option<LinkRecord>>;

    /// Visits the links of `scan` in its index's order, from its start or strictly after
    /// `after`, while `visit` returns `true`.
    fn scan_links(
        &self,
        scan: LinkScan,
        after: Option<LinkPosition>,
        visit: &mut dyn FnMut(LinkPosition, LinkIdx, LinkRecord) -> Result<bool>,
    ) -> Result<()>;

    /// Visits every committed link in commit order.
    fn for_each_link(&self, visit: &mut dyn FnMut(LinkIdx, LinkRecord)) -> Result<()> {
        self.scan_links(LinkScan::All { first: LinkIdx(0) }, None, &mut |_, idx, record| {
            visit(idx, record);
            Ok(true)
        })
    }
}
