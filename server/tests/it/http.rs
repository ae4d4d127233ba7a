//! The HTTP endpoint and the CLI against a running node.

use crate::*;

#[test]
fn a_second_shell_links_with_the_cli_and_status_shows_it() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    init_chain(&data, 1);
    let node = NodeProcess::start(&data, 100);
    let key_file = root.path().join("me.key");
    let address = run_cli(&["key", "new", "--out", key_file.to_str().unwrap()]);
    assert!(address.starts_with("neuron1"));
    let (a, b, c) = (particle("tree").to_string(), particle("oak").to_string(), particle("leaf").to_string());
    let out = run_cli(&["link", "--key", key_file.to_str().unwrap(), "--node", &node.url, &a, &b, &b, &c]);
    let receipt: Value = serde_json::from_str(out.trim()).unwrap();
    let cid = receipt["cid"].as_str().unwrap();
    node.wait_for("the block", |s| s["links"] == 2);
    assert_eq!(node.get(&format!("/tx/{cid}")), serde_json::json!({"status": "committed", "height": 1, "index": 0}));
    let status = run_cli(&["status", "--data", data.to_str().unwrap()]);
    assert!(status.contains("links      2"), "{status}");
    assert!(status.contains("particles  3"), "{status}");
    let block = node.get("/block/1");
    assert_eq!(block["txs"][0], cid);
    // Block 2 (empty) commits the focus of the state after block 1.
    node.wait_for("the focus block", |s| s["height"] == 2);
    let proof = node.get(&format!("/focus/proof/{b}?height=1"));
    assert_eq!(proof["root"], node.get("/block/2")["header"]["focus_root"]);
    let top = node.get("/focus/top/3");
    assert_eq!(top["particles"].as_array().unwrap().len(), 3);
    // Block 2's focus (carried from 1) lands right after the block itself.
    assert!(top["height"] == 1 || top["height"] == 2, "{top}");
    node.stop();
    let report: Value = serde_json::from_str(&run_cli(&["verify", "--data", data.to_str().unwrap()])).unwrap();
    assert_eq!(report, serde_json::json!({"height": 2, "txs": 1, "links": 2}));
}

#[test]
fn hostile_requests_get_their_code_and_leave_the_node_unchanged() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    init_chain(&data, 2);
    let node = NodeProcess::start(&data, 50);
    submit(&node.url, &sign(0, 1, &[("a", "b")])).unwrap();
    node.wait_for("the first block and the one committing its focus", |s| s["height"] == 2);
    let before = node.get("/status");

    let mut bad_signature = sign(0, 2, &[("c", "d")]);
    bad_signature.signature[0] ^= 1;
    let wrong_chain = Transaction::new("elsewhere", &key(0), 2, &[(particle("c"), particle("d"))]).sign(&key(0));
    let tx_cases = [
        (400, "BAD_SIGNATURE", bad_signature),
        (400, "WRONG_CHAIN", wrong_chain),
        (400, "NONCE", sign(0, 1, &[("c", "d")])),
        (400, "SELF_LINK", sign(0, 2, &[("c", "c")])),
        (400, "MALFORMED", SignedTx { bytes: b"garbage bytes".to_vec(), signature: [0; 64] }),
        (413, "TOO_LARGE", SignedTx { bytes: vec![0x80; 100_000 + 40_000], signature: [0; 64] }),
    ];
    for (status, code, tx) in tx_cases {
        let (got_status, body) = submit(&node.url, &tx).unwrap_err();
        assert_eq!((got_status, body["error"]["code"].as_str().unwrap()), (status, code), "{body}");
    }
    let tx_url = format!("{}/tx", node.url);
    let body_cases = [
        ("{not json", "MALFORMED"),
        (r#"{"tx": 5, "signature": []}"#, "MALFORMED"),
        (r#"{"tx": "!!!", "signature": "AAAA"}"#, "MALFORMED"),
        (r#"{"tx": "AAAA", "signature": "AAAA"}"#, "MALFORMED"),
    ];
    for (body, code) in body_cases {
        let (status, answer) = post_json(&tx_url, body).unwrap_err();
        assert_eq!((status, answer["error"]["code"].as_str().unwrap()), (400, code), "{body}: {answer}");
    }
    let huge = format!(r#"{{"tx": "{}", "signature": ""}}"#, "A".repeat(1 << 20));
    assert_eq!(post_json(&tx_url, &huge).unwrap_err().0, 413);
    assert_eq!(get_json(&format!("{}/tx/not-a-cid", node.url)).unwrap_err().0, 400);
    assert_eq!(get_json(&format!("{}/neuron/neuron1bogus", node.url)).unwrap_err().0, 400);
    assert_eq!(get_json(&format!("{}/block/999", node.url)).unwrap_err().0, 404);
    assert_eq!(get_json(&format!("{}/particle/Qmbad/content", node.url)).unwrap_err().0, 400);
    let big_content = ureq::post(&format!("{}/particle", node.url)).send_bytes(&vec![b'x'; 300 * 1024]);
    assert!(matches!(big_content, Err(ureq::Error::Status(413, _))));

    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(node.get("/status"), before, "rejected requests changed the node");
    assert_eq!(submit(&node.url, &sign(0, 2, &[("c", "d")])).unwrap()["duplicates"], serde_json::json!([]));
}

#[test]
fn offline_focus_is_identical_on_any_thread_count() {
    let root = tempfile::tempdir().unwrap();
    let edges = root.path().join("edges.txt");
    let mut text = String::from("# src dst [weight]\n");
    for i in 0..20_000u32 {
        text += &format!("{} {} {}\n", i % 5000, (i * 7919) % 4999, 1 + i % 3);
    }
    std::fs::write(&edges, text).unwrap();
    let outputs: Vec<String> = ["1", "2", "8"]
        .iter()
        .map(|threads| {
            let out = root.path().join(format!("focus-{threads}.txt"));
            let cmd = std::process::Command::new(BIN)
                .args([
                    "focus",
                    "--edges",
                    edges.to_str().unwrap(),
                    "--out",
                    out.to_str().unwrap(),
                    "--threads",
                    threads,
                ])
                .output()
                .unwrap();
            assert!(cmd.status.success());
            let summary: Value = serde_json::from_slice(&cmd.stderr).unwrap();
            assert_eq!(summary["particles"], 5000);
            assert_eq!(summary["converged"], true);
            std::fs::read_to_string(out).unwrap()
        })
        .collect();
    assert_eq!(outputs[0].lines().count(), 5000);
    let total: f64 = outputs[0].lines().map(|l| l.parse::<f64>().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-9);
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "focus differs between thread counts");
}

/// An auditor's path: `cybergraph edges` writes the tip's weighted graph, and `cybergraph focus`
/// on it finds the focus the node committed (within the solver's accuracy: the node solves warm
/// from the previous block's focus, the auditor cold).
#[test]
fn the_exported_graph_gives_the_committed_focus_offline() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    init_chain(&data, 3);
    let node = NodeProcess::start(&data, 50);
    let words = ["oak", "tree", "leaf", "acorn", "wood", "bark", "root", "branch"];
    for neuron in 0..3u8 {
        let links: Vec<(&str, &str)> =
            words.iter().enumerate().map(|(i, w)| (*w, words[(i * (neuron as usize + 2) + 1) % words.len()])).collect();
        let links: Vec<(&str, &str)> = links.into_iter().filter(|(a, b)| a != b).collect();
        submit(&node.url, &sign(neuron, 1, &links)).unwrap();
    }
    let status =
        node.wait_for("every link committed", |status| status["mempool"] == 0 && status["links"].as_u64() > Some(0));
    node.wait_for("the tip's focus", |_| node.get("/focus")["height"].as_u64() >= status["height"].as_u64());
    // Later blocks are empty: the graph, and so the focus, stay as they are.
    let focus = node.get("/focus");
    node.stop();
    let edges = root.path().join("graph.edges");
    let out = root.path().join("focus.txt");
    run_cli(&["edges", "--data", data.to_str().unwrap(), "--out", edges.to_str().unwrap()]);
    let header = std::fs::read_to_string(&edges).unwrap().lines().next().unwrap().to_owned();
    assert!(header.starts_with("# chain it-chain height ") && header.ends_with(" particles 8"), "{header}");
    let cmd = std::process::Command::new(BIN)
        .args(["focus", "--edges", edges.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(cmd.status.success());
    let offline: Value = serde_json::from_slice(&cmd.stderr).unwrap();
    assert_eq!(offline["particles"], focus["particles"], "{offline} {focus}");
    let (offline, committed) = (offline["syntropy_nats"].as_f64().unwrap(), focus["syntropy"].as_f64().unwrap());
    assert!((offline - committed).abs() < 1e-6, "syntropy {offline} offline, {committed} committed");
}

#[test]
fn a_data_directory_in_the_old_layout_is_read_in_place_and_moved_into_db_by_the_node() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    // The old layout: RocksDB's files at the top of the data directory.
    let mut genesis = engine::Genesis::development(&[key(0).address()], 0);
    genesis.chain_id = "it-chain".into();
    engine::Node::init(&data, &genesis).unwrap();
    let status = run_cli(&["status", "--data", data.to_str().unwrap()]);
    assert!(status.contains("it-chain") && data.join("CURRENT").exists(), "a reader leaves it in place: {status}");
    let node = NodeProcess::start(&data, 100);
    assert!(data.join("db").join("CURRENT").exists() && !data.join("CURRENT").exists());
    let submitted = submit(&node.url, &sign(0, 1, &[("a", "b")])).unwrap();
    assert!(submitted["cid"].is_string(), "{submitted}");
    node.wait_for("the block", |s| s["links"] == 1);
    node.stop();
    let report: Value = serde_json::from_str(&run_cli(&["verify", "--data", data.to_str().unwrap()])).unwrap();
    assert_eq!(report["links"], 1);
}
