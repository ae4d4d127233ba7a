//! `cybergraph init|status|verify`, and what every command that writes shares: the data
//! directory's database (moved into `db/` from an old layout once) and the development chain.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use engine::{Genesis, NeuronKey, Node};

use crate::{
    data_dir::{DataDir, Migration},
    producer::unix_millis,
};

/// The database directory to write, with an old layout moved first (`report` says so).
pub(super) fn open_db(data: &DataDir, report: impl FnOnce(&Migration)) -> Result<PathBuf> {
    let (db, migration) = data.db_for_writing()?;
    if let Some(migration) = migration {
        report(&migration);
    }
    Ok(db)
}

/// Reports a layout move on stderr (commands whose stdout is their answer).
pub(super) fn report_on_stderr(migration: &Migration) {
    eprintln!("data directory layout updated: {migration}");
}

pub(super) fn init(data: &DataDir, genesis: &Path) -> Result<()> {
    let genesis = Genesis::read(genesis)?;
    Node::init(&open_db(data, report_on_stderr)?, &genesis)?;
    println!("initialised chain {:?} in {}", genesis.chain_id, data.root().display());
    Ok(())
}

pub(super) fn status(data: &DataDir) -> Result<()> {
    let state = read_state(data)?;
    let counts = state.counts();
    println!("chain      {}", state.chain_id());
    println!("height     {}", counts.height);
    println!("tip        {}", state.tip().1);
    println!("particles  {}", counts.particles);
    println!("links      {}", counts.links);
    println!("neurons    {}", counts.neurons);
    Ok(())
}

/// The chain state of a data directory, read-only (also while a node serves it).
pub(super) fn read_state(data: &DataDir) -> Result<engine::ChainState> {
    let db = data.db_for_reading();
    let store = engine::store::open_read_only(&db)?;
    Ok(engine::chain_state(&store)?)
}

pub(super) fn verify(data: &DataDir) -> Result<()> {
    let report = engine::audit::verify_chain(&engine::store::open_read_only(&data.db_for_reading())?)?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// First start without a chain: the fixture genesis (`fixtures/genesis.toml`: the import
/// neurons funded) plus a funded development neuron whose key is written beside the database,
/// so a newcomer can link right away.
pub(super) fn create_development_chain(data: &DataDir, db: &Path) -> Result<()> {
    std::fs::create_dir_all(data.root()).with_context(|| format!("creating {}", data.root().display()))?;
    let key_path = data.dev_key();
    let key = match NeuronKey::read(&key_path) {
        Ok(key) => key,
        Err(_) => {
            let key = NeuronKey::generate();
            key.write(&key_path)?;
            key
        }
    };
    let mut genesis: Genesis = toml::from_str(crate::import::FIXTURE_GENESIS).context("fixtures/genesis.toml")?;
    genesis.genesis_time = unix_millis();
    genesis.neurons.push(engine::genesis::GenesisNeuron { address: key.address(), stake: 1000 });
    std::fs::write(data.genesis(), toml::to_string(&genesis)?)?;
    Node::init(db, &genesis)?;
    tracing::info!(key = %key_path.display(), neuron = %key.address(), "created a development chain");
    Ok(())
}
