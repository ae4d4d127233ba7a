//! `cybergraph compile` on the committed WordNet sample, and a node serving its model.

use serde_json::json;

use crate::*;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/wordnet");

fn related(node: &NodeProcess, cid: &str, exact: bool) -> Value {
    let query = json!({
        "query": "query($c: String!, $e: Boolean!) { related(context: [$c], first: 5, exact: $e) { path model modelHeight errorBound particles { score particle { cid } } } }",
        "variables": { "c": cid, "e": exact },
    });
    post_json(&format!("{}/graphql", node.url), &query.to_string()).unwrap()["data"]["related"].clone()
}

/// Particles the node's served model has rows for (`/metrics`).
fn model_rows(node: &NodeProcess) -> u64 {
    gauge(node, "cybergraph_model_rows") as u64
}

/// Whether the served model's output rows are indexed yet.
fn model_indexed(node: &NodeProcess) -> bool {
    gauge(node, "cybergraph_model_indexed") == 1.0
}

fn gauge(node: &NodeProcess, name: &str) -> f64 {
    let metrics = ureq::get(&format!("{}/metrics", node.url)).call().unwrap().into_string().unwrap();
    let line = metrics.lines().find(|l| l.split_whitespace().next() == Some(name)).expect("the gauge");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Waits up to a minute for `done`.
fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "waited a minute for {what}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// The recall@10 column of the evaluation line whose path starts with `name`.
fn recall(report: &str, name: &str) -> f64 {
    let line = report.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} line in:\n{report}"));
    let after = line.split("recall@10").nth(1).unwrap();
    after.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn a_model_compiled_from_the_wordnet_sample_beats_the_baseline_and_is_served() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    run_cli(&["import", "--data", data.to_str().unwrap(), "wordnet", SAMPLE]);
    let file = root.path().join("model.safetensors");
    let compile = |out: &std::path::Path| {
        run_cli(&[
            "compile",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--dim",
            "16",
            "--queries",
            "800",
            "--steps",
            "200",
            "--eval",
            "--eval-queries",
            "40",
        ])
    };
    let report = compile(&file);
    let (baseline, model) = (recall(&report, "spectral baseline"), recall(&report, "model alone"));
    assert!(model > baseline, "model alone {model} vs spectral baseline {baseline}:\n{report}");
    assert!(recall(&report, "served hybrid") >= model, "{report}");
    assert!(recall(&report, "exact push") > 0.9, "{report}");
    let cid = report.lines().find_map(|l| l.strip_prefix("model")).unwrap().trim().to_string();
    // The same graph and seed compile to the same bytes.
    let again = root.path().join("again.safetensors");
    compile(&again);
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(std::fs::read(&again).unwrap(), bytes);
    // The file evaluates without compiling (the same numbers), and again on a grown graph.
    let evaluated = run_cli(&[
        "compile",
        "--data",
        data.to_str().unwrap(),
        "--evaluate",
        file.to_str().unwrap(),
        "--eval-queries",
        "40",
        "--drift-links",
        "300",
    ]);
    assert_eq!(recall(&evaluated, "model alone"), model, "{evaluated}");
    let drifted =
        evaluated.split("after 300 new links").nth(1).unwrap_or_else(|| panic!("no drift table:\n{evaluated}"));
    assert!(recall(drifted, "served hybrid") > 0.0, "{evaluated}");
    assert!(recall(drifted, "exact push") > 0.9, "{evaluated}");

    let node = NodeProcess::start_with(&data, 100, &["--model", file.to_str().unwrap()]);
    // The node serves the model at once and indexes its output rows in the background.
    wait_until("the model's rows to be indexed", || model_indexed(&node));
    let top = node.graphql("{ top(first: 1) { edges { node { particle { cid } } } } }");
    let oak = top["data"]["top"]["edges"][0]["node"]["particle"]["cid"].as_str().unwrap().to_string();
    let answer = related(&node, &oak, false);
    assert_eq!(answer["path"], "HYBRID", "{answer}");
    assert_eq!(answer["model"], cid.as_str());
    assert_eq!(answer["particles"].as_array().unwrap().len(), 5);
    let exact = related(&node, &oak, true);
    assert_eq!(exact["path"], "EXACT_CONDITIONAL_FOCUS");
    assert_eq!(exact["model"], Value::Null);
    // The block after adoption records the model (it may be in already: blocks come every
    // 100 ms): the tip's header carries the CID, and the file is served by it.
    wait_until("a block to record the model", || {
        let height = node.get("/status")["height"].as_u64().unwrap();
        node.graphql(&format!("{{ block(height: {height}) {{ model }} }}"))["data"]["block"]["model"] == cid.as_str()
    });
    let fetched = ureq::get(&format!("{}/model/{cid}", node.url)).call().unwrap();
    let mut served = Vec::new();
    std::io::Read::read_to_end(&mut fetched.into_reader(), &mut served).unwrap();
    assert_eq!(served, bytes);
    let missing = get_json(&format!("{}/model/{oak}", node.url)).unwrap_err();
    assert_eq!(missing.0, 404);
    // A particle linked after the compile is folded in without recompiling: the served model
    // grows a row for it at the compile job's next upkeep (at most every 10 s), and the CID
    // stays.
    let compiled_rows = model_rows(&node);
    let fresh = particle("a particle the model never saw").to_string();
    let key = data.join("dev-neuron.key");
    run_cli(&["link", "--key", key.to_str().unwrap(), "--node", &node.url, &fresh, &oak]);
    wait_until("the new particle to be folded in", || model_rows(&node) > compiled_rows);
    assert_eq!(model_rows(&node), compiled_rows + 1);
    assert!(model_indexed(&node), "a fold-in keeps the index");
    let answer = related(&node, &fresh, false);
    assert_eq!(answer["model"], cid.as_str(), "{answer}");
    node.stop();

    // A truncated file is refused at start; the node serves the exact path.
    let truncated = root.path().join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let node = NodeProcess::start_with(&data, 100, &["--model", truncated.to_str().unwrap()]);
    assert_eq!(related(&node, &oak, false)["path"], "HYBRID", "the model in force (from the chain) still serves");
    node.stop();
}
