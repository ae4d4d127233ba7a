//! The focus of a chain of blocks: pinned bits, whatever builds the operator.
//!
//! The golden digests were taken from the operator as it was rebuilt from the link graph every
//! block (before it learned to update in place), so they pin the consensus bits of every
//! block's focus across that change.

use kernels::{FocusOperator, FocusParams, LinkGraph};

use crate::Rng;

/// A neuron's stake; its links' weight is `stake / links` (the ampere rule, karma 1).
const STAKES: [u64; 7] = [10_000, 3, 0, 70_000, 20_000, 1_000_000_000, 5];

/// A chain of blocks over a growing set of particles, made to hit every way an update can go:
/// new particles, parallel links of several neurons on one pair (neuron sets), reverse pairs,
/// a zero-stake neuron, a hub, a first link of the heaviest neuron (the maximum pair weight
/// rises) and a flood of its links (its weight, the maximum, falls).
pub(crate) struct Chain {
    pub(crate) graph: LinkGraph,
    pub(crate) links_of: Vec<u64>,
    pub(crate) blocks: Vec<Vec<(u32, u32, u32)>>,
}

impl Chain {
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = Rng(seed | 1);
        let mut chain = Chain { graph: LinkGraph::default(), links_of: vec![0; STAKES.len()], blocks: Vec::new() };
        let mut particles = 6000u32;
        let random_block = |rng: &mut Rng, particles: &mut u32, count: usize, neurons: &[u32]| {
            let mut block = Vec::new();
            for _ in 0..count {
                let neuron = neurons[rng.below(neurons.len() as u64) as usize];
                let from = rng.below(*particles as u64 + 3) as u32;
                // Communities of 50 particles, a few links to the next one.
                let community = if rng.below(200) == 0 { from / 50 + 1 } else { from / 50 };
                let to = (community * 50 + rng.below(50) as u32) % *particles;
                *particles = (*particles).max(from + 1);
                block.push((from, to, neuron));
            }
            block
        };
        let bulk = [0, 3, 4];
        // Genesis-like bulk, then blocks of every kind; neurons 1 and 6 link little, so their
        // blocks stay local.
        chain.blocks.push(random_block(&mut rng, &mut particles, 30_000, &bulk));
        chain.blocks.push(random_block(&mut rng, &mut particles, 5, &[1]));
        chain.blocks.push(random_block(&mut rng, &mut particles, 8, &[1, 6]));
        chain.blocks.push(random_block(&mut rng, &mut particles, 60, &[0, 1, 2, 3, 4, 6]));
        let reverse: Vec<_> = chain.blocks[0].iter().take(40).map(|&(f, t, _)| (t, f, 6)).collect();
        chain.blocks.push(reverse);
        let parallel: Vec<_> = chain.blocks[0].iter().skip(100).take(50).map(|&(f, t, _)| (f, t, 1)).collect();
        chain.blocks.push(parallel);
        chain.blocks.push((1..300).map(|from| (from, 7, 3)).collect());
        chain.blocks.push(vec![(11, 12, 5)]);
        chain.blocks.push(random_block(&mut rng, &mut particles, 3, &[2]));
        chain.blocks.push(random_block(&mut rng, &mut particles, 500, &[5]));
        chain.blocks.push(random_block(&mut rng, &mut particles, 4, &[6]));
        chain.blocks.push(random_block(&mut rng, &mut particles, 200, &[0, 1, 2, 3, 4, 6]));
        chain
    }

    /// Applies block `b` to the link graph and the neurons' link counts; returns the links the
    /// block added (duplicates and self-links dropped, as the engine does) and the weights after.
    pub(crate) fn apply(&mut self, b: usize) -> (Vec<(u32, u32, u32)>, Vec<f64>) {
        let mut added = Vec::new();
        for &(from, to, neuron) in &self.blocks[b] {
            if from != to && self.graph.insert(from, to, neuron) {
                self.links_of[neuron as usize] += 1;
                added.push((from, to, neuron));
            }
        }
        let weights = STAKES
            .iter()
            .zip(&self.links_of)
            .map(|(&stake, &links)| if links == 0 { 0.0 } else { stake as f64 / links as f64 })
            .collect();
        (added, weights)
    }
}

/// FNV-1a over 64-bit words: a digest whose algorithm never changes.
pub(crate) struct Digest(u64);

impl Digest {
    pub(crate) fn new() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn word(&mut self, word: u64) {
        for byte in word.to_le_bytes() {
            self.0 = (self.0 ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Every block's focus as the node computes it (the incremental push from the previous focus,
/// then the solver), digested with the operator's counts and the push's work; `build` gives
/// the operator after each block.
pub(crate) fn chain_digest(mut build: impl FnMut(&mut Chain, usize) -> FocusOperator, blocks: usize) -> u64 {
    let mut chain = Chain::new(7);
    let mut digest = Digest::new();
    let mut previous: Option<(Vec<f64>, FocusOperator)> = None;
    for b in 0..blocks {
        let operator = build(&mut chain, b);
        digest.word(operator.len() as u64);
        digest.word(operator.edge_count() as u64);
        digest.word(operator.symmetric_nnz() as u64);
        let epsilon = operator.params().epsilon;
        let pushed = previous
            .as_ref()
            .and_then(|(pi, before)| operator.incremental_focus(before, pi, epsilon, operator.incremental_budget()));
        digest.word(pushed.as_ref().map_or(u64::MAX, |p| p.pushes as u64));
        // The push without a budget too (on graphs this small the budget stops most pushes),
        // so every entry it reads is pinned.
        let unbounded =
            previous.as_ref().and_then(|(pi, before)| operator.incremental_focus(before, pi, epsilon, usize::MAX));
        if let Some(unbounded) = unbounded {
            digest.word(unbounded.pushes as u64);
            unbounded.vector.iter().for_each(|x| digest.word(x.to_bits()));
        }
        let solution =
            operator.solve(pushed.as_ref().map(|p| p.vector.as_slice()).or(previous.as_ref().map(|p| p.0.as_slice())));
        digest.word(solution.iterations as u64);
        solution.pi.iter().for_each(|x| digest.word(x.to_bits()));
        previous = Some((solution.pi, operator));
    }
    digest.0
}

/// The operator rebuilt from the link graph after each block.
pub(crate) fn rebuilt(chain: &mut Chain, b: usize) -> FocusOperator {
    let (_, weights) = chain.apply(b);
    FocusOperator::from_link_graph(&chain.graph, &weights, FocusParams::default()).unwrap()
}

#[test]
fn every_blocks_focus_keeps_its_pinned_bits() {
    let digest = chain_digest(rebuilt, 12);
    assert_eq!(digest, 0xedd3_f56e_9dea_f55f, "digest {digest:#018x}");
}

/// The operator updated in place by each block's links.
fn in_place(operator: &mut Option<FocusOperator>) -> impl FnMut(&mut Chain, usize) -> FocusOperator + '_ {
    move |chain, b| {
        let (added, weights) = chain.apply(b);
        let particles = chain.graph.node_count();
        let op = operator.get_or_insert_with(|| {
            FocusOperator::from_link_graph(&LinkGraph::default(), &weights, FocusParams::default()).unwrap()
        });
        op.apply_links(particles, &added, &weights).unwrap();
        op.clone()
    }
}

#[test]
fn the_operator_updated_in_place_keeps_the_pinned_bits_on_1_2_and_8_threads() {
    for threads in [1, 2, 8] {
        let digest = crate::determinism::in_pool(threads, || chain_digest(in_place(&mut None), 12));
        assert_eq!(digest, 0xedd3_f56e_9dea_f55f, "{threads} threads: digest {digest:#018x}");
    }
}

#[test]
fn a_bad_block_is_refused_and_changes_nothing() {
    let mut chain = Chain::new(7);
    let (_, weights) = chain.apply(0);
    let params = FocusParams::default();
    let mut op = FocusOperator::from_link_graph(&chain.graph, &weights, params).unwrap();
    let n = op.len() as u32;
    let before = op.solve(None).pi;
    let bad_weight = [f64::NAN; STAKES.len()];
    for (particles, links, weights) in [
        (n, vec![(0, n, 0)], &weights[..]),
        (n, vec![(0, 1, STAKES.len() as u32)], &weights[..]),
        (n - 1, vec![], &weights[..]),
        (n, vec![(0, 1, 0)], &bad_weight[..]),
        (n, vec![], &weights[..2]),
    ] {
        assert!(op.apply_links(particles, &links, weights).is_err(), "{particles} {links:?}");
    }
    assert_eq!(op.solve(None).pi, before);
    let mut from_edges = FocusOperator::from_edges(3, &[(0, 1, 1.0)], params).unwrap();
    assert!(from_edges.apply_links(3, &[(1, 2, 0)], &[1.0]).is_err());
}
