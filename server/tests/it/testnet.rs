//! Several validator processes deciding one chain (`serve --validator`): transactions reach
//! every node through the relay, a `kill -9` mid-ingest loses nothing acknowledged, and every
//! data directory verifies with the same blocks.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use ::sprint::schedule::Schedule;
use engine::{Genesis, GenesisValidator, SprintParams, voting::POWER_SCALE};

use crate::*;

/// Validators' keys are `key(10 + i)`; the client neuron is `key(0)`.
fn validator_key(i: usize) -> NeuronKey {
    key(10 + i as u8)
}

/// A validator's data directory, key file, ports and its own `serve` flags.
struct Member {
    data: PathBuf,
    key: PathBuf,
    http: u16,
    p2p: u16,
    extra: Vec<String>,
}

/// Validator processes with the given powers on one genesis.
struct Testnet {
    members: Vec<Member>,
    running: Vec<Option<NodeProcess>>,
}

impl Testnet {
    fn start(root: &Path, powers: &[u64]) -> Testnet {
        Self::start_with(root, powers, None, |_| Vec::new())
    }

    /// With Sprint on chain when `sprint` is set, and member `i` served with `extra(i)`.
    fn start_with(
        root: &Path,
        powers: &[u64],
        sprint: Option<SprintParams>,
        extra: impl Fn(usize) -> Vec<String>,
    ) -> Testnet {
        let mut genesis = Genesis::development(&[key(0).address()], 0);
        genesis.chain_id = "it-chain".into();
        genesis.validators = (0..powers.len())
            .map(|i| GenesisValidator { address: validator_key(i).address(), power: powers[i] })
            .collect();
        genesis.sprint = sprint;
        let file = root.join("genesis.json");
        std::fs::write(&file, serde_json::to_string(&genesis).unwrap()).unwrap();
        let members: Vec<Member> = (0..powers.len())
            .map(|i| {
                let data = root.join(format!("node-{i}"));
                run_cli(&["init", "--data", data.to_str().unwrap(), "--genesis", file.to_str().unwrap()]);
                let key = root.join(format!("validator-{i}.key"));
                validator_key(i).write(&key).unwrap();
                Member { data, key, http: free_port(), p2p: free_port(), extra: extra(i) }
            })
            .collect();
        let mut net = Testnet { running: members.iter().map(|_| None).collect(), members };
        for i in 0..powers.len() {
            net.run(i);
        }
        net
    }

    /// Starts member `i` with every other member as a consensus peer and a relay target.
    fn run(&mut self, i: usize) {
        let me = &self.members[i];
        let others = || self.members.iter().enumerate().filter(move |(j, _)| *j != i).map(|(_, m)| m);
        let peers: Vec<String> = others().map(|m| format!("127.0.0.1:{}", m.p2p)).collect();
        let apis: Vec<String> = others().map(|m| format!("http://127.0.0.1:{}", m.http)).collect();
        let p2p = format!("127.0.0.1:{}", me.p2p);
        let (peers, apis) = (peers.join(","), apis.join(","));
        let args = ["--validator", "--key", me.key.to_str().unwrap(), "--p2p-listen", &p2p, "--peers", &peers];
        let own: Vec<&str> = me.extra.iter().map(String::as_str).collect();
        let args = [&args[..], &["--tx-peers", &apis], &own].concat();
        self.running[i] = Some(NodeProcess::start_on(me.http, &me.data, 200, &args));
    }

    fn node(&self, i: usize) -> &NodeProcess {
        self.running[i].as_ref().expect("a running member")
    }

    fn kill9(&mut self, i: usize) {
        self.running[i].take().expect("a running member").kill9();
    }

    /// Polls every running member until `done` holds for each.
    fn await_all(&self, what: &str, done: impl Fn(&NodeProcess) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        for node in self.running.iter().flatten() {
            while !done(node) {
                assert!(Instant::now() < deadline, "timed out waiting for {what} on {}", node.url);
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[test]
fn validators_keep_every_acknowledged_transaction_through_kill_9() {
    let root = tempfile::tempdir().unwrap();
    let mut net = Testnet::start(root.path(), &[35, 25, 25, 15]);
    net.await_all("the first decided blocks", |node| node.get("/status")["height"].as_u64() >= Some(2));

    // A client posts to the 15; the process is killed while the client is still posting.
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let (url, stop, acked) = (net.node(3).url.clone(), Arc::clone(&stop), Arc::clone(&acked));
        std::thread::spawn(move || post_until_killed(url, 0, stop, acked))
    };
    std::thread::sleep(Duration::from_millis(1500));
    net.kill9(3);
    stop.store(true, Ordering::Relaxed);
    client.join().unwrap();
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 5, "too few acknowledgements to test anything: {}", acked.len());

    // The other three (85 of 100) keep deciding; the restarted node replays, catches up, and
    // every acknowledged transaction commits everywhere.
    net.run(3);
    let committed =
        |node: &NodeProcess| acked.iter().all(|cid| node.get(&format!("/tx/{cid}"))["status"] == "committed");
    net.await_all("every acknowledged transaction to commit", committed);
    assert_eq!(acked.iter().collect::<HashSet<_>>().len(), acked.len(), "a CID was acknowledged twice");

    // One chain: the same header at every height each member has.
    let heights: Vec<u64> = (0..4).map(|i| net.node(i).get("/status")["height"].as_u64().unwrap()).collect();
    for height in 1..=*heights.iter().min().unwrap() {
        let first = net.node(0).get(&format!("/block/{height}"));
        for i in 1..4 {
            assert_eq!(net.node(i).get(&format!("/block/{height}")), first, "member {i} differs at {height}");
        }
    }
    // Auditors see the validators and, for every decided block, the precommits that decided it.
    let query = r#"{ nodeInfo { validators { address power } } block(height: 2) { certificate { round power totalPower signers { address power } } } }"#;
    let answer = net.node(1).graphql(query);
    let validators = answer["data"]["nodeInfo"]["validators"].as_array().unwrap();
    let mut powers: Vec<u64> = validators.iter().map(|v| v["power"].as_u64().unwrap()).collect();
    powers.sort_unstable();
    assert_eq!(powers, [15, 25, 25, 35], "{answer}");
    let certificate = &answer["data"]["block"]["certificate"];
    let (power, total) = (certificate["power"].as_u64().unwrap(), certificate["totalPower"].as_u64().unwrap());
    assert_eq!(total, 100, "{answer}");
    assert!(3 * power > 2 * total, "a certificate carries more than 2/3 of the power: {answer}");
    let signed: u64 = certificate["signers"].as_array().unwrap().iter().map(|s| s["power"].as_u64().unwrap()).sum();
    assert_eq!(signed, power);

    for i in 0..4 {
        net.running[i].take().unwrap().stop();
        let data = net.members[i].data.to_str().unwrap().to_owned();
        let report: Value = serde_json::from_str(&run_cli(&["verify", "--data", &data])).unwrap();
        assert!(report["txs"].as_u64().unwrap() >= acked.len() as u64, "member {i}: {report}");
    }
}

/// A node that follows the chain (`serve --follow`): no key, no vote; it takes the decided
/// blocks from the validators, holds the same chain, and relays its own clients' transactions
/// to them.
#[test]
fn a_follower_holds_the_validators_chain_and_relays_its_clients_transactions() {
    let root = tempfile::tempdir().unwrap();
    let net = Testnet::start(root.path(), &[35, 25, 25, 15]);
    net.await_all("the first decided blocks", |node| node.get("/status")["height"].as_u64() >= Some(2));

    let data = root.path().join("follower");
    let genesis = root.path().join("genesis.json");
    run_cli(&["init", "--data", data.to_str().unwrap(), "--genesis", genesis.to_str().unwrap()]);
    let peers: Vec<String> = net.members.iter().map(|m| format!("127.0.0.1:{}", m.p2p)).collect();
    let apis: Vec<String> = net.members.iter().map(|m| format!("http://127.0.0.1:{}", m.http)).collect();
    let p2p = format!("127.0.0.1:{}", free_port());
    let (peers, apis) = (peers.join(","), apis.join(","));
    let follower = NodeProcess::start_with(
        &data,
        200,
        &["--follow", "--p2p-listen", &p2p, "--peers", &peers, "--tx-peers", &apis],
    );

    // A client of the follower: admitted there, relayed, decided by the validators, and the
    // follower holds the block that carries it.
    let cid =
        submit(&follower.url, &sign(0, 1, &[("followed", "decided")])).unwrap()["cid"].as_str().unwrap().to_owned();
    let committed = |node: &NodeProcess| node.get(&format!("/tx/{cid}"))["status"] == "committed";
    net.await_all("the follower's client transaction to commit", committed);
    let tip = net.node(0).get("/status")["height"].as_u64().unwrap();
    follower.wait_for("the validators' tip", |status| status["height"].as_u64() >= Some(tip));
    assert!(committed(&follower));
    for height in 1..=tip {
        let path = format!("/block/{height}");
        assert_eq!(follower.get(&path), net.node(0).get(&path), "the follower differs at {height}");
    }
    // Blocks decided in consensus take their turn in the device pool, as a lone producer's do.
    let metrics = ureq::get(&format!("{}/metrics", follower.url)).call().unwrap().into_string().unwrap();
    let focus = r#"cybergraph_pool_units_total{class="focus"} "#;
    let units: f64 = metrics.lines().find_map(|l| l.strip_prefix(focus)).unwrap().parse().unwrap();
    assert!(units >= tip as f64 - 1.0, "{units} commit turns for {tip} blocks");
    follower.stop();
    let report: Value = serde_json::from_str(&run_cli(&["verify", "--data", data.to_str().unwrap()])).unwrap();
    assert!(report["txs"].as_u64().unwrap() >= 1, "{report}");
}

/// Sprint through `serve` on a chain whose genesis sets it: every validator commits to a seed
/// share and reveals it, the two members started with `--sprint` prove over the generate stage
/// and submit, every validator recomputes its sample of each proof and votes, and from the next
/// period on the provers alone hold the power, in proportion to their hits, and decide.
#[test]
fn members_that_prove_hold_the_power_from_the_next_sprint() {
    // Sprint 0: commit at heights 0–2 (blocks 1–2 carry commitments), reveal 3–5, generate
    // 6–21, submit 22–29, validate 30–35, apply 36; Sprint 1 (the provers' set) from height 40.
    // Proving runs at the lowest priority on a machine these nodes share with other tests, so
    // the stages leave it room, and a prover that found nothing in time is allowed for below.
    let schedule = Schedule::new(40, 3, 3, 16, 8, 6).unwrap();
    let params = SprintParams { profile: "tiny".into(), schedule, sample: 32 };
    let (powers_at_genesis, provers) = ([35, 25, 25, 15], [0, 1]);
    let root = tempfile::tempdir().unwrap();
    let sprint_flags = |i| match provers.contains(&i) {
        true => vec!["--sprint".to_owned(), "tiny".to_owned()],
        false => Vec::new(),
    };
    let net = Testnet::start_with(root.path(), &powers_at_genesis, Some(params), sprint_flags);
    net.await_all("Sprint 1's third block", |node| node.get("/status")["height"].as_u64() >= Some(42));

    let query = r#"{ nodeInfo { validators { address power } } block(height: 42) { certificate { totalPower signers { address } } } }"#;
    let answer = net.node(2).graphql(query);
    let validators = answer["data"]["nodeInfo"]["validators"].as_array().unwrap();
    let mut powers: Vec<(String, u64)> =
        validators.iter().map(|v| (v["address"].as_str().unwrap().to_owned(), v["power"].as_u64().unwrap())).collect();
    powers.sort();
    let prover_addresses: Vec<String> = provers.iter().map(|&i| validator_key(i).address().to_string()).collect();
    assert!(!powers.is_empty(), "{answer}");
    assert!(
        powers.iter().all(|(address, power)| prover_addresses.contains(address) && *power > 0),
        "the provers alone hold power: {answer}"
    );
    let total: u64 = powers.iter().map(|(_, power)| power).sum();
    assert!(total <= POWER_SCALE && total + 2 >= POWER_SCALE, "powers are normalised to the scale: {answer}");
    let certificate = &answer["data"]["block"]["certificate"];
    assert_eq!(certificate["totalPower"].as_u64(), Some(total), "{answer}");
    let signers = certificate["signers"].as_array().unwrap();
    assert!(signers.iter().all(|s| powers.iter().any(|(a, _)| a == s["address"].as_str().unwrap())), "{answer}");

    // The ledger as the votes closed (height 35): proofs by provers only, none voted invalid;
    // those that validators holding more than half of the genesis power voted valid are
    // accepted, and the powers in force are their hits normalised.
    let mut net = net;
    for i in 0..4 {
        net.running[i].take().unwrap().stop();
    }
    let node = engine::Node::open(&net.members[2].data.join("db"), engine::NodeConfig::default()).unwrap();
    let header = node.query().header(35).unwrap().unwrap();
    let ledger = node.query().store().sprint_ledger(&header.sprint.unwrap()).unwrap().unwrap();
    let power_of = |voter: &engine::Address| {
        (0..4).find(|&i| validator_key(i).address() == *voter).map_or(0, |i| powers_at_genesis[i])
    };
    let mut accepted = Vec::new();
    for entry in &ledger.proofs {
        assert!(prover_addresses.contains(&entry.prover.to_string()), "{entry:?}");
        assert!(entry.invalid.is_empty(), "an honest proof voted invalid: {entry:?}");
        if 2 * entry.valid.iter().map(power_of).sum::<u64>() > powers_at_genesis.iter().sum::<u64>() {
            accepted.push((entry.prover, entry.hits));
        }
    }
    assert_eq!(ledger.next_validators, Some(engine::voting::normalise(&accepted)), "{ledger:?}");
    let mut in_force: Vec<(String, u64)> =
        ledger.next_validators.unwrap().iter().map(|v| (v.address.to_string(), v.power)).collect();
    in_force.sort();
    assert_eq!(in_force, powers);
}

#[test]
fn a_client_transaction_is_relayed_once_and_a_relayed_one_is_not_forwarded() {
    let root = tempfile::tempdir().unwrap();
    let (a_data, b_data) = (root.path().join("a"), root.path().join("b"));
    init_chain(&a_data, 2);
    init_chain(&b_data, 2);
    let (a_port, b_port) = (free_port(), free_port());
    let url = |port: u16| format!("http://127.0.0.1:{port}");
    let a = NodeProcess::start_on(a_port, &a_data, 50, &["--tx-peers", &url(b_port)]);
    let b = NodeProcess::start_on(b_port, &b_data, 50, &["--tx-peers", &url(a_port)]);
    let known_at_b = |cid: &str| b.get(&format!("/tx/{cid}"))["status"] != "unknown";
    let await_at_b = |cid: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !known_at_b(cid) {
            assert!(Instant::now() < deadline, "{cid} never reached the peer");
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    let first = submit(&a.url, &sign(0, 1, &[("r1", "r2")])).unwrap();
    await_at_b(first["cid"].as_str().unwrap());

    // Marked as relayed: admitted at A, not forwarded. A later client transaction does reach
    // B, and the relay keeps admission order, so the marked one would have arrived first.
    let marked = sign(1, 1, &[("r3", "r4")]);
    let response =
        ureq::post(&format!("{}/tx", a.url)).set("x-cybergraph-relayed", "1").send_json(tx_body(&marked)).unwrap();
    let marked_cid = response.into_json::<Value>().unwrap()["cid"].as_str().unwrap().to_owned();
    let later = submit(&a.url, &sign(0, 2, &[("r5", "r6")])).unwrap();
    await_at_b(later["cid"].as_str().unwrap());
    assert!(!known_at_b(&marked_cid), "a relayed transaction was forwarded again");
}
