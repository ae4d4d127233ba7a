//! `cybergraph serve`: the node, its block producer, the HTTP server and the optional Sprint job.

use std::sync::Arc;

use anyhow::{Context, Result};
use engine::{Node, NodeConfig};
use sprint::sprint_seed;

use super::chain::{create_development_chain, open_db};
use crate::{
    data_dir::DataDir, metrics::Metrics, pool::DevicePool, producer::Producer, settings::ServeSettings,
    sprint_job::SprintCounters,
};

/// Where a serving node's blocks come from.
enum BlockSource {
    /// The genesis validators decide them (`--validator`).
    Consensus(consensus::Background),
    /// This node produces them every interval.
    Alone(Producer),
}

pub(super) fn serve(settings: ServeSettings) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let data = DataDir::new(settings.data.clone());
    let db = open_db(&data, |migration| tracing::info!(%migration, "data directory layout updated"))?;
    if !Node::is_initialised(&db)? {
        create_development_chain(&data, &db)?;
    }
    let config = NodeConfig { max_content_bytes: settings.max_content_bytes, store_memory: settings.store_memory };
    let node = Arc::new(Node::open(&db, config)?);
    let search = Arc::new(crate::search::SearchIndex::open(&data.search(), &node)?);
    let (blocks, _) = tokio::sync::broadcast::channel(1024);
    search.follow(&node, blocks.clone());
    let status = node.query().status();
    tracing::info!(data = %settings.data.display(), chain = %status.chain_id, height = status.counts.height, "node open");
    let pool = Arc::new(DevicePool::default());
    let counters = Arc::new(SprintCounters::default());
    if let Some(file) = &settings.model_file {
        // A bad file costs the fast path, not the node: `related` answers exactly meanwhile.
        let adopted = std::fs::read(file).map_err(anyhow::Error::from).and_then(|bytes| Ok(node.adopt_model(&bytes)?));
        if let Err(error) = adopted {
            tracing::error!(file = %file.display(), %error, "model not adopted; `related` answers on the exact path");
        }
    }
    // Blocks come from consensus with the other validators, or from this node alone.
    let blocks_from = match &settings.validator {
        Some(validator) => {
            let key = engine::NeuronKey::read(&validator.key)?;
            let consensus = consensus::Settings {
                moniker: key.address().to_string(),
                listen: validator.p2p_listen.clone(),
                peers: validator.peers.clone(),
                wal: data.consensus_wal(),
                pace: consensus::Pace { block_interval: settings.block_interval, ..consensus::Pace::default() },
            };
            tracing::info!(validator = %key.address(), p2p = %validator.p2p_listen, peers = ?validator.peers, "consensus starting");
            BlockSource::Consensus(consensus::Background::start(
                Arc::clone(&node),
                Some(key.signing_key().clone()),
                consensus,
            )?)
        }
        None => {
            // Producing alone on a chain that validators decide would fork this node off it.
            let validators = node.validators().len();
            anyhow::ensure!(
                validators == 0,
                "this chain is decided by {validators} validators: serve with --validator --key FILE --peers ..."
            );
            BlockSource::Alone(Producer::start(Arc::clone(&node), Arc::clone(&pool), settings.block_interval)?)
        }
    };
    let compiler = crate::compile_job::start(Arc::clone(&node), Arc::clone(&pool), settings.compile)?;
    let sprint = match settings.sprint.clone() {
        Some(sprint) => {
            let genesis = node.query().block(0)?.context("the chain has no genesis block")?.0.cid();
            let out = data.sprint();
            let job = crate::sprint_job::start(
                sprint,
                sprint_seed(&genesis.to_bytes()),
                Arc::clone(&pool),
                Arc::clone(&counters),
                out,
            )?;
            Some(job)
        }
        None => None,
    };
    let metrics = Arc::new(Metrics::new(Arc::clone(&pool), counters));
    let http = crate::http::HttpSettings {
        listen: settings.listen,
        max_content_bytes: settings.max_content_bytes,
        rate_limit_per_ip: settings.rate_limit_per_ip,
        max_in_flight_per_ip: settings.max_in_flight_per_ip,
        max_connections: settings.max_connections,
        request_timeout: settings.request_timeout,
    };
    let relay = Arc::new(crate::relay::Relay::start(&settings.tx_peers).context("starting the transaction relay")?);
    let served = crate::http::serve(Arc::clone(&node), search, blocks, pool, metrics, relay, http);
    if let Some(sprint) = sprint {
        sprint.stop();
    }
    if let Some(compiler) = compiler {
        compiler.stop();
    }
    match blocks_from {
        BlockSource::Consensus(consensus) => consensus.stop(),
        BlockSource::Alone(producer) => producer.stop(),
    }
    tracing::info!("stopped");
    served.with_context(|| format!("serving on {}", settings.listen))
}
