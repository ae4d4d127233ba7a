//! Node settings: command-line flags over environment variables over a TOML config file over
//! defaults (clap merges flags and environment; this module adds the file and the defaults).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result};
use serde::Deserialize;

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
}

pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

impl ServeSettings {
    pub(crate) fn resolve(
        data: Option<PathBuf>,
        listen: Option<SocketAddr>,
        block_interval_ms: Option<u64>,
        rate_limit_per_ip: Option<u32>,
        config: ConfigFile,
    ) -> Result<Self> {
        let block_interval_ms = block_interval_ms.or(config.block_interval_ms).unwrap_or(1000);
        anyhow::ensure!(block_interval_ms >= 10, "block interval must be at least 10 ms, got {block_interval_ms}");
        Ok(ServeSettings {
            data: data.or(config.data).unwrap_or_else(default_data_dir),
            listen: listen.or(config.listen).unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("a valid address")),
            block_interval: Duration::from_millis(block_interval_ms),
            max_content_bytes: config.max_content_bytes.unwrap_or(engine::NodeConfig::default().max_content_bytes),
            rate_limit_per_ip: rate_limit_per_ip.or(config.rate_limit_per_ip).unwrap_or(20_000),
            max_in_flight_per_ip: config.max_in_flight_per_ip.unwrap_or(256),
            max_connections: config.max_connections.unwrap_or(4096),
        })
    }
}

/// `$CYBERGRAPH_DATA` is read by clap; without it the node lives in `~/.cybergraph`.
pub(crate) fn default_data_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map_or_else(|| PathBuf::from(".cybergraph"), |home| PathBuf::from(home).join(".cybergraph"))
}
