//! The state machine: the committed chain state in memory and the block transition.
//!
//! Architecture invariant: nothing here reads a clock, the network, randomness or the disk.
//! A block is a pure function of the previous state, the ordered transactions and the
//! proposer's time: [`ChainState::prepare_block`] computes a [`BlockDiff`], the store writes it,
//! and [`ChainState::apply`] moves the in-memory state (including the CSR graph, by delta).

use std::collections::{HashMap, HashSet};

use ipld_core::cid::Cid;
use kernels::{FocusOperator, LinkGraph};

use crate::{
    block::{BlockHeader, genesis_graph_root, graph_root_after, link_leaf, txs_root},
    error::{EngineError, Result},
    genesis::{Genesis, GenesisValidator},
    ids::{Height, LinkIdx, NeuronIdx, ParticleIdx},
    merkle::Hash,
    neuron::Address,
    particle::Particle,
    records::{BlockDiff, BlockRecord, LinkRecord, NeuronRecord, TxRecord},
    tx::VerifiedTx,
    voting::{SprintLedger, SprintTx},
};

/// Counts shown by `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GraphCounts {
    /// Height of the last block.
    pub height: u64,
    /// Particles used by links.
    pub particles: u64,
    /// Distinct links.
    pub links: u64,
    /// Neurons known (genesis or with a committed transaction).
    pub neurons: u64,
}

/// A block's change to the focus operator, for [`FocusOperator::apply_links`].
#[derive(Clone, Debug)]
pub(crate) struct OperatorUpdate {
    /// Particles after the block.
    pub(crate) particles: u32,
    /// The block's new links `(from, to, neuron)`.
    pub(crate) links: Vec<(u32, u32, u32)>,
    /// Every neuron's link weight after the block.
    pub(crate) weights: Vec<f64>,
}

/// The committed state every node holds identically after the same blocks.
pub struct ChainState {
    genesis: Genesis,
    tip: BlockHeader,
    tip_cid: Cid,
    particles: HashMap<Particle, ParticleIdx>,
    particle_list: Vec<Particle>,
    neurons: HashMap<Address, NeuronRecord>,
    neuron_list: Vec<Address>,
    graph: LinkGraph,
    link_count: u64,
    sprint: Option<SprintLedger>,
}

impl ChainState {
    /// Block 0: the genesis neurons get indices in document order, no links.
    pub fn genesis_block(genesis: &Genesis) -> BlockDiff {
        let new_neurons: Vec<_> =
            genesis.neurons.iter().enumerate().map(|(i, n)| (NeuronIdx(i as u32), n.address)).collect();
        let neurons = genesis
            .neurons
            .iter()
            .enumerate()
            .map(|(i, n)| (n.address, NeuronRecord { idx: NeuronIdx(i as u32), nonce: 0, stake: n.stake, links: 0 }))
            .collect();
        let sprint =
            genesis.sprint.as_ref().map(|_| SprintLedger::genesis(&genesis.cid(), genesis.sorted_validators()));
        BlockDiff {
            header: BlockHeader {
                height: 0,
                time: genesis.genesis_time,
                parent: genesis.cid(),
                txs_root: txs_root(&[]),
                graph_root: genesis_graph_root(),
                focus_root: crate::focus::focus_root(&[]),
                model: None,
                sprint: sprint.as_ref().map(SprintLedger::cid),
            },
            first_particle: ParticleIdx(0),
            new_particles: Vec::new(),
            new_neurons,
            neurons,
            first_link: LinkIdx(0),
            links: Vec::new(),
            txs: Vec::new(),
            mempool_done: Vec::new(),
            sprint,
        }
    }

    /// The state after the committed chain whose tip is `tip` (start-up; the node reads the
    /// parts from its store): particles and neurons in index order, every link in commit order
    /// as `(from, to, neuron)`, and the Sprint ledger the tip's header names. Refuses parts that
    /// contradict each other.
    pub fn restore(
        genesis: Genesis,
        tip: BlockRecord,
        particle_list: Vec<Particle>,
        neuron_records: Vec<(Address, NeuronRecord)>,
        links: Vec<(u32, u32, u32)>,
        sprint: Option<SprintLedger>,
    ) -> Result<Self> {
        if sprint.as_ref().map(SprintLedger::cid) != tip.header.sprint {
            return Err(EngineError::Corruption("the Sprint ledger is not the one the tip's header names".into()));
        }
        let particles = particle_list.iter().enumerate().map(|(i, p)| (*p, ParticleIdx(i as u32))).collect();
        let mut neuron_list = Vec::new();
        let mut neurons = HashMap::new();
        for (i, (address, record)) in neuron_records.into_iter().enumerate() {
            if record.idx.0 as usize != i {
                return Err(EngineError::Corruption(format!("neuron {address} has index {} at {i}", record.idx)));
            }
            neuron_list.push(address);
            neurons.insert(address, record);
        }
        let link_count = links.len() as u64;
        let expected = tip.first_link.0 + tip.link_count;
        if link_count != expected {
            return Err(EngineError::Corruption(format!(
                "{link_count} links stored, the last block ends at {expected}"
            )));
        }
        let graph = LinkGraph::from_links(particle_list.len() as u32, links);
        if graph.link_count() as u64 != link_count {
            return Err(EngineError::Corruption("the link table holds duplicate links".into()));
        }
        Ok(ChainState {
            tip_cid: tip.header.cid(),
            tip: tip.header,
            genesis,
            particles,
            particle_list,
            neurons,
            neuron_list,
            graph,
            link_count,
            sprint,
        })
    }

    /// The validators that decide the next height, sorted by address: the Sprint ledger's when
    /// Sprint runs on chain, else the genesis list.
    pub fn validators(&self) -> Vec<GenesisValidator> {
        match &self.sprint {
            Some(ledger) => ledger.validators.clone(),
            None => self.genesis.sorted_validators(),
        }
    }

    /// Refuses a Sprint step on a chain that runs no Sprint, and, with `refuse_no_ops`, one that
    /// the next height's rules would make a no-op, as far as the committed state tells
    /// (transactions still waiting in a mempool are not counted).
    pub fn check_sprint(&self, signer: &Address, step: &SprintTx, refuse_no_ops: bool) -> Result<()> {
        let (Some(params), Some(ledger)) = (&self.genesis.sprint, &self.sprint) else {
            return Err(EngineError::SprintRefused("this chain runs no Sprint".into()));
        };
        if !refuse_no_ops {
            return Ok(());
        }
        let mut ledger = ledger.clone();
        ledger.apply(params, self.tip.height + 1, signer, step).map_err(EngineError::SprintRefused)
    }

    /// The Sprint ledger after the tip, when Sprint runs on this chain.
    pub fn sprint(&self) -> Option<&SprintLedger> {
        self.sprint.as_ref()
    }

    /// The genesis document.
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    /// The last committed header and its CID.
    pub fn tip(&self) -> (&BlockHeader, Cid) {
        (&self.tip, self.tip_cid)
    }

    /// Counts for status displays.
    pub fn counts(&self) -> GraphCounts {
        GraphCounts {
            height: self.tip.height,
            particles: self.particle_list.len() as u64,
            links: self.link_count,
            neurons: self.neuron_list.len() as u64,
        }
    }

    /// The in-memory link graph (CSR by target).
    pub fn graph(&self) -> &LinkGraph {
        &self.graph
    }

    /// A neuron's committed record, if it has one.
    pub fn neuron(&self, address: &Address) -> Option<&NeuronRecord> {
        self.neurons.get(address)
    }

    /// The stake of any neuron (genesis default for unknown ones).
    pub fn stake_of(&self, address: &Address) -> u64 {
        self.neurons.get(address).map_or(self.genesis.default_stake, |n| n.stake)
    }

    /// Links per block the neuron may add.
    pub fn quota_of(&self, address: &Address) -> u64 {
        self.genesis.params.link_quota(self.stake_of(address))
    }

    /// The nonce its next transaction must carry, counting committed transactions only.
    pub fn next_nonce(&self, address: &Address) -> u64 {
        self.neurons.get(address).map_or(1, |n| n.nonce + 1)
    }

    /// The index of a particle, if any committed link uses it.
    pub fn particle_idx(&self, particle: &Particle) -> Option<ParticleIdx> {
        self.particles.get(particle).copied()
    }

    /// Whether the link is committed.
    pub fn has_link(&self, neuron: &Address, from: &Particle, to: &Particle) -> bool {
        match (self.neurons.get(neuron), self.particle_idx(from), self.particle_idx(to)) {
            (Some(n), Some(f), Some(t)) => self.graph.contains(f.0, t.0, n.idx.0),
            _ => false,
        }
    }

    /// The block transition. Every transaction must carry its neuron's next nonce and keep the
    /// neuron within its per-block quota, or the block is invalid and nothing is returned.
    /// The block consumes no mempool entry: which local entries it takes is the node's business
    /// (`mempool_done`). Duplicate links (already committed, or earlier in this block) are kept in their signed
    /// transaction but add nothing to the graph.
    pub fn prepare_block(
        &self,
        txs: &[&VerifiedTx],
        time: u64,
        focus_root: Hash,
        model: Option<Cid>,
    ) -> Result<BlockDiff> {
        let height = self.tip.height + 1;
        let block_bytes: usize = txs.iter().map(|tx| tx.signed.block_bytes()).sum();
        let limit = self.genesis.params.max_block_tx_bytes;
        if block_bytes > limit {
            return Err(EngineError::TooLarge { what: "a block's transactions (bytes)", size: block_bytes, limit });
        }
        let mut new_particles: Vec<(ParticleIdx, Particle)> = Vec::new();
        let mut fresh_particles: HashMap<Particle, ParticleIdx> = HashMap::new();
        let mut new_neurons = Vec::new();
        let mut touched: HashMap<Address, NeuronRecord> = HashMap::new();
        let mut block_links: Vec<LinkRecord> = Vec::new();
        let mut in_block: HashSet<(ParticleIdx, ParticleIdx, NeuronIdx)> = HashSet::new();
        let mut links_this_block: HashMap<Address, u64> = HashMap::new();
        let mut records = Vec::with_capacity(txs.len());
        let mut link_leaves = Vec::new();

        let mut sprint = self.sprint.clone();
        for (tx_index, tx) in txs.iter().enumerate() {
            let record = match touched.get(&tx.neuron).or_else(|| self.neurons.get(&tx.neuron)) {
                Some(record) => *record,
                None => {
                    let idx = NeuronIdx((self.neuron_list.len() + new_neurons.len()) as u32);
                    new_neurons.push((idx, tx.neuron));
                    NeuronRecord { idx, nonce: 0, stake: self.genesis.default_stake, links: 0 }
                }
            };
            if tx.nonce != record.nonce + 1 {
                return Err(EngineError::Nonce { neuron: tx.neuron, expected: record.nonce + 1, got: tx.nonce });
            }
            let used = links_this_block.entry(tx.neuron).or_default();
            let quota = self.genesis.params.link_quota(record.stake);
            if *used + tx.links.len() as u64 > quota {
                return Err(EngineError::RateLimited {
                    neuron: tx.neuron,
                    pending: *used,
                    requested: tx.links.len() as u64,
                    quota,
                });
            }
            *used += tx.links.len() as u64;

            let mut idx_of = |particle: &Particle| {
                self.particles.get(particle).copied().unwrap_or_else(|| {
                    *fresh_particles.entry(*particle).or_insert_with(|| {
                        let idx = ParticleIdx((self.particle_list.len() + new_particles.len()) as u32);
                        new_particles.push((idx, *particle));
                        idx
                    })
                })
            };
            let mut pairs = Vec::with_capacity(tx.links.len());
            let mut added = 0;
            for (from, to) in &tx.links {
                let (f, t) = (idx_of(from), idx_of(to));
                pairs.push((f, t));
                let fresh = !self.graph.contains(f.0, t.0, record.idx.0) && in_block.insert((f, t, record.idx));
                if fresh {
                    added += 1;
                    link_leaves.push(link_leaf(&tx.neuron.0, &from.to_bytes(), &to.to_bytes()));
                    block_links.push(LinkRecord {
                        from: f,
                        to: t,
                        neuron: record.idx,
                        height: Height(height),
                        tx_index: tx_index as u32,
                    });
                }
            }
            if let (Some(step), Some(ledger), Some(params)) = (&tx.sprint, &mut sprint, &self.genesis.sprint) {
                // A step its height's rules refuse still uses its nonce and changes nothing.
                let _refused = ledger.apply(params, height, &tx.neuron, step);
            }
            touched.insert(tx.neuron, NeuronRecord { nonce: tx.nonce, links: record.links + added, ..record });
            records.push((
                tx.cid,
                TxRecord {
                    neuron: record.idx,
                    nonce: tx.nonce,
                    signature: tx.signed.signature,
                    links: pairs,
                    sprint: tx.sprint.clone(),
                },
            ));
        }
        if let (Some(ledger), Some(params)) = (&mut sprint, &self.genesis.sprint) {
            ledger.close(&params.schedule, height);
        }

        let tx_cids: Vec<Cid> = records.iter().map(|(cid, _)| *cid).collect();
        let header = BlockHeader {
            height,
            time: time.max(self.tip.time),
            parent: self.tip_cid,
            txs_root: txs_root(&tx_cids),
            graph_root: graph_root_after(&self.tip.graph_root, &link_leaves),
            focus_root,
            model,
            sprint: sprint.as_ref().map(SprintLedger::cid),
        };
        let mut neurons: Vec<_> = touched.into_iter().collect();
        neurons.sort_unstable_by_key(|(_, r)| r.idx);
        Ok(BlockDiff {
            header,
            first_particle: ParticleIdx(self.particle_list.len() as u32),
            new_particles,
            new_neurons,
            neurons,
            first_link: LinkIdx(self.link_count),
            links: block_links,
            txs: records,
            mempool_done: Vec::new(),
            sprint,
        })
    }

    /// Applies a committed block to the in-memory state; the graph grows by the block's links.
    pub fn apply(&mut self, block: &BlockDiff) {
        debug_assert_eq!(block.header.height, self.tip.height + 1);
        for (idx, particle) in &block.new_particles {
            debug_assert_eq!(idx.0 as usize, self.particle_list.len());
            self.particles.insert(*particle, *idx);
            self.particle_list.push(*particle);
        }
        for (idx, address) in &block.new_neurons {
            debug_assert_eq!(idx.0 as usize, self.neuron_list.len());
            self.neuron_list.push(*address);
        }
        for (address, record) in &block.neurons {
            self.neurons.insert(*address, *record);
        }
        self.graph.ensure_nodes(self.particle_list.len() as u32);
        for link in &block.links {
            let inserted = self.graph.insert(link.from.0, link.to.0, link.neuron.0);
            debug_assert!(inserted, "prepare_block passes only new links");
        }
        self.link_count += block.links.len() as u64;
        self.sprint.clone_from(&block.sprint);
        self.tip_cid = block.header.cid();
        self.tip = block.header.clone();
    }

    /// The focus operator of the committed graph: link weights by the ampere rule
    /// `w = s(ν)·k(ν)/links(ν)` (karma `k = 1` until it feeds back at epoch boundaries) and the
    /// genesis focus parameters.
    pub fn focus_operator(&self) -> Result<FocusOperator> {
        let weights = self.link_weights();
        Ok(FocusOperator::from_link_graph(&self.graph, &weights, self.genesis.params.focus)?)
    }

    /// What the focus operator of the state before `block` needs to become this state's (after
    /// [`ChainState::apply`] of `block`): the block's links, the particle count and every
    /// neuron's link weight now.
    pub(crate) fn operator_update(&self, block: &BlockDiff) -> OperatorUpdate {
        OperatorUpdate {
            particles: self.particle_list.len() as u32,
            links: block.links.iter().map(|link| (link.from.0, link.to.0, link.neuron.0)).collect(),
            weights: self.link_weights(),
        }
    }

    /// The focus operator of the state one block back, before the tip block's links
    /// (`earlier` is every link before them, in commit order, and `particles` the particles
    /// before them): what a node that crashed between a block and its focus needs to redo that
    /// focus exactly as it would have. Each neuron's weight is the one it had then (a stake never
    /// changes; its link count was its links among `earlier`; karma is 1 — when karma feeds back
    /// at epoch boundaries, this must use the karma of that height too).
    pub fn focus_operator_before_tip(&self, earlier: &[(u32, u32, u32)], particles: u32) -> Result<FocusOperator> {
        let mut links = vec![0u64; self.neuron_list.len()];
        for &(_, _, neuron) in earlier {
            links[neuron as usize] += 1;
        }
        let weights: Vec<f64> = self
            .neuron_list
            .iter()
            .zip(links)
            .map(|(address, links)| ampere(self.neurons[address].stake, links))
            .collect();
        let graph = LinkGraph::from_links(particles, earlier.iter().copied());
        Ok(FocusOperator::from_link_graph(&graph, &weights, self.genesis.params.focus)?)
    }

    /// Karma per neuron (spec/focus.md §7): the focus its links carry,
    /// `k(ν) ∝ Σ_{ℓ∈ν} w(ℓ)·π(to(ℓ))`, normalised to sum 1 (all zero without links).
    pub fn karma(&self, pi: &[f64]) -> Vec<f64> {
        let weight = self.link_weights();
        let mut karma = vec![0.0; self.neuron_list.len()];
        for target in 0..self.graph.node_count() {
            let focus = pi.get(target as usize).copied().unwrap_or(0.0);
            for link in self.graph.in_links(target) {
                karma[link.neuron as usize] += weight[link.neuron as usize] * focus;
            }
        }
        let total: f64 = karma.iter().sum();
        if total > 0.0 {
            karma.iter_mut().for_each(|k| *k /= total);
        }
        karma
    }

    /// Each neuron's per-link weight by the ampere rule.
    fn link_weights(&self) -> Vec<f64> {
        self.neuron_list.iter().map(|address| self.neurons[address]).map(|r| ampere(r.stake, r.links)).collect()
    }

    /// The particle at an index.
    pub fn particle(&self, idx: ParticleIdx) -> Option<&Particle> {
        self.particle_list.get(idx.0 as usize)
    }

    /// The neuron at an index.
    pub fn neuron_address(&self, idx: NeuronIdx) -> Option<&Address> {
        self.neuron_list.get(idx.0 as usize)
    }

    /// The chain id.
    pub fn chain_id(&self) -> &str {
        &self.genesis.chain_id
    }
}

/// A link's weight by the ampere rule `s(ν)·k(ν)/links(ν)` (karma `k = 1` until it feeds back
/// at epoch boundaries); 0 for a neuron without links.
fn ampere(stake: u64, links: u64) -> f64 {
    if links == 0 { 0.0 } else { stake as f64 / links as f64 }
}
