//! Start-up: the chain state and the mempool rebuilt from the store.

use std::sync::Arc;

use crate::{
    error::{EngineError, Result},
    mempool::{Mempool, Origin},
    state::ChainState,
    store::{FullStore, StoreReader},
    tx::TxLimits,
};

/// The state after the stored chain: particles, neurons and the CSR graph.
pub(crate) fn chain_state(store: &dyn StoreReader) -> Result<ChainState> {
    let genesis = store.genesis()?.ok_or_else(|| EngineError::Genesis("the store has no genesis".into()))?;
    let tip = store.last_block()?.ok_or_else(|| EngineError::Corruption("genesis without block 0".into()))?;
    let mut links = Vec::new();
    store.for_each_link(&mut |idx, link| {
        debug_assert_eq!(idx.0, links.len() as u64);
        links.push((link.from.0, link.to.0, link.neuron.0));
    })?;
    let sprint = match &tip.header.sprint {
        Some(cid) => Some(
            store
                .sprint_ledger(cid)?
                .ok_or_else(|| EngineError::Corruption(format!("the tip's Sprint ledger {cid} is missing")))?,
        ),
        None => None,
    };
    ChainState::restore(genesis, tip, store.particles()?, store.neurons()?, links, sprint)
}

/// The durable mempool re-admitted in arrival order; entries that can no longer commit are
/// dropped from the store.
pub(super) fn mempool(store: &dyn FullStore, state: &ChainState, limits: &TxLimits) -> Result<Mempool> {
    let mut mempool = Mempool::default();
    let mut unusable = Vec::new();
    for (seq, signed) in store.mempool()? {
        let admitted = signed.verify(state.chain_id(), limits).and_then(|tx| {
            mempool.check(state, &tx, Origin::Peer)?;
            Ok(tx)
        });
        match admitted {
            Ok(tx) => mempool.insert(seq, Arc::new(tx)),
            Err(e) => {
                tracing::warn!(seq, error = %e, "dropping a mempool entry that can no longer commit");
                unusable.push(seq);
            }
        }
    }
    if !unusable.is_empty() {
        store.drop_mempool(&unusable)?;
    }
    Ok(mempool)
}
