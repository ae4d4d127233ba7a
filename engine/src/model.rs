//! The compiled transformer a node serves `related` with (spec/compiled-transformer.md): its file
//! is content (a raw sha2-256 particle) in the store, and the CID of the model in force goes into
//! every block header from the block that adopts it.

use std::sync::Arc;

use compiler::{ModelFile, Served};
use ipld_core::cid::Cid;

use crate::{error::Result, particle::Particle, store::StoreReader};

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
    /// Reads a model file, refusing bytes that are not one.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let file = ModelFile::from_bytes(bytes)?;
        let height = file.height().unwrap_or(0);
        Ok(AdoptedModel { cid: Particle::of_content(bytes).cid(), height, served: Served::new(file.model) })
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
