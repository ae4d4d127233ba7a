//! Writes pre-signed `submitTransaction` GraphQL bodies, one JSON per line, for the load test
//! in `scripts/bench-graphql` (wrk cannot sign). Transaction `i` is neuron `i`'s first, with one
//! link between two fresh particles, so every body is valid once, in any order.
//!
//! Run: `TXS_OUT=FILE TXS_COUNT=N [TXS_START=K] [TXS_CHAIN=ID] cargo bench -p server --bench sign_txs`
//! (neurons `K..K+N`: a later run with another `K` gets fresh transactions).

use std::io::Write;

use base64::{Engine as _, engine::general_purpose::STANDARD};
use engine::{NeuronKey, Particle, Transaction};

fn main() {
    let out = std::env::var("TXS_OUT").expect("TXS_OUT names the output file");
    let count: u64 = std::env::var("TXS_COUNT").ok().and_then(|c| c.parse().ok()).unwrap_or(50_000);
    let start: u64 = std::env::var("TXS_START").ok().and_then(|c| c.parse().ok()).unwrap_or(0);
    let chain = std::env::var("TXS_CHAIN").unwrap_or_else(|_| "cybergraph-dev".into());
    let mut file = std::io::BufWriter::new(std::fs::File::create(&out).unwrap());
    for i in start..start + count {
        let mut secret = [0u8; 32];
        secret[..8].copy_from_slice(&i.to_le_bytes());
        secret[8] = 0xb7;
        let key = NeuronKey::from_secret(secret);
        let link = (
            Particle::of_content(format!("load {i} from").as_bytes()),
            Particle::of_content(format!("load {i} to").as_bytes()),
        );
        let signed = Transaction::new(&chain, &key, 1, &[link]).sign(&key);
        let query = "mutation($t: String!, $s: String!) { submitTransaction(tx: $t, signature: $s) { cid } }";
        let body = serde_json::json!({
            "query": query,
            "variables": { "t": STANDARD.encode(&signed.bytes), "s": STANDARD.encode(signed.signature) },
        });
        writeln!(file, "{body}").unwrap();
    }
    file.flush().unwrap();
    println!("wrote {count} signed transactions to {out}");
}
