//! Validators in one process, each with its own RocksDB directory and Malachite's real network
//! on loopback TCP (through a wire per pair that a test can cut): they decide blocks together,
//! and go on or stop as their powers say.

use std::{
    collections::HashMap,
    net::TcpListener,
    sync::Arc,
    time::{Duration, Instant},
};

use consensus::{Pace, Running, Settings};
use ed25519_dalek::SigningKey;
use engine::{Genesis, GenesisValidator, NeuronKey, Node, NodeConfig, Particle, Transaction};
use malachitebft_core_types::LinearTimeouts;
use tempfile::TempDir;

mod liveness;
mod wire;

use wire::Wire;

/// One validator: its directory, key, address, and while it runs its node and consensus.
struct Member {
    dir: TempDir,
    key: SigningKey,
    listen: String,
    node: Option<Arc<Node>>,
    running: Option<Running>,
}

/// A chain run by validators of the given powers.
struct Net {
    members: Vec<Member>,
    /// `(from, to)` → the wire member `from` dials member `to` through.
    wires: HashMap<(usize, usize), Wire>,
    neuron: NeuronKey,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Fast rounds for loopback: a height takes at least 200 ms.
fn pace() -> Pace {
    let timeouts = LinearTimeouts {
        propose: Duration::from_millis(1500),
        propose_delta: Duration::from_millis(250),
        prevote: Duration::from_millis(500),
        prevote_delta: Duration::from_millis(250),
        precommit: Duration::from_millis(500),
        precommit_delta: Duration::from_millis(250),
        rebroadcast: Duration::from_millis(2000),
        max_timeout: Duration::from_secs(10),
    };
    Pace { timeouts, block_interval: Duration::from_millis(200), ..Pace::default() }
}

impl Net {
    async fn new(powers: &[u64]) -> Self {
        let neuron = NeuronKey::from_secret([42; 32]);
        let keys: Vec<SigningKey> = (0..powers.len()).map(|i| SigningKey::from_bytes(&[i as u8 + 1; 32])).collect();
        let mut genesis = Genesis::development(&[neuron.address()], 1_000);
        genesis.chain_id = "it-bft".into();
        genesis.validators = keys
            .iter()
            .zip(powers)
            .map(|(key, &power)| GenesisValidator { address: engine::Address(key.verifying_key().to_bytes()), power })
            .collect();
        let members: Vec<Member> = keys
            .into_iter()
            .map(|key| {
                let dir = tempfile::tempdir().unwrap();
                Node::init(&dir.path().join("db"), &genesis).unwrap();
                let listen = format!("127.0.0.1:{}", free_port());
                Member { dir, key, listen, node: None, running: None }
            })
            .collect();
        let mut wires = HashMap::new();
        for from in 0..members.len() {
            for (to, member) in members.iter().enumerate().filter(|&(to, _)| to != from) {
                wires.insert((from, to), Wire::to(member.listen.clone()).await);
            }
        }
        Net { members, wires, neuron }
    }

    /// Opens member `i`'s node and starts its consensus.
    async fn start(&mut self, i: usize) {
        let peers = (0..self.members.len()).filter(|&j| j != i).map(|j| self.wires[&(i, j)].listen.clone()).collect();
        let member = &mut self.members[i];
        let node = Arc::new(Node::open(&member.dir.path().join("db"), NodeConfig::default()).unwrap());
        let settings = Settings {
            moniker: format!("validator-{i}"),
            listen: member.listen.clone(),
            peers,
            wal: member.dir.path().join("consensus.wal"),
            pace: pace(),
        };
        member.running = Some(consensus::start(Arc::clone(&node), Some(member.key.clone()), settings).await.unwrap());
        member.node = Some(node);
    }

    /// A chain of validators of these powers, all started, that has decided `height`.
    async fn started(powers: &[u64], height: u64) -> Self {
        let mut net = Net::new(powers).await;
        for i in 0..powers.len() {
            net.start(i).await;
        }
        net.await_height(height, Duration::from_secs(60)).await;
        net
    }

    /// Stops member `i` as a crash would: its actors and node go, its directory stays.
    async fn crash(&mut self, i: usize) {
        let member = &mut self.members[i];
        if let Some(running) = member.running.take() {
            running.stop().await;
        }
        member.node = None;
    }

    /// Cuts every wire between members of different groups.
    fn partition(&self, groups: &[&[usize]]) {
        let group = |i: usize| groups.iter().position(|g| g.contains(&i)).expect("every member in a group");
        for (&(from, to), wire) in &self.wires {
            if group(from) != group(to) {
                wire.cut();
            }
        }
    }

    /// Joins every wire again.
    fn heal(&self) {
        self.wires.values().for_each(Wire::join);
    }

    fn node(&self, i: usize) -> &Node {
        self.members[i].node.as_deref().unwrap()
    }

    fn height(&self, i: usize) -> u64 {
        self.node(i).query().status().counts.height
    }

    fn running(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.members.len()).filter(|&i| self.members[i].node.is_some())
    }

    /// Waits until every running member has committed `height`; panics after `limit`.
    async fn await_height(&self, height: u64, limit: Duration) {
        let start = Instant::now();
        while self.running().any(|i| self.height(i) < height) {
            let heights: Vec<_> = self.running().map(|i| self.height(i)).collect();
            assert!(start.elapsed() < limit, "height {height} not reached within {limit:?}: {heights:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Asserts that no running member decides for 5 s, after 2 s in which a block already
    /// decided may still commit on a straggler; answers the highest tip they stalled at.
    async fn assert_stalled(&self) -> u64 {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let heights = || self.running().map(|i| self.height(i)).collect::<Vec<_>>();
        let stalled = heights();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(heights(), stalled, "decided without two thirds of the power");
        stalled.into_iter().max().unwrap()
    }

    /// Waits until every running member has decided `blocks` more than member `i` holds now.
    async fn await_more(&self, i: usize, blocks: u64, limit: Duration) {
        self.await_height(self.height(i) + blocks, limit).await;
    }

    /// The block CIDs of heights `1..=height` on member `i`.
    fn chain(&self, i: usize, height: u64) -> Vec<String> {
        (1..=height).map(|h| self.node(i).query().header(h).unwrap().unwrap().cid().to_string()).collect()
    }

    /// Every running member holds the same blocks up to the lowest tip among them, each with
    /// a commit certificate, and its whole chain verifies.
    fn assert_one_chain(&self) {
        let low = self.running().map(|i| self.height(i)).min().unwrap();
        let reference = self.chain(self.running().next().unwrap(), low);
        for i in self.running() {
            assert_eq!(self.chain(i, low), reference, "member {i} forked");
            for h in 1..=low {
                assert!(self.node(i).query().certificate(h).unwrap().is_some(), "no certificate at {h}");
            }
            engine::audit::verify_chain(self.node(i).query().store()).unwrap();
        }
    }

    /// A signed transaction of the test neuron linking `from → to` (particle numbers).
    fn link(&self, nonce: u64, from: u32, to: u32) -> engine::SignedTx {
        let particle = |n: u32| Particle::of_content(format!("particle {n}").as_bytes());
        Transaction::new("it-bft", &self.neuron, nonce, &[(particle(from), particle(to))]).sign(&self.neuron)
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap()
}
