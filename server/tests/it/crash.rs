//! kill -9 at random moments while clients post: nothing acknowledged is lost, nothing is
//! duplicated, and the chain verifies.

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use crate::*;

/// Rounds of start → post → SIGKILL. Set `CRASH_ROUNDS` for a longer soak.
fn rounds() -> usize {
    std::env::var("CRASH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20)
}

/// A small xorshift: reproducible kill moments without a dependency.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo)
    }
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    init_chain(&data, 2);
    let acked = Arc::new(Mutex::new(Vec::new()));
    let mut moments = Moments(0x9e37_79b9_7f4a_7c15);
    for _ in 0..rounds() {
        let node = NodeProcess::start(&data, 30);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..2)
            .map(|neuron| {
                let (url, stop, acked) = (node.url.clone(), Arc::clone(&stop), Arc::clone(&acked));
                std::thread::spawn(move || post_until_killed(url, neuron, stop, acked))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(moments.next_ms(50, 400)));
        node.kill9();
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.join().unwrap();
        }
    }

    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > rounds(), "the clients got too few acknowledgements to test anything");
    let node = NodeProcess::start(&data, 30);
    let status = node.wait_for("the mempool to drain", |s| s["mempool"] == 0);
    for cid in &acked {
        let tx = node.get(&format!("/tx/{cid}"));
        assert_eq!(tx["status"], "committed", "acknowledged {cid} was lost");
    }
    assert_eq!(acked.iter().collect::<HashSet<_>>().len(), acked.len(), "a CID was acknowledged twice");
    node.stop();

    let report: Value = serde_json::from_str(&run_cli(&["verify", "--data", data.to_str().unwrap()])).unwrap();
    let txs = report["txs"].as_u64().unwrap();
    // Each transaction adds 3 links, one of them to the shared "hub": no link repeats.
    assert!(txs >= acked.len() as u64, "{report}");
    assert_eq!(report["links"].as_u64().unwrap(), 3 * txs, "{report}");
    // The node may have added the block that commits the last focus since.
    assert!(report["height"].as_u64() >= status["height"].as_u64(), "{report} vs {status}");
}
