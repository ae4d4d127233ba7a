//! Consensus throughput: four validators of equal power, each a `cybergraph serve --validator`
//! process with its own data directory, on loopback.
//!
//! 1. **Empty blocks** for `TESTNET_SECONDS` (default 30): blocks per second, the gap between
//!    consecutive block times (p50/p99), and propose→committed latency (p50/p99): a block's
//!    proposer time to node 0's `blocks` subscription event, which follows the commit and the
//!    block's focus solve.
//! 2. **Under load** for as long: 8 neurons post signed 100-link transactions to the four
//!    nodes' `POST /tx` (relayed to the others) at `TESTNET_LOAD` links/s (default 6000) on a
//!    fixed schedule; links committed per second on node 0, and the same block figures.
//! 3. **Catch-up**: the chain grows to `TESTNET_CATCH_UP` blocks (default 1000); node 3 stops,
//!    gets a fresh data directory and restarts; the time until it holds the height the others
//!    had when it restarted, in blocks per second (the other three keep deciding meanwhile).
//!    `TESTNET_CATCH_UP_ROUNDS` repeats it on the same chain, node 3 a process of each binary of
//!    `TESTNET_CATCH_UP_BINS` (comma-separated; an A/B comparison alternates them) in turn, and
//!    prints each binary's median.
//!
//! Run: `cargo bench -p server --bench testnet` (`TESTNET_INTERVAL_MS`, default 200: the block
//! interval every node is started with; `TESTNET_BIN`: another `cybergraph` binary to run, e.g. a
//! baseline build for an A/B comparison; `TESTNET_LOG_DIR`: keep each node's info log there, as
//! `node-<i>.log`, appended across restarts; `TESTNET_CONFIG`: a `serve --config` file every node
//! reads, e.g. `compile_every_blocks = 0`: four nodes on two cores otherwise compile models in
//! their idle time, which moves a catch-up's rate by ±15 % from run to run).

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use engine::{Genesis, GenesisValidator, NeuronKey, Node, SignedTx};
use serde_json::{Value, json};
use tungstenite::{Message, client::IntoClientRequest};

mod workload;

use workload::Workload;

const VALIDATORS: usize = 4;
const NEURONS: usize = 8;
const LINKS_PER_TX: usize = 100;
const CHAIN_ID: &str = "bench-testnet";

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// One validator process and where it lives.
struct Validator {
    data: PathBuf,
    key: PathBuf,
    http: u16,
    p2p: u16,
    child: Option<Child>,
}

impl Validator {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    fn status(&self) -> Value {
        ureq::get(&format!("{}/status", self.url())).call().unwrap().into_json().unwrap()
    }

    fn height(&self) -> u64 {
        self.status()["height"].as_u64().unwrap()
    }

    /// Stops the process: SIGTERM, and SIGKILL if it has not ended within 10 s (said on
    /// stderr: a node that does not stop when asked is a finding, not noise).
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                eprintln!("{} did not stop within 10 s of SIGTERM; killed", self.data.display());
                child.kill().unwrap();
                child.wait().unwrap();
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Four validators of one chain.
struct Testnet {
    validators: Vec<Validator>,
    genesis: Genesis,
    interval_ms: u64,
}

impl Testnet {
    fn new(root: &Path, neurons: &[NeuronKey], interval_ms: u64) -> Self {
        let keys: Vec<NeuronKey> = (0..VALIDATORS).map(|i| NeuronKey::from_secret([100 + i as u8; 32])).collect();
        let addresses: Vec<_> = neurons.iter().map(NeuronKey::address).collect();
        let mut genesis = Genesis::development(&addresses, 1_000);
        genesis.chain_id = CHAIN_ID.into();
        genesis.params.links_per_block_per_stake = 1_000;
        genesis.validators = keys.iter().map(|k| GenesisValidator { address: k.address(), power: 1 }).collect();
        let validators = keys
            .iter()
            .enumerate()
            .map(|(i, key)| {
                let data = root.join(format!("node-{i}"));
                let path = root.join(format!("validator-{i}.key"));
                key.write(&path).unwrap();
                Validator { data, key: path, http: free_port(), p2p: free_port(), child: None }
            })
            .collect();
        let net = Testnet { validators, genesis, interval_ms };
        for i in 0..VALIDATORS {
            net.init(i);
        }
        net
    }

    /// A fresh data directory for validator `i`.
    fn init(&self, i: usize) {
        let data = &self.validators[i].data;
        if data.exists() {
            std::fs::remove_dir_all(data).unwrap();
        }
        // The data directory's database lives in db/ (server/src/data_dir.rs).
        Node::init(&data.join("db"), &self.genesis).unwrap();
    }

    fn start(&mut self, i: usize) {
        self.start_with(i, &default_binary());
    }

    /// Starts validator `i` as a process of `binary`.
    fn start_with(&mut self, i: usize, binary: &str) {
        let others = |render: &dyn Fn(&Validator) -> String| {
            self.validators.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, v)| render(v)).collect::<Vec<_>>()
        };
        let peers = others(&|v| format!("127.0.0.1:{}", v.p2p)).join(",");
        let tx_peers = others(&|v| v.url()).join(",");
        let v = &self.validators[i];
        let (log_level, log) = match std::env::var_os("TESTNET_LOG_DIR") {
            Some(dir) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(Path::new(&dir).join(format!("node-{i}.log")))
                    .unwrap();
                ("info", Stdio::from(file))
            }
            None => ("warn", Stdio::null()),
        };
        let mut command = Command::new(binary);
        command
            .args(["serve", "--data", v.data.to_str().unwrap(), "--listen", &format!("127.0.0.1:{}", v.http)])
            .args(["--block-interval-ms", &self.interval_ms.to_string(), "--validator"])
            .args(["--key", v.key.to_str().unwrap(), "--p2p-listen", &format!("127.0.0.1:{}", v.p2p)])
            .args(["--peers", &peers, "--tx-peers", &tx_peers]);
        if let Some(config) = std::env::var_os("TESTNET_CONFIG") {
            command.arg("--config").arg(config);
        }
        let child = command.env("RUST_LOG", log_level).stdout(log).stderr(Stdio::null()).spawn().unwrap();
        let url = v.url();
        self.validators[i].child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(&format!("{url}/healthz")).call().is_err() {
            assert!(Instant::now() < deadline, "validator {i} did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn await_height(&self, i: usize, height: u64, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.validators[i].height() < height {
            assert!(Instant::now() < deadline, "validator {i} did not reach height {height} within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        self.validators.iter_mut().for_each(Validator::stop);
    }
}

/// `(height, proposer time, arrival time)` of every block node 0 announces, from its
/// `blocks` subscription (graphql-transport-ws).
fn watch_blocks(url: &str, seen: Arc<Mutex<Vec<(u64, u64, u64)>>>) {
    let mut request = format!("{}/graphql/ws", url.replace("http", "ws")).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tungstenite::connect(request).unwrap();
    socket.send(Message::text(json!({"type": "connection_init"}).to_string())).unwrap();
    let subscribe =
        json!({"id": "1", "type": "subscribe", "payload": {"query": "subscription { blocks { height time } }"}});
    socket.send(Message::text(subscribe.to_string())).unwrap();
    std::thread::spawn(move || {
        while let Ok(message) = socket.read() {
            let Message::Text(text) = message else { continue };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == "next" {
                let block = &value["payload"]["data"]["blocks"];
                let entry = (block["height"].as_u64().unwrap(), block["time"].as_u64().unwrap(), unix_millis());
                seen.lock().unwrap().push(entry);
            }
        }
    });
}

/// The `cybergraph` binary every node runs: `TESTNET_BIN`, or this build's.
fn default_binary() -> String {
    std::env::var("TESTNET_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_cybergraph").to_owned())
}

fn percentile<T: Copy + Default + PartialOrd>(values: &mut [T], p: f64) -> T {
    values.sort_unstable_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    values.get(((values.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
}

/// Blocks per second, gaps and latencies of the blocks announced during a phase.
fn report(phase: &str, blocks: &[(u64, u64, u64)], seconds: f64) {
    let mut gaps: Vec<u64> = blocks.windows(2).map(|w| w[1].1.saturating_sub(w[0].1)).collect();
    let mut latency: Vec<u64> = blocks.iter().map(|&(_, time, seen)| seen.saturating_sub(time)).collect();
    println!(
        "{phase:<12} {:>5.2} blocks/s | block gap p50 {:>5} ms p99 {:>5} ms max {:>5} ms | propose→committed p50 {:>5} ms p99 {:>5} ms",
        blocks.len() as f64 / seconds,
        percentile(&mut gaps, 0.5),
        percentile(&mut gaps, 0.99),
        gaps.iter().max().copied().unwrap_or(0),
        percentile(&mut latency, 0.5),
        percentile(&mut latency, 0.99),
    );
}

/// Posts every lane to its node, together `links_per_second` (each lane its share, on a fixed
/// schedule), until `stop`; returns the links acknowledged.
fn post_lanes(
    lanes: Vec<Vec<SignedTx>>,
    urls: Vec<String>,
    links_per_second: u64,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    let every = Duration::from_secs_f64((lanes.len() * LINKS_PER_TX) as f64 / links_per_second as f64);
    std::thread::spawn(move || {
        let acknowledged = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = lanes
            .into_iter()
            .enumerate()
            .map(|(i, lane)| {
                let endpoint = format!("{}/tx", urls[i % urls.len()]);
                let (stop, acknowledged) = (Arc::clone(&stop), Arc::clone(&acknowledged));
                std::thread::spawn(move || {
                    let start = Instant::now();
                    for (k, tx) in lane.into_iter().enumerate() {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        if let Some(wait) = (start + every * k as u32).checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let body =
                            json!({ "tx": STANDARD.encode(&tx.bytes), "signature": STANDARD.encode(tx.signature) });
                        // A full mempool or a busy client slot answers 429 or 503: wait and retry.
                        while let Err(error) = ureq::post(&endpoint).send_json(body.clone()) {
                            match error {
                                ureq::Error::Status(429 | 503, _) => std::thread::sleep(Duration::from_millis(10)),
                                error => panic!("{endpoint}: {error}"),
                            }
                        }
                        acknowledged.fetch_add(LINKS_PER_TX as u64, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        acknowledged.load(Ordering::Relaxed)
    })
}

fn main() {
    let seconds = env_or("TESTNET_SECONDS", 30);
    let interval_ms = env_or("TESTNET_INTERVAL_MS", 200);
    let catch_up = env_or("TESTNET_CATCH_UP", 1_000);
    let load = env_or("TESTNET_LOAD", 6_000);
    let phase = Duration::from_secs(seconds);
    let mut work = Workload::new(CHAIN_ID, NEURONS);
    // Enough transactions for the phase at the offered load.
    let lanes = work.sign((seconds * load) as usize / LINKS_PER_TX / NEURONS + 1, LINKS_PER_TX);
    let root = tempfile::tempdir().unwrap();
    let mut net = Testnet::new(root.path(), &work.keys, interval_ms);
    for i in 0..VALIDATORS {
        net.start(i);
    }
    net.await_height(0, 2, Duration::from_secs(60));
    println!("testnet bench: {VALIDATORS} validator processes, block interval {interval_ms} ms, phases of {seconds} s");

    let seen = Arc::new(Mutex::new(Vec::new()));
    watch_blocks(&net.validators[0].url(), Arc::clone(&seen));
    std::thread::sleep(Duration::from_secs(1));
    seen.lock().unwrap().clear();
    std::thread::sleep(phase);
    report("empty", &std::mem::take(&mut *seen.lock().unwrap()), seconds as f64);

    let links_before = net.validators[0].status()["links"].as_u64().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let urls: Vec<String> = net.validators.iter().map(Validator::url).collect();
    let posting = post_lanes(lanes, urls, load, Arc::clone(&stop));
    let start = Instant::now();
    std::thread::sleep(phase);
    let links_committed = net.validators[0].status()["links"].as_u64().unwrap() - links_before;
    let elapsed = start.elapsed().as_secs_f64();
    report("under load", &std::mem::take(&mut *seen.lock().unwrap()), elapsed);
    stop.store(true, Ordering::Relaxed);
    let acknowledged = posting.join().unwrap();
    println!(
        "under load   {:>8.0} links/s committed on node 0 ({links_committed} links), {:>8.0} links/s acknowledged, {load} offered",
        links_committed as f64 / elapsed,
        acknowledged as f64 / start.elapsed().as_secs_f64(),
    );

    let start = Instant::now();
    net.await_height(0, catch_up, Duration::from_secs(catch_up * interval_ms / 1000 * 4 + 120));
    println!("grown to     {catch_up} blocks in {:.1} s more", start.elapsed().as_secs_f64());
    let binaries: Vec<String> = match std::env::var("TESTNET_CATCH_UP_BINS") {
        Ok(list) => list.split(',').map(str::to_owned).collect(),
        Err(_) => vec![default_binary()],
    };
    let rounds = env_or("TESTNET_CATCH_UP_ROUNDS", 1);
    let mut rates = vec![Vec::new(); binaries.len()];
    for _ in 0..rounds {
        for (binary, rates) in binaries.iter().zip(&mut rates) {
            rates.push(catch_up_once(&mut net, binary));
        }
    }
    if rounds > 1 {
        for (binary, mut rates) in binaries.iter().zip(rates) {
            let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
            println!(
                "catch-up     median {:.0} blocks/s of {} ({binary})",
                percentile(&mut rates, 0.5),
                shown.join(", ")
            );
        }
    }
}

/// Node 3 stops, gets a fresh data directory and restarts as a process of `binary`; the time
/// until it holds the height the others had when it restarted. Answers blocks per second.
fn catch_up_once(net: &mut Testnet, binary: &str) -> f64 {
    net.validators[3].stop();
    net.init(3);
    let target = net.validators[0].height();
    let start = Instant::now();
    net.start_with(3, binary);
    let serving = start.elapsed().as_secs_f64();
    net.await_height(3, target, Duration::from_secs(600));
    let elapsed = start.elapsed().as_secs_f64();
    let rate = target as f64 / elapsed;
    println!(
        "catch-up     {target} blocks in {elapsed:.1} s from process start ({serving:.1} s until it served): {rate:.0} blocks/s ({binary})"
    );
    rate
}
