//! Node settings: command-line flags over environment variables over a TOML config file over
//! defaults (clap merges flags and environment; this module adds the file and the defaults).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result};
use serde::Deserialize;
use sprint::Profile;

use crate::{data_dir::DataDir, device::DeviceChoice, sprint_job::SprintSettings};

/// What `serve` reads from `--config FILE` (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    data: Option<PathBuf>,
    listen: Option<SocketAddr>,
    block_interval_ms: Option<u64>,
    max_content_bytes: Option<usize>,
    rate_limit_per_ip: Option<u32>,
    max_in_flight_per_ip: Option<usize>,
    max_connections: Option<usize>,
    sprint_profile: Option<String>,
    sprint_window_s: Option<f64>,
    sprint_key: Option<PathBuf>,
    request_timeout_ms: Option<u64>,
    db_write_buffer_mb: Option<usize>,
    db_block_cache_mb: Option<usize>,
    compile_every_blocks: Option<u64>,
    compile_min_links: Option<u64>,
    compile_drift: Option<f64>,
    model_file: Option<PathBuf>,
    validator: Option<bool>,
    validator_key: Option<PathBuf>,
    follow: Option<bool>,
    p2p_listen: Option<String>,
    peers: Option<Vec<String>>,
    tx_peers: Option<Vec<String>>,
    device: Option<DeviceChoice>,
}

impl ConfigFile {
    pub(crate) fn read(path: Option<&Path>) -> Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// Validated settings of a serving node.
#[derive(Debug, Clone)]
pub(crate) struct ServeSettings {
    pub(crate) data: PathBuf,
    pub(crate) listen: SocketAddr,
    pub(crate) block_interval: Duration,
    pub(crate) max_content_bytes: usize,
    pub(crate) rate_limit_per_ip: u32,
    pub(crate) max_in_flight_per_ip: usize,
    pub(crate) max_connections: usize,
    /// The in-node Sprint job, when a profile is named (off by default: it uses every idle core).
    pub(crate) sprint: Option<SprintSettings>,
    /// Longest a request may take, body included (WebSocket sessions excepted).
    pub(crate) request_timeout: Duration,
    /// RocksDB's memory beyond mapped files.
    pub(crate) store_memory: engine::store::MemoryBudget,
    /// When the background compiler runs.
    pub(crate) compile: crate::compile_job::CompileSchedule,
    /// A model file to adopt at start (from `cybergraph compile`).
    pub(crate) model_file: Option<PathBuf>,
    /// Blocks from consensus (voting as a validator, or following) instead of producing them
    /// alone.
    pub(crate) consensus: Option<ConsensusSettings>,
    /// The other nodes' HTTP APIs (`http://host:port`) that transactions admitted here are
    /// forwarded to.
    pub(crate) tx_peers: Vec<String>,
    /// Where the per-block focus solve runs.
    pub(crate) device: DeviceChoice,
}

/// How a node takes part in consensus.
#[derive(Debug, Clone)]
pub(crate) struct ConsensusSettings {
    /// A validator's key file (its public key must be among the genesis validators); none for a
    /// follower, which syncs decided blocks and never votes.
    pub(crate) key: Option<PathBuf>,
    /// The consensus network address to listen on.
    pub(crate) p2p_listen: String,
    /// The validators' (and other nodes') consensus addresses.
    pub(crate) peers: Vec<String>,
}

/// What `serve`'s flags (and their environment variables) set; each overrides the config file.
#[derive(Debug, Default)]
pub(crate) struct ServeFlags {
    pub(crate) data: Option<PathBuf>,
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) block_interval_ms: Option<u64>,
    pub(crate) rate_limit_per_ip: Option<u32>,
    pub(crate) sprint_profile: Option<String>,
    pub(crate) model_file: Option<PathBuf>,
    pub(crate) validator: bool,
    pub(crate) validator_key: Option<PathBuf>,
    pub(crate) follow: bool,
    pub(crate) p2p_listen: Option<String>,
    pub(crate) peers: Vec<String>,
    pub(crate) tx_peers: Vec<String>,
    pub(crate) device: Option<DeviceChoice>,
}

pub(crate) const DEFAULT_P2P_LISTEN: &str = "127.0.0.1:26656";

pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl ServeSettings {
    pub(crate) fn resolve(flags: ServeFlags, config: ConfigFile) -> Result<Self> {
        let ServeFlags { data, listen, block_interval_ms, rate_limit_per_ip, sprint_profile, model_file, .. } = flags;
        let block_interval_ms = block_interval_ms.or(config.block_interval_ms).unwrap_or(1000);
        anyhow::ensure!(block_interval_ms >= 10, "block interval must be at least 10 ms, got {block_interval_ms}");
        let data = data.or(config.data).unwrap_or_else(default_data_dir);
        let (validate, follow) =
            (flags.validator || config.validator.unwrap_or(false), flags.follow || config.follow.unwrap_or(false));
        anyhow::ensure!(!(validate && follow), "a node either validates or follows, not both");
        let peers = flag_list_or(flags.peers, config.peers);
        let p2p_listen = flags.p2p_listen.or(config.p2p_listen);
        anyhow::ensure!(
            validate || follow || (peers.is_empty() && p2p_listen.is_none()),
            "consensus peers and a p2p address are for a node that validates (--validator) or follows (--follow)"
        );
        let tx_peers = flag_list_or(flags.tx_peers, config.tx_peers);
        anyhow::ensure!(
            !follow || !tx_peers.is_empty(),
            "a follower never proposes: it needs --tx-peers (the validators' APIs) to pass its clients' transactions on"
        );
        let consensus = match validate || follow {
            false => None,
            true => Some(ConsensusSettings {
                key: match validate {
                    true => Some(
                        flags
                            .validator_key
                            .or(config.validator_key)
                            .context("a validator needs its key: --key FILE (or validator_key in the config)")?,
                    ),
                    false => None,
                },
                p2p_listen: p2p_listen.unwrap_or_else(|| DEFAULT_P2P_LISTEN.into()),
                peers,
            }),
        };
        let sprint = match sprint_profile.or(config.sprint_profile) {
            None => None,
            Some(name) => {
                let profile = Profile::named(&name).with_context(|| format!("unknown Sprint profile {name:?}"))?;
                let window = config.sprint_window_s.unwrap_or(60.0);
                anyhow::ensure!(window > 0.0 && window.is_finite(), "sprint_window_s must be positive, got {window}");
                // A validator proves with its own key: Sprint's weight becomes its voting power.
                let key = config
                    .sprint_key
                    .or_else(|| consensus.as_ref().and_then(|c| c.key.clone()))
                    .unwrap_or_else(|| DataDir::new(data.clone()).dev_key());
                Some(SprintSettings { profile, window: Duration::from_secs_f64(window), key })
            }
        };
        Ok(ServeSettings {
            data,
            listen: listen.or(config.listen).unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("a valid address")),
            block_interval: Duration::from_millis(block_interval_ms),
            max_content_bytes: config.max_content_bytes.unwrap_or(engine::NodeConfig::default().max_content_bytes),
            rate_limit_per_ip: rate_limit_per_ip.or(config.rate_limit_per_ip).unwrap_or(20_000),
            max_in_flight_per_ip: config.max_in_flight_per_ip.unwrap_or(256),
            max_connections: config.max_connections.unwrap_or(4096),
            sprint,
            request_timeout: Duration::from_millis(config.request_timeout_ms.unwrap_or(10_000).max(1)),
            store_memory: {
                let default = engine::store::MemoryBudget::default();
                let mib = |value: Option<usize>, default: usize| {
                    value.map_or(default, |mb| mb.max(1).saturating_mul(1 << 20))
                };
                engine::store::MemoryBudget {
                    write_buffer_bytes: mib(config.db_write_buffer_mb, default.write_buffer_bytes),
                    block_cache_bytes: mib(config.db_block_cache_mb, default.block_cache_bytes),
                }
            },
            compile: crate::compile_job::CompileSchedule {
                every_blocks: config.compile_every_blocks.unwrap_or(1000),
                min_links: config.compile_min_links.unwrap_or(100_000),
                drift: config.compile_drift.unwrap_or(0.25),
            },
            consensus,
            model_file: model_file.or(config.model_file),
            tx_peers,
            device: flags.device.or(config.device).unwrap_or_default(),
        })
    }
}

/// A list flag if given (non-empty), else the config file's list.
fn flag_list_or(flag: Vec<String>, config: Option<Vec<String>>) -> Vec<String> {
    if flag.is_empty() { config.unwrap_or_default() } else { flag }
}

/// `$CYBERGRAPH_DATA` is read by clap; without it the node lives in `~/.cybergraph`.
pub(crate) fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from(".cybergraph"), |home| PathBuf::from(home).join(".cybergraph"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(flags: ServeFlags) -> Result<ServeSettings> {
        ServeSettings::resolve(
            ServeFlags { data: Some("/tmp/cybergraph-settings".into()), ..flags },
            ConfigFile::default(),
        )
    }

    #[test]
    fn a_node_validates_follows_or_produces_alone_and_its_peers_need_a_role() {
        let peers = vec!["127.0.0.1:26657".to_owned()];
        let apis = vec!["http://127.0.0.1:8081".to_owned()];
        let alone = resolve(ServeFlags::default()).unwrap();
        assert!(alone.consensus.is_none());
        let error = resolve(ServeFlags { peers: peers.clone(), ..ServeFlags::default() }).unwrap_err();
        assert!(error.to_string().contains("validates (--validator) or follows (--follow)"), "{error}");

        let key = PathBuf::from("validator.key");
        let validator = ServeFlags {
            validator: true,
            validator_key: Some(key.clone()),
            peers: peers.clone(),
            ..ServeFlags::default()
        };
        let consensus = resolve(validator).unwrap().consensus.unwrap();
        assert_eq!((consensus.key, consensus.peers.len()), (Some(key.clone()), 1));
        let keyless = resolve(ServeFlags { validator: true, ..ServeFlags::default() }).unwrap_err();
        assert!(keyless.to_string().contains("needs its key"), "{keyless}");

        let follower = ServeFlags { follow: true, peers: peers.clone(), tx_peers: apis, ..ServeFlags::default() };
        assert_eq!(resolve(follower).unwrap().consensus.unwrap().key, None);
        let mute = resolve(ServeFlags { follow: true, peers, ..ServeFlags::default() }).unwrap_err();
        assert!(mute.to_string().contains("needs --tx-peers"), "{mute}");
        let both = ServeFlags { follow: true, validator: true, validator_key: Some(key), ..ServeFlags::default() };
        assert!(resolve(both).unwrap_err().to_string().contains("validates or follows, not both"));
    }

    #[test]
    fn a_validator_proves_with_its_own_key_unless_told_otherwise() {
        let key = PathBuf::from("validator.key");
        let sprint = Some("tiny".to_owned());
        let validator = ServeFlags {
            validator: true,
            validator_key: Some(key.clone()),
            sprint_profile: sprint.clone(),
            ..ServeFlags::default()
        };
        assert_eq!(resolve(validator).unwrap().sprint.unwrap().key, key);
        let alone = resolve(ServeFlags { sprint_profile: sprint, ..ServeFlags::default() }).unwrap();
        assert_eq!(alone.sprint.unwrap().key, PathBuf::from("/tmp/cybergraph-settings/dev-neuron.key"));
    }
}
