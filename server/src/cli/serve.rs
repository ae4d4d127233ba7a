//! `cybergraph serve`: the node, its block producer, the HTTP server and the optional Sprint job.

use std::sync::Arc;

use anyhow::{Context, Result};
use engine::{Node, NodeConfig};
use sprint::sprint_seed;

use super::chain::{create_development_chain, open_db};
use crate::{
    chain_sprint,
    data_dir::DataDir,
    metrics::Metrics,
    pool::{BackgroundJob, DevicePool, Priority},
    producer::Producer,
    settings::ServeSettings,
    sprint_job::SprintCounters,
};

/// Where a serving node's blocks come from.
enum BlockSource {
    /// Consensus decides them: this node votes (`--validator`) or follows (`--follow`).
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
    let device = crate::device::open(settings.device)?;
    let config = NodeConfig {
        max_content_bytes: settings.max_content_bytes,
        store_memory: settings.store_memory,
        device: device.clone(),
    };
    let node = Arc::new(Node::open(&db, config)?);
    let search = Arc::new(crate::search::SearchIndex::open(&data.search(), &node)?);
    let (blocks, _) = tokio::sync::broadcast::channel(1024);
    search.follow(&node, blocks.clone());
    let status = node.query().status();
    tracing::info!(data = %settings.data.display(), chain = %status.chain_id, height = status.counts.height, "node open");
    let pool = Arc::new(DevicePool::default());
    // Every block's commit and its focus solve — produced alone or decided in consensus — go
    // before training and Sprint in the device pool.
    let committing = Arc::clone(&pool);
    node.take_commit_turns(move || Box::new(committing.enter(Priority::Focus)));
    let counters = Arc::new(SprintCounters::default());
    if let Some(file) = &settings.model_file {
        // A bad file costs the fast path, not the node: `related` answers exactly meanwhile.
        let adopted = std::fs::read(file).map_err(anyhow::Error::from).and_then(|bytes| Ok(node.adopt_model(&bytes)?));
        if let Err(error) = adopted {
            tracing::error!(file = %file.display(), %error, "model not adopted; `related` answers on the exact path");
        }
    }
    // Sprint's settings (profile, keys) are checked before this node joins consensus.
    let validator_key = settings.consensus.as_ref().and_then(|c| c.key.as_deref()).map(read_key).transpose()?;
    let relay = Arc::new(crate::relay::Relay::start(&settings.tx_peers).context("starting the transaction relay")?);
    relay.follow(&node);
    let sprint = start_sprint(&settings, &data, validator_key.clone(), &node, &pool, &counters, &relay)?;
    // Blocks come from consensus with the other validators, or from this node alone.
    let blocks_from = match &settings.consensus {
        Some(taking_part) => {
            let key = validator_key;
            let moniker = key.as_ref().map_or_else(|| "follower".to_owned(), |key| key.address().to_string());
            let consensus = consensus::Settings {
                moniker: moniker.clone(),
                listen: taking_part.p2p_listen.clone(),
                peers: taking_part.peers.clone(),
                wal: data.consensus_wal(),
                pace: consensus::Pace { block_interval: settings.block_interval, ..consensus::Pace::default() },
            };
            let (p2p, peers) = (&taking_part.p2p_listen, &taking_part.peers);
            tracing::info!(node = %moniker, %p2p, ?peers, "consensus starting");
            BlockSource::Consensus(consensus::Background::start(
                Arc::clone(&node),
                key.map(|key| key.signing_key().clone()),
                consensus,
            )?)
        }
        None => {
            // Producing alone on a chain that validators decide would fork this node off it.
            let validators = node.validators().len();
            anyhow::ensure!(
                validators == 0,
                "this chain is decided by {validators} validators: serve with --validator --key FILE --peers ... (or --follow --peers ...)"
            );
            BlockSource::Alone(Producer::start(Arc::clone(&node), settings.block_interval)?)
        }
    };
    let compiler = crate::compile_job::start(Arc::clone(&node), Arc::clone(&pool), settings.compile)?;
    let metrics = Arc::new(Metrics::new(Arc::clone(&pool), counters, &device));
    let http = crate::http::HttpSettings {
        listen: settings.listen,
        max_content_bytes: settings.max_content_bytes,
        rate_limit_per_ip: settings.rate_limit_per_ip,
        max_in_flight_per_ip: settings.max_in_flight_per_ip,
        max_connections: settings.max_connections,
        request_timeout: settings.request_timeout,
    };
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

/// Sprint in the node: on a chain whose genesis sets Sprint, its steps at the chain's stages
/// (a validator's always, proving with `--sprint`); otherwise, with `--sprint`, proofs in local
/// wall-clock windows.
fn start_sprint(
    settings: &ServeSettings,
    data: &DataDir,
    validator_key: Option<engine::NeuronKey>,
    node: &Arc<Node>,
    pool: &Arc<DevicePool>,
    counters: &Arc<SprintCounters>,
    relay: &Arc<crate::relay::Relay>,
) -> Result<Option<BackgroundJob>> {
    let chain_sprint = node.query().with_state(|state| state.genesis().sprint.clone());
    match (chain_sprint, &settings.sprint) {
        (Some(params), proving) => {
            if let Some(proving) = proving {
                anyhow::ensure!(
                    proving.profile.name == params.profile,
                    "this chain's Sprint uses the {} profile, not {}",
                    params.profile,
                    proving.profile.name
                );
            }
            let duties = chain_sprint::Duties {
                validator: validator_key,
                prover: proving.as_ref().map(|p| read_key(&p.key)).transpose()?,
                shares: data.sprint(),
            };
            if duties.validator.is_none() && duties.prover.is_none() {
                return Ok(None);
            }
            let job = chain_sprint::start(
                Arc::clone(node),
                params,
                duties,
                Arc::clone(pool),
                Arc::clone(counters),
                Arc::clone(relay),
            )?;
            Ok(Some(job))
        }
        (None, Some(proving)) => {
            let genesis = node.query().block(0)?.context("the chain has no genesis block")?.0.cid();
            let job = crate::sprint_job::start(
                proving.clone(),
                sprint_seed(&genesis.to_bytes()),
                Arc::clone(pool),
                Arc::clone(counters),
                data.sprint(),
            )?;
            Ok(Some(job))
        }
        (None, None) => Ok(None),
    }
}

fn read_key(file: &std::path::Path) -> Result<engine::NeuronKey> {
    engine::NeuronKey::read(file).with_context(|| format!("reading the key {}", file.display()))
}
