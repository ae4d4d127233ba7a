//! A write soak: resident memory and latency of a real node under steady writes, minute by
//! minute. Memory must level off once RocksDB's memtables and block cache reach their budget
//! (`db_write_buffer_mb`, `db_block_cache_mb`).
//!
//! Load, from one client on loopback, paced to a fixed rate: `SOAK_TX_RATE` signed
//! transactions per second (one link each, from 100 neurons in turn with consecutive nonces,
//! between particles of a pool of 10,000, so the state grows by links only) and
//! `SOAK_POST_RATE` content posts per second of 1 KiB each (writes that grow only the store). Each minute prints the
//! node's RSS (`/proc/PID/status`), the requests made, and their p50/p99 latency.
//!
//! Run: `SOAK_MINUTES=10 cargo bench -p server --bench soak` (defaults: 10 minutes, 100 tx/s,
//! 200 posts/s).

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use engine::{NeuronKey, Particle, Transaction};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `(RSS, of which anonymous, of which file-backed)` in MiB, from `/proc/PID/status`.
fn rss_mib(pid: u32) -> (f64, f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|kib| kib.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("RssAnon:"), field("RssFile:"))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3
}

fn main() {
    let (minutes, tx_rate, post_rate) = (env("SOAK_MINUTES", 10), env("SOAK_TX_RATE", 100), env("SOAK_POST_RATE", 200));
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cybergraph"))
        .args(["serve", "--data", data.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
        .args(["--rate-limit", "1000000"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while ureq::get(&format!("{url}/healthz")).call().is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let chain: serde_json::Value = ureq::get(&format!("{url}/status")).call().unwrap().into_json().unwrap();
    let chain_id = chain["chain_id"].as_str().unwrap().to_owned();
    println!(
        "soak: {minutes} min, {tx_rate} tx/s (1 link) + {post_rate} posts/s (1 KiB), one client on loopback, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("minute  rss_mib  anon_mib  file_mib  requests  p50_ms  p99_ms  errors");
    let (rss, anon, file) = rss_mib(child.id());
    println!("0       {rss:7.1}  {anon:8.1}  {file:8.1}");
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
    let per_second = tx_rate + post_rate;
    let interval = Duration::from_secs_f64(1.0 / per_second.max(1) as f64);
    let start = Instant::now();
    const NEURONS: u64 = 100;
    let keys: Vec<NeuronKey> = (0..NEURONS)
        .map(|i| {
            let mut secret = [0x5a; 32];
            secret[..8].copy_from_slice(&i.to_le_bytes());
            NeuronKey::from_secret(secret)
        })
        .collect();
    let (mut sent, mut txs) = (0u64, 0u64);
    for minute in 1..=minutes {
        let (mut latencies, mut errors) = (Vec::new(), 0u64);
        let end = start + Duration::from_secs(60 * minute);
        while Instant::now() < end {
            // Paced: request k leaves at start + k·interval (no catching up in bursts).
            let due = start + interval.mul_f64(sent as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            sent += 1;
            let began = Instant::now();
            let result = if sent % per_second < tx_rate {
                let (key, nonce) = (&keys[(txs % NEURONS) as usize], txs / NEURONS + 1);
                txs += 1;
                let pick = |k: u64| Particle::of_content(format!("soak particle {}", k % 10_000).as_bytes());
                let link = (pick(txs * 7919), pick(txs * 104_729 + 1));
                let signed = Transaction::new(&chain_id, key, nonce, &[link]).sign(key);
                let body = serde_json::json!({
                    "tx": STANDARD.encode(&signed.bytes),
                    "signature": STANDARD.encode(signed.signature),
                });
                agent.post(&format!("{url}/tx")).send_json(body).map(|_| ())
            } else {
                let content = format!("soak content {sent} {}", "x".repeat(1000));
                agent.post(&format!("{url}/particle")).send_string(&content).map(|_| ())
            };
            latencies.push(began.elapsed());
            errors += u64::from(result.is_err());
        }
        latencies.sort_unstable();
        let (rss, anon, file) = rss_mib(child.id());
        println!(
            "{minute:<7} {rss:7.1}  {anon:8.1}  {file:8.1}  {:8}  {:6.2}  {:6.2}  {errors}",
            latencies.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );
    }
    let status: serde_json::Value = ureq::get(&format!("{url}/status")).call().unwrap().into_json().unwrap();
    println!("end: height {} links {} particles {}", status["height"], status["links"], status["particles"]);
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
}
