//! `cybergraph import`: a knowledge graph through the live transaction path.

use std::path::PathBuf;

use anyhow::{Context, Result};
use engine::{Node, NodeConfig};

use super::chain::{create_development_chain, open_db, report_on_stderr};
use crate::data_dir::DataDir;

/// Sources `import` reads.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub(super) enum Source {
    /// WordNet 3.1 dict directory (data.noun, data.verb, data.adj, data.adv).
    Wordnet,
    /// FOLDOC dictd directory (foldoc.index, foldoc.dict.dz).
    Foldoc,
    /// JSON lines.
    Jsonl,
}

pub(super) fn run(data: &DataDir, source: Source, file: Option<PathBuf>) -> Result<()> {
    let dataset = match source {
        Source::Wordnet => crate::import::wordnet(file.as_deref(), &data.sources())?,
        Source::Foldoc => crate::import::foldoc(file.as_deref(), &data.sources())?,
        Source::Jsonl => {
            let file = file.context("jsonl needs a FILE")?;
            crate::import::load_jsonl(&file)?
        }
    };
    // Only once the source has loaded: a refused source leaves the data directory untouched.
    let db = open_db(data, report_on_stderr)?;
    if !Node::is_initialised(&db)? {
        create_development_chain(data, &db)?;
    }
    let node = Node::open(&db, NodeConfig::default())?;
    let search = crate::search::SearchIndex::open(&data.search(), &node)?;
    let summary = crate::import::run(&node, &search, dataset)?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
