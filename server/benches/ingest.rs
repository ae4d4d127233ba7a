//! Ingestion throughput and storage cost.
//!
//! Measures signed links accepted per second (acknowledged = durable in the synced WAL) through
//! the engine API and through the HTTP endpoint of a real `cybergraph serve` process, with 1 and
//! 100 links per transaction, then the bytes on disk per link after a full compaction.
//!
//! Data: links between particles drawn from a pool of 100,000 (seeded, so particles repeat as
//! in a real graph), made by 8 neurons, signed before the clock starts.
//!
//! Run: `cargo bench -p server --bench ingest` (`INGEST_LINKS=N` to change the volume).

use std::{
    net::TcpListener,
    path::Path,
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use engine::{Genesis, NeuronKey, Node, NodeConfig, SignedTx};

mod workload;

use workload::Workload;

const NEURONS: usize = 8;
const CLIENT_THREADS: usize = 8;

fn genesis(work: &Workload) -> Genesis {
    let addresses: Vec<_> = work.keys.iter().map(NeuronKey::address).collect();
    let mut genesis = Genesis::development(&addresses, 0);
    genesis.chain_id = "bench".into();
    genesis.params.links_per_block_per_stake = 1_000_000;
    genesis
}

fn links_of(lanes: &[Vec<SignedTx>], per_tx: usize) -> usize {
    lanes.iter().map(Vec::len).sum::<usize>() * per_tx
}

/// Submits every lane from its own thread (nonces stay in order per neuron); returns seconds.
fn run_lanes(lanes: Vec<Vec<SignedTx>>, submit: impl Fn(SignedTx) + Send + Sync + 'static) -> f64 {
    let submit = Arc::new(submit);
    let start = Instant::now();
    let threads: Vec<_> = lanes
        .into_iter()
        .map(|lane| {
            let submit = Arc::clone(&submit);
            std::thread::spawn(move || lane.into_iter().for_each(|tx| submit(tx)))
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    start.elapsed().as_secs_f64()
}

fn engine_api(work: &mut Workload, links: usize, per_tx: usize) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    Node::init(dir.path(), &genesis(work)).unwrap();
    let node = Arc::new(Node::open(dir.path(), NodeConfig::default()).unwrap());
    let lanes = work.sign(links / per_tx / NEURONS, per_tx);
    let total = links_of(&lanes, per_tx);
    let producer = {
        let node = Arc::clone(&node);
        std::thread::spawn(move || {
            while Arc::strong_count(&node) > 2 {
                node.produce_block(0).unwrap();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let worker = Arc::clone(&node);
    let secs = run_lanes(lanes, move |tx| {
        worker.submit(tx).unwrap();
    });
    drop(producer);
    total as f64 / secs
}

fn http(work: &mut Workload, links: usize, per_tx: usize, data: &Path) -> f64 {
    // The data directory's database lives in db/ (server/src/data_dir.rs).
    Node::init(&data.join("db"), &genesis(work)).unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cybergraph"))
        .args(["serve", "--data", data.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while ureq::get(&format!("{url}/healthz")).call().is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let lanes = work.sign(links / per_tx / NEURONS, per_tx);
    let total = links_of(&lanes, per_tx);
    let endpoint = format!("{url}/tx");
    let secs = run_lanes(lanes, move |tx| {
        let body = serde_json::json!({ "tx": STANDARD.encode(&tx.bytes), "signature": STANDARD.encode(tx.signature) });
        ureq::post(&endpoint).send_json(body).expect("accepted");
    });
    // Let the node commit what it acknowledged, then stop it gracefully.
    loop {
        let status: serde_json::Value = ureq::get(&format!("{url}/status")).call().unwrap().into_json().unwrap();
        if status["mempool"] == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    total as f64 / secs
}

fn bytes_per_link(data: &Path) -> (f64, u64) {
    let db = data.join("db");
    let bytes = engine::store::compact(&db).unwrap();
    let links = engine::chain_state(&engine::store::open_read_only(&db).unwrap()).unwrap().counts().links;
    (bytes as f64 / links as f64, links)
}

fn main() {
    let links: usize = std::env::var("INGEST_LINKS").ok().and_then(|v| v.parse().ok()).unwrap_or(400_000);
    let mut work = Workload::new("bench", NEURONS);
    println!(
        "ingest bench: {links} links (batches of 100), {} (batches of 1), {NEURONS} neurons, {CLIENT_THREADS} client threads",
        links / 20
    );
    for (per_tx, volume) in [(1, links / 20), (100, links)] {
        let api = engine_api(&mut work, volume, per_tx);
        println!("engine API  {per_tx:>3} links/tx: {api:>10.0} links/s accepted");
    }
    let root = tempfile::tempdir().unwrap();
    for (per_tx, volume) in [(1, links / 20), (100, links)] {
        let data = root.path().join(format!("http-{per_tx}"));
        let rate = http(&mut work, volume, per_tx, &data);
        println!("HTTP        {per_tx:>3} links/tx: {rate:>10.0} links/s accepted");
        if per_tx == 100 {
            let (bytes, stored) = bytes_per_link(&data);
            println!("disk after compaction: {bytes:.1} bytes/link over {stored} links");
        }
    }
}
