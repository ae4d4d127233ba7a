//! The link multigraph as a transposed CSR with per-row slack.

use crate::rows::SlackRows;

/// One in-link of a row: the particle it comes from and the neuron that made it.
///
/// Ordered by `(source, neuron)`: the in-row order of the pull SpMV (ascending source index,
/// spec/focus.md §4), with the neuron as a tie-break so the order is total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InLink {
    /// Index of the source particle.
    pub source: u32,
    /// Index of the neuron that made the link.
    pub neuron: u32,
}

/// The cyberlink multigraph, stored by target: `in_links(q)` lists every `(p, ν)` with a link
/// `p → q` made by neuron `ν`, sorted ascending.
///
/// Rows have slack ([`SlackRows`]), so a block's links are applied as a delta and the graph is
/// never rebuilt per block.
///
/// Invariant: each row is strictly ascending (no duplicate `(source, neuron)` in a row).
#[derive(Clone, Debug, Default)]
pub struct LinkGraph {
    rows: SlackRows<InLink>,
}

impl LinkGraph {
    /// Builds the graph from an edge list `(from, to, neuron)` in one pass.
    /// Duplicate triples are stored once. `node_count` may exceed the largest index used.
    pub fn from_links(node_count: u32, links: impl IntoIterator<Item = (u32, u32, u32)>) -> Self {
        let mut by_target: Vec<(u32, InLink)> =
            links.into_iter().map(|(source, target, neuron)| (target, InLink { source, neuron })).collect();
        by_target.sort_unstable();
        by_target.dedup();
        let nodes = by_target.last().map_or(0, |&(t, l)| t.max(l.source) + 1).max(node_count);
        let mut lens = vec![0u32; nodes as usize];
        for &(target, _) in &by_target {
            lens[target as usize] += 1;
        }
        let entries = by_target.into_iter().map(|(_, link)| link).collect();
        Self { rows: SlackRows::packed(lens, entries) }
    }

    /// Number of particles (rows), including particles without links.
    pub fn node_count(&self) -> u32 {
        self.rows.len() as u32
    }

    /// Bytes held (allocated capacity, slack included).
    pub fn memory_bytes(&self) -> usize {
        self.rows.memory_bytes()
    }

    /// Number of distinct `(from, to, neuron)` links.
    pub fn link_count(&self) -> usize {
        self.rows.live()
    }

    /// Grows the graph to at least `count` particles; new particles have no links.
    pub fn ensure_nodes(&mut self, count: u32) {
        self.rows.ensure_rows(count as usize);
    }

    /// The in-links of `target`, ascending by `(source, neuron)`. Empty for an unknown index.
    pub fn in_links(&self, target: u32) -> &[InLink] {
        self.rows.row(target as usize)
    }

    /// Whether the link `from → to` by `neuron` is present.
    pub fn contains(&self, from: u32, to: u32, neuron: u32) -> bool {
        self.in_links(to).binary_search(&InLink { source: from, neuron }).is_ok()
    }

    /// Inserts the link `from → to` by `neuron`, growing the graph to cover both particles.
    /// Returns `false` (and changes nothing) if the link is already present.
    pub fn insert(&mut self, from: u32, to: u32, neuron: u32) -> bool {
        self.ensure_nodes(from.max(to) + 1);
        let link = InLink { source: from, neuron };
        let pos = match self.in_links(to).binary_search(&link) {
            Ok(_) => return false,
            Err(pos) => pos,
        };
        self.rows.insert(to as usize, pos, link);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    /// The reference: a sorted set of `(to, from, neuron)` triples.
    fn naive_rows(set: &BTreeSet<(u32, u32, u32)>, target: u32) -> Vec<InLink> {
        set.range((target, 0, 0)..=(target, u32::MAX, u32::MAX))
            .map(|&(_, source, neuron)| InLink { source, neuron })
            .collect()
    }

    proptest! {
        #[test]
        fn inserts_match_a_sorted_set(links in prop::collection::vec((0u32..40, 0u32..40, 0u32..3), 0..600)) {
            let mut graph = LinkGraph::default();
            let mut naive = BTreeSet::new();
            for &(from, to, neuron) in &links {
                prop_assert_eq!(graph.insert(from, to, neuron), naive.insert((to, from, neuron)));
            }
            prop_assert_eq!(graph.link_count(), naive.len());
            for target in 0..graph.node_count() {
                let expected = naive_rows(&naive, target);
                prop_assert_eq!(graph.in_links(target), expected.as_slice());
            }
            let bulk = LinkGraph::from_links(graph.node_count(), links.iter().copied());
            for target in 0..graph.node_count() {
                prop_assert_eq!(bulk.in_links(target), graph.in_links(target));
            }
        }
    }

    #[test]
    fn compaction_keeps_rows_and_reclaims_holes() {
        let mut graph = LinkGraph::default();
        for source in 0..5000u32 {
            for target in 0..4u32 {
                graph.insert(source + 10, target, 0);
            }
        }
        assert_eq!(graph.link_count(), 20_000);
        assert!(graph.rows.is_compact_enough());
        for target in 0..4 {
            let row = graph.in_links(target);
            assert_eq!(row.len(), 5000);
            assert!(row.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
