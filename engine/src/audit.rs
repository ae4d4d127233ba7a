//! Auditing: rebuild what was signed from the compact store and verify the whole chain.

use std::collections::HashSet;

use serde::Serialize;

use crate::{
    block::{genesis_graph_root, graph_root_after, link_leaf, txs_root},
    error::{EngineError, Result},
    ids::{Height, LinkIdx, NeuronIdx, ParticleIdx},
    neuron::Address,
    particle::{Particle, dag_cbor_cid},
    records::TxRecord,
    state::ChainState,
    store::StoreReader,
    tx::{SignedTx, Transaction, WireLink},
};

/// Resolves the dense indices a compact record uses.
pub trait Directory {
    /// The chain id transactions sign.
    fn chain_id(&self) -> &str;
    /// The particle at an index.
    fn particle(&self, idx: ParticleIdx) -> Option<&Particle>;
    /// The neuron at an index.
    fn neuron_address(&self, idx: NeuronIdx) -> Option<&Address>;
}

impl Directory for ChainState {
    fn chain_id(&self) -> &str {
        ChainState::chain_id(self)
    }
    fn particle(&self, idx: ParticleIdx) -> Option<&Particle> {
        ChainState::particle(self, idx)
    }
    fn neuron_address(&self, idx: NeuronIdx) -> Option<&Address> {
        ChainState::neuron_address(self, idx)
    }
}

/// The exact signed bytes of a stored transaction (its encoding is canonical, so it is
/// rebuilt bit for bit from indices).
pub fn rebuild_tx(directory: &impl Directory, record: &TxRecord) -> Result<SignedTx> {
    let missing = |what: String| EngineError::Corruption(format!("transaction refers to unknown {what}"));
    let neuron = directory.neuron_address(record.neuron).ok_or_else(|| missing(format!("neuron {}", record.neuron)))?;
    let particle =
        |idx: ParticleIdx| directory.particle(idx).map(|p| p.cid()).ok_or_else(|| missing(format!("particle {idx}")));
    let links = record
        .links
        .iter()
        .map(|&(from, to)| Ok(WireLink { from: particle(from)?, to: particle(to)? }))
        .collect::<Result<_>>()?;
    let tx = Transaction {
        chain_id: directory.chain_id().to_owned(),
        neuron: neuron.0,
        nonce: record.nonce,
        links,
        sprint: record.sprint.clone(),
    };
    Ok(SignedTx { bytes: tx.encode(), signature: record.signature })
}

struct Loaded {
    chain_id: String,
    particles: Vec<Particle>,
    neurons: Vec<Address>,
}

impl Directory for Loaded {
    fn chain_id(&self) -> &str {
        &self.chain_id
    }
    fn particle(&self, idx: ParticleIdx) -> Option<&Particle> {
        self.particles.get(idx.0 as usize)
    }
    fn neuron_address(&self, idx: NeuronIdx) -> Option<&Address> {
        self.neurons.get(idx.0 as usize)
    }
}

/// What a verified chain holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Height of the tip.
    pub height: u64,
    /// Transactions in all blocks.
    pub txs: u64,
    /// Distinct links.
    pub links: u64,
}

/// Verifies the chain from genesis to tip: heights, parent CIDs, every transaction's
/// signature and `txs_root`, the link ranges and `graph_root`, that no link is stored twice, and
/// that each `focus_root` is the root of the stored focus history of the parent state.
pub fn verify_chain(store: &(impl StoreReader + ?Sized)) -> Result<ChainReport> {
    let fail = |height: u64, what: String| Err(EngineError::Corruption(format!("block {height}: {what}")));
    let genesis = store.genesis()?.ok_or_else(|| EngineError::Genesis("no genesis".into()))?;
    let directory = Loaded {
        chain_id: genesis.chain_id.clone(),
        particles: store.particles()?,
        neurons: store.neurons()?.into_iter().map(|(a, _)| a).collect(),
    };
    let tip = store.last_block()?.ok_or_else(|| EngineError::Corruption("no blocks".into()))?.header.height;
    let mut parent = genesis.cid();
    let mut graph_root = genesis_graph_root();
    let mut next_link = 0u64;
    let mut distinct = HashSet::new();
    let mut tx_total = 0u64;
    for height in 0..=tip {
        let Some(block) = store.block(Height(height))? else {
            return fail(height, "missing".into());
        };
        let header = &block.header;
        if header.height != height || header.parent != parent {
            return fail(height, format!("height {} / parent {} break the chain", header.height, header.parent));
        }
        let txs = store.block_txs(Height(height))?;
        if txs.len() != block.tx_count as usize {
            return fail(height, format!("{} transactions stored, header says {}", txs.len(), block.tx_count));
        }
        let mut tx_cids = Vec::with_capacity(txs.len());
        for (index, record) in txs.iter().enumerate() {
            let signed = rebuild_tx(&directory, record)?;
            let verified = signed.verify(&directory.chain_id, &genesis.params.tx_limits());
            let Ok(tx) = verified else {
                return fail(height, format!("transaction {index} does not verify"));
            };
            match store.tx_location(&tx.cid)? {
                Some(at) if at.height.0 == height && at.index == index as u32 => {}
                _ => {
                    return fail(height, format!("transaction {} is not indexed at {index}", tx.cid));
                }
            }
            tx_cids.push(dag_cbor_cid(&tx.signed.bytes));
        }
        tx_total += txs.len() as u64;
        if txs_root(&tx_cids) != header.txs_root {
            return fail(height, "txs_root does not match the transactions".into());
        }
        if block.first_link.0 != next_link {
            return fail(height, format!("links start at {}, expected {next_link}", block.first_link));
        }
        let mut leaves = Vec::with_capacity(block.link_count as usize);
        for idx in next_link..next_link + block.link_count {
            let link = store
                .link_record(LinkIdx(idx))?
                .ok_or_else(|| EngineError::Corruption(format!("link {idx} missing")))?;
            if link.height.0 != height || !distinct.insert((link.from, link.to, link.neuron)) {
                return fail(height, format!("link {idx} is misplaced or duplicated"));
            }
            let resolve = |p: ParticleIdx| directory.particle(p).map(Particle::to_bytes);
            let (Some(neuron), Some(from), Some(to)) =
                (directory.neuron_address(link.neuron), resolve(link.from), resolve(link.to))
            else {
                return fail(height, format!("link {idx} refers to unknown indices"));
            };
            leaves.push(link_leaf(&neuron.0, &from, &to));
        }
        next_link += block.link_count;
        if height > 0 {
            graph_root = graph_root_after(&graph_root, &leaves);
        }
        if graph_root != header.graph_root {
            return fail(height, "graph_root does not match the links".into());
        }
        if height > 0 {
            let committed = store
                .focus_summary(Height(height - 1))?
                .ok_or_else(|| EngineError::Corruption(format!("focus of height {} missing", height - 1)))?;
            let vector = crate::focus::focus_at(store, Height(height - 1))?.unwrap_or_default();
            if header.focus_root != committed.root || crate::focus::focus_root(&vector) != committed.root {
                return fail(height, "focus_root does not match the stored focus of the parent state".into());
            }
        }
        parent = header.cid();
    }
    Ok(ChainReport { height: tip, txs: tx_total, links: next_link })
}
