//! Starting a node's consensus: Malachite's actors (network, write-ahead log, sync, consensus)
//! wired to the [`App`] over the node.

use std::{path::PathBuf, sync::Arc};

use bytesize::ByteSize;
use ed25519_dalek::SigningKey;
use engine::Node;
use malachitebft_app_channel::{
    ConsensusContext, EngineHandle, NetworkContext, NetworkIdentity, RequestContext, SyncContext, WalContext,
    app::{
        config::{ConsensusConfig, NodeConfig, P2pConfig, ValueSyncConfig},
        types::Keypair,
    },
    start_engine,
};
use malachitebft_engine::network::Multiaddr;

use crate::{
    app::{App, Pace, max_block_bytes},
    codec::BorshCodec,
    context::{Cybergraph, ValidatorAddress, ValidatorSet},
    error::{ConsensusError, Result},
    signing::Keys,
};

/// Where a node listens, whom it dials, where it logs its votes, and how fast it goes.
#[derive(Clone, Debug)]
pub struct Settings {
    /// A name for logs and peers.
    pub moniker: String,
    /// The consensus network address to listen on: `127.0.0.1:26656` or a multiaddr
    /// (`/ip4/127.0.0.1/tcp/26656`).
    pub listen: String,
    /// The other validators' addresses (same forms), dialled and re-dialled.
    pub peers: Vec<String>,
    /// The consensus write-ahead log's file.
    pub wal: PathBuf,
    /// Timeouts and the block interval.
    pub pace: Pace,
}

/// Room for a commit certificate in a sync answer: some 100 bytes per signing validator, for
/// several hundred of them.
pub(crate) const CERTIFICATE_ALLOWANCE: usize = 64 * 1024;

/// The most a sync answer may carry: blocks with their certificates and the focus after each
/// (8 bytes a particle), so a node catching up on a graph of a few million particles still
/// takes a height's focus in one answer instead of solving it (Malachite's default is 10 MiB).
const SYNC_ANSWER_LIMIT: ByteSize = ByteSize::mib(64);

/// Malachite's configuration, as its builder reads it.
struct Config {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl NodeConfig for Config {
    fn moniker(&self) -> &str {
        &self.moniker
    }

    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }

    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }

    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }

    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

/// A network address: a multiaddr, or `host:port` for TCP.
fn multiaddr(address: &str) -> Result<Multiaddr> {
    let invalid = |e: String| ConsensusError::Config(format!("network address {address:?}: {e}"));
    if address.starts_with('/') {
        return address.parse::<Multiaddr>().map_err(|e| invalid(e.to_string()));
    }
    let socket: std::net::SocketAddr = address.parse().map_err(|e: std::net::AddrParseError| invalid(e.to_string()))?;
    let ip = match socket.ip() {
        std::net::IpAddr::V4(ip) => format!("/ip4/{ip}"),
        std::net::IpAddr::V6(ip) => format!("/ip6/{ip}"),
    };
    format!("{ip}/tcp/{}", socket.port()).parse::<Multiaddr>().map_err(|e| invalid(e.to_string()))
}

/// A node taking part in consensus.
pub struct Running {
    engine: EngineHandle,
    app: tokio::task::JoinHandle<Result<()>>,
}

impl Running {
    /// Stops every actor and the application loop, and waits until they have let go of the
    /// write-ahead log and the node.
    pub async fn stop(self) {
        self.engine.actor.stop(None);
        let _ = self.engine.handle.await;
        self.app.abort();
        let _ = self.app.await;
    }
}

/// Starts consensus over `node`: as a validator when `key` is given (it votes while its public
/// key is in the validator set), else as a follower that syncs decided blocks.
pub async fn start(node: Arc<Node>, key: Option<SigningKey>, settings: Settings) -> Result<Running> {
    ValidatorSet::of(&node.validators())?;
    let chain_id = node.chain_id().to_owned();
    // The network identity: a validator's own key, or a fresh one for a follower.
    let identity_key = key.clone().unwrap_or_else(|| SigningKey::generate(&mut rand_core::OsRng));
    let keypair =
        Keypair::ed25519_from_bytes(identity_key.to_bytes()).map_err(|e| ConsensusError::Config(e.to_string()))?;
    let address = ValidatorAddress(identity_key.verifying_key().to_bytes());
    let me = key.is_some().then_some(address);
    let config = Config {
        moniker: settings.moniker.clone(),
        consensus: ConsensusConfig {
            p2p: P2pConfig {
                listen_addr: multiaddr(&settings.listen)?,
                persistent_peers: settings.peers.iter().map(|p| multiaddr(p)).collect::<Result<_>>()?,
                rpc_max_size: SYNC_ANSWER_LIMIT,
                ..P2pConfig::default()
            },
            ..ConsensusConfig::default()
        },
        // A node catching up asks for as many blocks at once as a node serves in one answer.
        // Malachite's sync truncates an answer to its own limit as well (to nothing, if the
        // first value is over it): the same as the network's.
        value_sync: ValueSyncConfig {
            batch_size: settings.pace.max_sync_batch as usize,
            max_response_size: SYNC_ANSWER_LIMIT,
            ..ValueSyncConfig::default()
        },
    };
    // A sync answer carries at least one block and its certificate whole; a chain whose blocks
    // could outgrow the network's answer would stall every node catching up on such a block.
    let max_block_bytes = max_block_bytes(&node);
    let largest_answer = max_block_bytes + CERTIFICATE_ALLOWANCE;
    let answer_limit = config.consensus.p2p.rpc_max_size.as_u64() as usize;
    if largest_answer > answer_limit {
        return Err(ConsensusError::Config(format!(
            "the chain's max_block_tx_bytes allows blocks of {largest_answer} bytes with a certificate, over the {answer_limit} bytes a sync answer may carry"
        )));
    }
    let identity = NetworkIdentity::new(settings.moniker.clone(), keypair, me.map(|a| a.to_string()));
    let verifier = Box::new(Keys::follower(&chain_id));
    let consensus = match key {
        Some(key) => ConsensusContext::new_validator(address, verifier, Box::new(Keys::validator(&chain_id, key))),
        None => ConsensusContext::new_full_node(address, verifier),
    };
    let (mut channels, engine) = start_engine(
        Cybergraph,
        config,
        WalContext::new(settings.wal.clone(), BorshCodec),
        NetworkContext::new(identity, BorshCodec),
        consensus,
        SyncContext::new(BorshCodec),
        RequestContext::new(100),
    )
    .await
    .map_err(|e| ConsensusError::Start(e.to_string()))?;
    let app = App::new(node, me, settings.pace, max_block_bytes, answer_limit);
    let app = tokio::spawn(async move { app.run(&mut channels).await });
    Ok(Running { engine, app })
}

/// Consensus on a thread of its own, with its own runtime (for a node whose HTTP server runs
/// on another): [`Background::stop`] ends it.
pub struct Background {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts consensus over `node` on a new thread; returns once it runs (or failed to start).
    pub fn start(node: Arc<Node>, key: Option<SigningKey>, settings: Settings) -> Result<Self> {
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("consensus".into()).spawn(move || {
            // Whatever keeps consensus from starting goes back to the caller.
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("consensus-worker")
                .enable_all()
                .build();
            let runtime = match runtime {
                Ok(runtime) => runtime,
                Err(error) => return drop(started_tx.send(Err(error.into()))),
            };
            runtime.block_on(async move {
                match start(node, key, settings).await {
                    Ok(running) => {
                        let _ = started_tx.send(Ok(()));
                        let _ = stop_rx.await;
                        running.stop().await;
                    }
                    Err(error) => drop(started_tx.send(Err(error))),
                }
            })
        })?;
        match started_rx.recv() {
            Ok(Ok(())) => Ok(Background { stop: Some(stop_tx), thread: Some(thread) }),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(ConsensusError::Start("the consensus thread ended before starting".into())),
        }
    }

    /// Stops consensus and waits for its thread.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the consensus thread panicked");
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.shut_down();
    }
}
