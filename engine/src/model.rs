//! The compiled transformer a node serves `related` with (spec/compiled-transformer.md): its file
//! is content (a raw sha2-256 particle) in the store, and the CID of the model in force goes into
//! every block header from the block that adopts it.

use std::sync::{Arc, Weak, atomic::Ordering};

use compiler::{ModelFile, Served};
use ipld_core::cid::Cid;

use crate::{error::Result, particle::Particle, shared::Shared, store::StoreReader};

/// A model the node serves with.
#[derive(Debug)]
pub struct AdoptedModel {
    /// The CID of its file (CIDv1 raw sha2-256 of the bytes).
    pub cid: Cid,
    /// The height whose focus it was compiled from.
    pub height: u64,
    /// The weights, ready to serve.
    pub served: Served,
}

impl AdoptedModel {
    /// Reads a model file, refusing bytes that are not one. Its output rows are not indexed yet
    /// ([`Served::unindexed`]): [`index_in_background`] does that once the node serves it.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::with_cid(Particle::of_content(bytes).cid(), bytes)
    }

    /// [`AdoptedModel::from_bytes`] for bytes whose CID the caller has computed.
    pub(crate) fn with_cid(cid: Cid, bytes: &[u8]) -> Result<Self> {
        let file = ModelFile::from_bytes(bytes)?;
        let height = file.height().unwrap_or(0);
        Ok(AdoptedModel { cid, height, served: Served::unindexed(file.model) })
    }

    /// The same model — its file's CID and height, which headers and answers name — served
    /// from `served` (these weights folded in, or their rows indexed).
    pub(crate) fn serving(&self, served: Served) -> Self {
        AdoptedModel { cid: self.cid, height: self.height, served }
    }
}

/// Indexes the output rows of the model in force on a thread of its own and serves the indexed
/// rows once built, so adopting a model never waits for the clustering (~28 s for 3.1M rows on
/// two cores; until then `related` scans every row, with the same answers as the full scan).
/// One such thread per node at a time: an adoption while it runs leaves its model to it. The
/// thread holds the node weakly, so it does not keep a closed node's store open, and none is
/// started while the model in force is indexed (or there is none).
pub(crate) fn index_in_background(shared: &Arc<Shared>) {
    if !unindexed_in_force(shared) || shared.indexing.swap(true, Ordering::AcqRel) {
        return;
    }
    let node = Arc::downgrade(shared);
    let spawned = std::thread::Builder::new().name("model-index".into()).spawn(move || while index_in_force(&node) {});
    if let Err(error) = spawned {
        shared.indexing.store(false, Ordering::Release);
        tracing::warn!(%error, "no thread to index the model's rows; `related` scans every row");
    }
}

fn unindexed_in_force(shared: &Shared) -> bool {
    shared.lock().model.as_ref().is_some_and(|model| !model.served.is_indexed())
}

/// Indexes the model in force and swaps the index in if that model is still in force. A fold-in
/// swapped in meanwhile (the same CID) gets the index just built, its rows refitted
/// (`Served::with_index_of`, about a second where clustering takes ~28 s, so a node folding in
/// every few seconds still gets indexed); a newer model is clustered in turn. Then gives the
/// indexer's turn up and answers whether to go on: a model adopted after the last look, whose
/// adoption found the turn taken, is this thread's to index.
fn index_in_force(node: &Weak<Shared>) -> bool {
    // The index built last, and the CID of the model it was built for.
    let mut built: Option<(Cid, Served)> = None;
    loop {
        let Some(shared) = node.upgrade() else { return false };
        let in_force = shared.lock().model.clone();
        drop(shared);
        let Some(current) = in_force.filter(|model| !model.served.is_indexed()) else { break };
        let served = match &built {
            Some((cid, served)) if *cid == current.cid => current.served.with_index_of(served),
            _ => current.served.indexed(),
        };
        let Some(shared) = node.upgrade() else { return false };
        let mut inner = shared.lock();
        if inner.model.as_ref().is_some_and(|model| Arc::ptr_eq(model, &current)) {
            inner.model = Some(Arc::new(current.serving(served)));
            tracing::info!(model = %current.cid, "model rows indexed");
            break;
        }
        built = Some((current.cid, served));
    }
    let Some(shared) = node.upgrade() else { return false };
    shared.indexing.store(false, Ordering::Release);
    unindexed_in_force(&shared) && !shared.indexing.swap(true, Ordering::AcqRel)
}

/// The model the tip's header records, read from the store. A missing or unreadable file is
/// logged and answered with `None`: the node then serves the exact path.
pub(crate) fn restore(store: &dyn StoreReader, recorded: Option<Cid>) -> Option<Arc<AdoptedModel>> {
    let cid = recorded?;
    let refuse = |why: String| {
        tracing::warn!(model = %cid, "the model in force is not served ({why}); `related` answers on the exact path");
        None
    };
    let particle = match Particle::from_cid(cid) {
        Ok(particle) => particle,
        Err(e) => return refuse(e.to_string()),
    };
    match store.content(&particle) {
        Ok(Some(bytes)) => match AdoptedModel::from_bytes(&bytes) {
            Ok(model) if model.cid == cid => Some(Arc::new(model)),
            Ok(_) => refuse("its bytes hash to another CID".into()),
            Err(e) => refuse(e.to_string()),
        },
        Ok(None) => refuse("its file is not in the store".into()),
        Err(e) => refuse(e.to_string()),
    }
}
