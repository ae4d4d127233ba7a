//! Tests against the real `cybergraph` binary: real processes, real sockets, real kill -9.

mod compile;
mod crash;
mod gpu;
mod graphql;
mod hostile;
mod http;
mod import;
mod sprint;
mod testnet;

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use engine::{Genesis, NeuronKey, Particle, SignedTx, Transaction};
use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_cybergraph");

/// Deterministic test keys.
pub(crate) fn key(i: u8) -> NeuronKey {
    NeuronKey::from_secret([i + 1; 32])
}

pub(crate) fn particle(text: &str) -> Particle {
    Particle::of_content(text.as_bytes())
}

/// Initialises `data` with a chain funding `key(0..neurons)` with stake 1000.
pub(crate) fn init_chain(data: &Path, neurons: u8) {
    let addresses: Vec<_> = (0..neurons).map(|i| key(i).address()).collect();
    let mut genesis = Genesis::development(&addresses, 0);
    genesis.chain_id = "it-chain".into();
    let file = data.with_extension("genesis.json");
    std::fs::write(&file, serde_json::to_string(&genesis).unwrap()).unwrap();
    run_cli(&["init", "--data", data.to_str().unwrap(), "--genesis", file.to_str().unwrap()]);
}

/// Runs a CLI command to success and returns its stdout.
pub(crate) fn run_cli(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(out.status.success(), "cybergraph {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A node process serving on a loopback port.
pub(crate) struct NodeProcess {
    child: Child,
    pub(crate) url: String,
}

impl NodeProcess {
    pub(crate) fn start(data: &Path, block_interval_ms: u64) -> Self {
        Self::start_with(data, block_interval_ms, &[])
    }

    pub(crate) fn start_with(data: &Path, block_interval_ms: u64, extra: &[&str]) -> Self {
        Self::start_on(free_port(), data, block_interval_ms, extra)
    }

    /// A node serving HTTP on a given loopback port (one its peers already know).
    pub(crate) fn start_on(port: u16, data: &Path, block_interval_ms: u64, extra: &[&str]) -> Self {
        let child = Command::new(BIN)
            .args(["serve", "--data", data.to_str().unwrap(), "--listen", &format!("127.0.0.1:{port}")])
            .args(["--block-interval-ms", &block_interval_ms.to_string()])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let node = NodeProcess { child, url: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while ureq::get(&format!("{}/healthz", node.url)).call().is_err() {
            assert!(Instant::now() < deadline, "the node did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        node
    }

    /// SIGKILL: no shutdown path runs.
    pub(crate) fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, then wait for a clean exit.
    pub(crate) fn stop(mut self) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        assert!(self.child.wait().unwrap().success(), "the node exits cleanly on SIGTERM");
    }

    /// A GraphQL query's whole answer (`data` and any `errors`).
    pub(crate) fn graphql(&self, query: &str) -> Value {
        post_json(&format!("{}/graphql", self.url), &serde_json::json!({ "query": query }).to_string()).unwrap()
    }

    pub(crate) fn get(&self, path: &str) -> Value {
        get_json(&format!("{}{path}", self.url)).unwrap()
    }

    /// Polls until `done(status)` or a deadline.
    pub(crate) fn wait_for(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let status = self.get("/status");
            if done(&status) {
                return status;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {status}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET returning the JSON body, or `(status, body)` for an error status.
pub(crate) fn get_json(url: &str) -> Result<Value, (u16, Value)> {
    answer(ureq::get(url).call())
}

/// POST a JSON body.
pub(crate) fn post_json(url: &str, body: &str) -> Result<Value, (u16, Value)> {
    answer(ureq::post(url).set("content-type", "application/json").send_string(body))
}

/// `POST /tx`'s JSON body for a signed transaction.
pub(crate) fn tx_body(signed: &SignedTx) -> Value {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    serde_json::json!({ "tx": STANDARD.encode(&signed.bytes), "signature": STANDARD.encode(signed.signature) })
}

pub(crate) fn submit(url: &str, signed: &SignedTx) -> Result<Value, (u16, Value)> {
    post_json(&format!("{url}/tx"), &tx_body(signed).to_string())
}

fn answer(result: Result<ureq::Response, ureq::Error>) -> Result<Value, (u16, Value)> {
    match result {
        Ok(response) => Ok(response.into_json().unwrap()),
        Err(ureq::Error::Status(code, response)) => Err((code, response.into_json().unwrap_or(Value::Null))),
        Err(other) => Err((0, Value::String(other.to_string()))),
    }
}

pub(crate) fn sign(neuron: u8, nonce: u64, links: &[(&str, &str)]) -> SignedTx {
    let links: Vec<_> = links.iter().map(|(a, b)| (particle(a), particle(b))).collect();
    Transaction::new("it-chain", &key(neuron), nonce, &links).sign(&key(neuron))
}

pub(crate) fn data_dir(root: &tempfile::TempDir) -> PathBuf {
    root.path().join("data")
}

/// One client neuron posting transactions of 3 fresh links until told to stop or the node dies.
pub(crate) fn post_until_killed(url: String, neuron: u8, stop: Arc<AtomicBool>, acked: Arc<Mutex<Vec<String>>>) {
    let Ok(info) = get_json(&format!("{url}/neuron/{}", key(neuron).address())) else {
        return;
    };
    let mut nonce = info["next_nonce"].as_u64().unwrap();
    while !stop.load(Ordering::Relaxed) {
        let tag = format!("{neuron}-{nonce}");
        let links = [
            (format!("{tag}-a"), format!("{tag}-b")),
            (format!("{tag}-b"), format!("{tag}-c")),
            (format!("{tag}-c"), "hub".to_owned()),
        ];
        let links: Vec<(&str, &str)> = links.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        match submit(&url, &sign(neuron, nonce, &links)) {
            Ok(receipt) => {
                acked.lock().unwrap().push(receipt["cid"].as_str().unwrap().to_owned());
                nonce += 1;
            }
            Err((0, _)) => return, // the node is gone
            Err((status, body)) => panic!("unexpected rejection {status}: {body}"),
        }
    }
}
