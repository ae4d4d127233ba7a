//! The read API: what clients and auditors ask of a node, over its store's readers and the tip's
//! state. Store scans run without the node's lock (admission and blocks wait on it); the lock is
//! taken only to resolve indices, once per answer.

use std::sync::Arc;

use ipld_core::cid::Cid;

use crate::{
    audit::rebuild_tx,
    block::BlockHeader,
    error::{EngineError, Result},
    focus::{Focus, focus_at, focus_proof, particle_focus_at, quantise},
    genesis::GenesisValidator,
    ids::{Height, LinkIdx, NeuronIdx, ParticleIdx},
    merkle::{InclusionProof, leaf_hash},
    neuron::Address,
    particle::{Particle, dag_cbor_cid},
    records::{LinkRecord, TxLocation},
    shared::Shared,
    state::ChainState,
    store::{LinkScan, StoreReader},
    views::{
        FocusProof, LinkFilter, LinkPage, LinkView, NeuronInfo, NodeStatus, Ranked, Related, TxInclusion, TxStatus,
        TxView, link_matches,
    },
};

/// Most index entries one page may scan (a page may come back short, with a cursor to go on).
pub const MAX_SCAN: usize = 10_000;

/// The read API of one node. Cheap to clone; every clone reads the same node.
#[derive(Clone)]
pub struct Query {
    shared: Arc<Shared>,
}

impl Query {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Query { shared }
    }

    /// The store's read-only view.
    pub fn store(&self) -> &dyn StoreReader {
        self.shared.store.as_reader()
    }

    /// Runs `f` on the committed state (for queries that need the graph).
    pub fn with_state<T>(&self, f: impl FnOnce(&ChainState) -> T) -> T {
        self.shared.with_state(f)
    }

    /// The node at a glance.
    pub fn status(&self) -> NodeStatus {
        let inner = self.shared.lock();
        NodeStatus {
            chain_id: self.shared.chain_id.clone(),
            tip: inner.state.tip().1,
            counts: inner.state.counts(),
            mempool: inner.mempool.len(),
        }
    }

    /// A neuron as a client needs it to sign.
    pub fn neuron(&self, address: &Address) -> NeuronInfo {
        let inner = self.shared.lock();
        NeuronInfo {
            address: *address,
            stake: inner.state.stake_of(address),
            quota: inner.state.quota_of(address),
            next_nonce: inner.mempool.next_nonce(&inner.state, address),
            links: inner.state.neuron(address).map_or(0, |n| n.links),
        }
    }

    /// Where a transaction stands.
    pub fn tx_status(&self, cid: &Cid) -> Result<TxStatus> {
        // Mempool first, under the lock; the store read after it needs none: a block writes the
        // store before it takes its transactions out of the mempool, both under the lock.
        if self.shared.lock().mempool.contains(cid) {
            return Ok(TxStatus::Pending);
        }
        Ok(match self.store().tx_location(cid)? {
            Some(TxLocation { height, index }) => TxStatus::Committed { height: height.0, index },
            None => TxStatus::Unknown,
        })
    }

    /// Which of `cids` this node's mempool holds (one lock for all).
    pub fn pending(&self, cids: &[Cid]) -> Vec<bool> {
        let inner = self.shared.lock();
        cids.iter().map(|cid| inner.mempool.contains(cid)).collect()
    }

    /// Every waiting transaction with its CID, in admission order.
    pub fn pending_txs(&self) -> Vec<(Cid, crate::SignedTx)> {
        self.shared.lock().mempool.transactions().map(|tx| (tx.cid, tx.signed.clone())).collect()
    }

    /// The content of a particle, if posted.
    pub fn content(&self, particle: &Particle) -> Result<Option<Vec<u8>>> {
        self.store().content(particle)
    }

    /// A block header and its transactions' CIDs.
    pub fn block(&self, height: u64) -> Result<Option<(BlockHeader, Vec<Cid>)>> {
        let Some(header) = self.header(height)? else { return Ok(None) };
        let cids = self.block_transactions(height)?.into_iter().map(|tx| tx.cid).collect();
        Ok(Some((header, cids)))
    }

    /// The header of a block.
    pub fn header(&self, height: u64) -> Result<Option<BlockHeader>> {
        Ok(self.store().block(Height(height))?.map(|b| b.header))
    }

    /// The commit certificate that decided the block at `height` (the consensus crate's
    /// encoding), when consensus decided it.
    pub fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>> {
        self.store().certificate(Height(height))
    }

    /// The validators that decided (or decide) the block at `height`, sorted by address: the
    /// set the state after `height − 1` names.
    pub fn validators_at(&self, height: u64) -> Result<Vec<GenesisValidator>> {
        let parent = height.checked_sub(1).and_then(|h| self.header(h).transpose()).transpose()?;
        Ok(match parent.and_then(|header| header.sprint) {
            Some(cid) => {
                self.store()
                    .sprint_ledger(&cid)?
                    .ok_or_else(|| EngineError::Corruption(format!("Sprint ledger {cid} is missing")))?
                    .validators
            }
            None => self.with_state(|state| state.genesis().sorted_validators()),
        })
    }

    /// The transactions of a block, rebuilt as signed.
    pub fn block_transactions(&self, height: u64) -> Result<Vec<TxView>> {
        let records = self.store().block_txs(Height(height))?;
        self.with_state(|state| {
            records
                .iter()
                .map(|record| {
                    let signed = rebuild_tx(state, record)?;
                    let links = record
                        .links
                        .iter()
                        .map(|&(f, t)| (*state.particle(f).expect("stored"), *state.particle(t).expect("stored")))
                        .collect();
                    Ok(TxView {
                        cid: dag_cbor_cid(&signed.bytes),
                        neuron: *state.neuron_address(record.neuron).expect("stored"),
                        nonce: record.nonce,
                        links,
                        sprint: record.sprint.clone(),
                    })
                })
                .collect()
        })
    }

    /// The Merkle path of a committed transaction to its block's `txs_root`.
    pub fn inclusion_proof(&self, tx: &Cid) -> Result<TxInclusion> {
        let location = self.store().tx_location(tx)?.ok_or(EngineError::TxNotInBlock(*tx))?;
        let header = self
            .header(location.height.0)?
            .ok_or_else(|| EngineError::Corruption("block of a transaction missing".into()))?;
        let leaves: Vec<_> =
            self.block_transactions(location.height.0)?.iter().map(|t| leaf_hash(&t.cid.to_bytes())).collect();
        Ok(TxInclusion {
            height: location.height.0,
            index: location.index,
            block: header.cid(),
            txs_root: header.txs_root,
            proof: InclusionProof::new(&leaves, location.index as usize),
        })
    }

    /// The focus of the tip's state (of the height before, while a node catching up waits to
    /// check the tip's against the next certified header).
    pub fn focus(&self) -> Focus {
        self.shared.focus()
    }

    /// The exact focus vector of the state at `height`.
    pub fn focus_at(&self, height: u64) -> Result<Option<Vec<f64>>> {
        focus_at(self.store(), Height(height))
    }

    /// A particle's exact focus at a past height.
    pub fn focus_of_at(&self, particle: ParticleIdx, height: u64) -> Result<Option<f64>> {
        particle_focus_at(self.store(), Height(height), particle)
    }

    /// One particle's focus at `height` with the inclusion proof of its leaf into the
    /// `focus_root` of header `height + 1`.
    pub fn focus_proof(&self, particle: &Particle, height: u64) -> Result<FocusProof> {
        let index = self.particle_index(particle).ok_or(EngineError::ParticleNotLinked(particle.cid()))?;
        let anchor =
            self.store().block(Height(height + 1))?.ok_or(EngineError::FocusNotCommitted { height: Height(height) })?;
        let pi = self.focus_at(height)?.ok_or(EngineError::FocusNotStored(Height(height)))?;
        let proof = focus_proof(&pi, index)
            .ok_or(EngineError::ParticleNotLinkedAt { particle: particle.cid(), height: Height(height) })?;
        let focus = pi[index.0 as usize];
        Ok(FocusProof {
            height,
            particle: index.0,
            focus,
            leaf: quantise(focus),
            root: anchor.header.focus_root,
            anchor_height: height + 1,
            proof,
        })
    }

    /// A particle's index, if a committed link uses it.
    pub fn particle_index(&self, particle: &Particle) -> Option<ParticleIdx> {
        self.with_state(|state| state.particle_idx(particle))
    }

    /// The height of the block that first linked the particle.
    pub fn first_seen(&self, particle: ParticleIdx) -> Result<Option<u64>> {
        let tip = self.status().counts.height;
        let (mut lo, mut hi) = (0u64, tip);
        // The last block whose first new particle is at or before `particle`.
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let block = self
                .store()
                .block(Height(mid))?
                .ok_or_else(|| EngineError::Corruption(format!("block {mid} missing")))?;
            if block.first_particle <= particle {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        Ok((lo > 0).then_some(lo))
    }

    /// Links matching `filter`, `first` at most, after `cursor`.
    pub fn links(&self, filter: &LinkFilter, cursor: Option<&str>, first: usize) -> Result<LinkPage> {
        let resolved = self.with_state(|state| {
            let particle = |p: &Option<Particle>| p.map(|p| state.particle_idx(&p)).map(|i| i.ok_or(()));
            let neuron = filter.neuron.map(|a| state.neuron(&a).map(|r| r.idx).ok_or(()));
            (particle(&filter.from), particle(&filter.to), neuron)
        });
        let (from, to, neuron): (Option<ParticleIdx>, Option<ParticleIdx>, Option<NeuronIdx>) = match resolved {
            (Some(Err(())), _, _) | (_, Some(Err(())), _) | (_, _, Some(Err(()))) => return Ok(LinkPage::default()),
            (from, to, neuron) => (from.map(Result::unwrap), to.map(Result::unwrap), neuron.map(Result::unwrap)),
        };
        let store = self.store();
        let first_link_at = |height: u64| -> Result<LinkIdx> {
            Ok(store.block(Height(height))?.map_or(LinkIdx(u64::MAX), |block| block.first_link))
        };
        let scan = match (from, to, neuron) {
            (Some(from), to, _) => LinkScan::BySource { from, to },
            (None, Some(to), _) => LinkScan::ByTarget { to },
            (None, None, Some(neuron)) => {
                LinkScan::ByNeuron { neuron, first: first_link_at(filter.height_from.unwrap_or(0))? }
            }
            (None, None, None) => LinkScan::All { first: first_link_at(filter.height_from.unwrap_or(0))? },
        };
        let after = cursor
            .map(|cursor| {
                hex::decode(cursor)
                    .ok()
                    .and_then(|bytes| scan.position(&bytes))
                    .ok_or_else(|| EngineError::Malformed(format!("cursor {cursor:?} does not belong to this query")))
            })
            .transpose()?;
        let ordered_by_height = matches!(scan, LinkScan::All { .. } | LinkScan::ByNeuron { .. });
        let mut page = LinkPage::default();
        let mut found: Vec<(LinkIdx, LinkRecord, String)> = Vec::new();
        let mut scanned = 0;
        let mut last = None;
        store.scan_links(scan, after, &mut |position, idx, record| {
            if found.len() == first || scanned == MAX_SCAN {
                page.has_next = true;
                return Ok(false);
            }
            scanned += 1;
            last = Some(position);
            if ordered_by_height && filter.height_to.is_some_and(|to| record.height.0 > to) {
                return Ok(false);
            }
            let wanted = (from.as_ref(), to.as_ref(), neuron.as_ref());
            let link = (&record.from, &record.to, &record.neuron, record.height.0);
            if link_matches(wanted, (filter.height_from, filter.height_to), link) {
                found.push((idx, record, hex::encode(position.to_bytes())));
            }
            Ok(true)
        })?;
        page.links = self.with_state(|state| {
            found.into_iter().map(|(idx, record, cursor)| (LinkView::resolve(state, idx, record), cursor)).collect()
        });
        page.end_cursor = last.map(|position| hex::encode(position.to_bytes()));
        Ok(page)
    }

    /// The compiled model in force, with the height it was compiled at.
    pub fn model(&self) -> Option<(Cid, u64)> {
        self.shared.focus_and_model().1.map(|m| (m.cid, m.height))
    }

    /// The model in force as served (rows folded in included).
    pub fn served_model(&self) -> Option<Arc<crate::model::AdoptedModel>> {
        self.shared.focus_and_model().1
    }

    /// The particles with the highest focus.
    pub fn top(&self, first: usize) -> Vec<Ranked> {
        let focus = self.focus();
        self.ranked(focus.order.iter().map(|&i| (i, focus.pi[i as usize])), first)
    }

    /// The conditional focus `π*(·|s)` of the context (equal weights, spec/focus.md §5): its
    /// `first` best particles outside the context. With a model in force and `exact` false, the
    /// served hybrid answers (push head + the model for the rest); otherwise the exact path (a
    /// local push; see `compiler::conditional::EXACT`). The answer says which, and its ℓ1 bound.
    pub fn related(&self, context: &[Particle], first: usize, exact: bool) -> Result<Related> {
        let (focus, model) = self.shared.focus_and_model();
        let seeds: Vec<u32> =
            self.with_state(|state| context.iter().filter_map(|p| state.particle_idx(p)).map(|i| i.0).collect());
        let height = focus.summary.height;
        if seeds.is_empty() {
            let path = compiler::Path::Exact;
            return Ok(Related { height, particles: Vec::new(), error_bound: 0.0, path, model: None });
        }
        let graph = focus.graph();
        let model = model.filter(|_| !exact);
        let answer = compiler::serve::related(
            &graph,
            &self.shared.related_scratch,
            model.as_ref().map(|m| &m.served),
            &seeds,
            first,
        );
        let particles = self.ranked(answer.particles.iter().copied(), first);
        let model = model.filter(|_| answer.path != compiler::Path::Exact).map(|m| (m.cid, m.height));
        Ok(Related { height, particles, error_bound: answer.error_bound, path: answer.path, model })
    }

    /// The first `first` particles of a ranking `(index, score)`, resolved to particles.
    fn ranked(&self, order: impl Iterator<Item = (u32, f64)>, first: usize) -> Vec<Ranked> {
        self.with_state(|state| {
            order
                .take(first)
                .map(|(i, score)| Ranked {
                    particle: *state.particle(ParticleIdx(i)).expect("ranked particles exist"),
                    score,
                })
                .collect()
        })
    }

    /// A neuron's karma (0 for a neuron without links).
    pub fn karma(&self, address: &Address) -> f64 {
        let focus = self.focus();
        self.with_state(|state| {
            state.neuron(address).and_then(|r| focus.karma.get(r.idx.0 as usize)).copied().unwrap_or(0.0)
        })
    }
}
