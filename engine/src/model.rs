//! The compiled transformer a node serves `related` with (spec/compiled-transformer.md): its file
//! is content (a raw sha2-256 particle) in the store, and the CID of the model in force goes into
//! every block header from the block that adopts it.

use std::sync::{Arc, Weak};

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
        let file = ModelFile::from_bytes(bytes)?;
        let height = file.height().unwrap_or(0);
        Ok(AdoptedModel { cid: Particle::of_content(bytes).cid(), height, served: Served::unindexed(file.model) })
    }
}

/// Indexes the output rows of the model in force on a thread of its own and serves the indexed
/// rows once built, so adopting a model never waits for the clustering (~28 s for 3.1M rows on
/// two cores; until then `related` scans every row, with the same answers as the full scan). A
/// model replaced meanwhile (a fold-in, a newer model) is indexed in turn; the thread holds the
/// node only weakly, so it never keeps a closed node's store open.
pub(crate) fn index_in_background(shared: &Arc<Shared>) {
    let node = Arc::downgrade(shared);
    let spawned = std::thread::Builder::new().name("model-index".into()).spawn(move || index_until_served(&node));
    if let Err(error) = spawned {
        tracing::warn!(%error, "no thread to index the model's rows; `related` scans every row");
    }
}

fn index_until_served(node: &Weak<Shared>) {
    loop {
        let in_force = || node.upgrade().and_then(|shared| shared.lock().model.clone());
        let Some(model) = in_force().filter(|model| !model.served.is_indexed()) else { return };
        let served = model.served.indexed();
        let Some(shared) = node.upgrade() else { return };
        let mut inner = shared.lock();
        if inner.model.as_ref().is_some_and(|current| Arc::ptr_eq(current, &model)) {
            inner.model = Some(Arc::new(AdoptedModel { cid: model.cid, height: model.height, served }));
            tracing::info!(model = %model.cid, "model rows indexed");
            return;
        }
    }
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
