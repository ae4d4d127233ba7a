//! `cybergraph import` of the committed WordNet sample and of JSON lines, then search and focus.

use crate::*;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/wordnet");

fn import(data: &Path, args: &[&str]) -> Value {
    let mut all = vec!["import", "--data", data.to_str().unwrap()];
    all.extend_from_slice(args);
    serde_json::from_str(&run_cli(&all)).unwrap()
}

#[test]
fn wordnet_imports_once_with_every_pointer_counted_and_oak_is_found() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    let summary = import(&data, &["wordnet", SAMPLE]);
    // 7,003 pointers in the sample: every one is a link, a self-link or a duplicate.
    assert_eq!(summary["particles"], 2500);
    assert_eq!(summary["links_in_source"], 7003);
    let added = summary["links_added"].as_u64().unwrap();
    let dropped = summary["self_links_dropped"].as_u64().unwrap() + summary["duplicates_dropped"].as_u64().unwrap();
    assert_eq!(added + dropped, 7003, "{summary}");
    let again = import(&data, &["wordnet", SAMPLE]);
    assert_eq!(
        (again["links_added"].as_u64(), again["already_present"].as_u64()),
        (Some(0), Some(added)),
        "re-import is a no-op"
    );

    let node = NodeProcess::start(&data, 100);
    let stats = node.graphql("{ graphStats { links particles } }");
    assert_eq!(stats["data"]["graphStats"]["links"], added);
    for (query, expected) in [
        ("oak", "oak, oak tree"),
        ("woody plant elevated crown", "tree —"),
        ("Quercus acorns", "oak, oak tree"),
        ("computer", "computer, computing machine"),
    ] {
        let hits = node.graphql(&format!(
                "{{ search(text: \"{query}\", first: 10) {{ edges {{ node {{ relevance focus particle {{ content }} }} }} }} }}"
            ),
        );
        let edges = hits["data"]["search"]["edges"].as_array().unwrap();
        assert!(
            edges.iter().any(|e| e["node"]["particle"]["content"].as_str().unwrap().starts_with(expected)),
            "{query:?} should find {expected:?}: {hits}"
        );
        assert!(edges.iter().all(|e| e["node"]["relevance"].as_f64().unwrap() > 0.0));
    }
}

#[test]
fn focus_ordering_follows_new_links() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    let lines: String = (0..30)
        .map(|i| format!("{{\"from_text\": \"leaf {i}\", \"to_text\": \"hub\", \"neuron\": \"tester\"}}\n"))
        .collect();
    let file = root.path().join("links.jsonl");
    std::fs::write(&file, &lines).unwrap();
    let summary = import(&data, &["jsonl", file.to_str().unwrap()]);
    assert_eq!(summary["links_added"], 30);
    let node = NodeProcess::start(&data, 100);
    let rank = |text: &str| {
        let cid = particle(text).to_string();
        node.graphql(&format!("{{ particle(cid: \"{cid}\") {{ rank }} }}"))["data"]["particle"]["rank"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(rank("hub"), 1);
    let before = rank("leaf 7");
    // Many new links into "leaf 7" lift it above the other leaves.
    let links: Vec<(String, String)> = (0..40).map(|i| (format!("fan {i}"), "leaf 7".to_string())).collect();
    let links: Vec<(&str, &str)> = links.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let dev = NeuronKey::read(&data.join("dev-neuron.key")).unwrap();
    let chain = node.graphql("{ nodeInfo { chainId } }")["data"]["nodeInfo"]["chainId"].as_str().unwrap().to_owned();
    let pairs: Vec<_> = links.iter().map(|(a, b)| (particle(a), particle(b))).collect();
    submit(&node.url, &Transaction::new(&chain, &dev, 1, &pairs).sign(&dev)).unwrap();
    node.wait_for("the new links", |s| s["links"] == 70);
    // The block's focus is solved right after it commits; give the solver its moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while rank("leaf 7") >= before && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(rank("leaf 7") < before, "leaf 7 was {before}, is {}", rank("leaf 7"));
    assert!(rank("leaf 7") < rank("leaf 8"));
}

#[test]
fn a_corrupt_source_fails_clearly_and_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    let broken = root.path().join("wordnet");
    std::fs::create_dir_all(&broken).unwrap();
    for file in ["data.noun", "data.verb", "data.adj", "data.adv"] {
        let mut bytes = std::fs::read(format!("{SAMPLE}/{file}")).unwrap();
        if file == "data.noun" {
            bytes.truncate(bytes.len() / 3);
        }
        std::fs::write(broken.join(file), bytes).unwrap();
    }
    let out = std::process::Command::new(BIN)
        .args(["import", "--data", data.to_str().unwrap(), "wordnet", broken.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let message = String::from_utf8_lossy(&out.stderr);
    assert!(message.contains("data.noun:") || message.contains("not in the data"), "{message}");
    assert!(!data.exists(), "a refused source created the data directory");
    let bad_json = root.path().join("bad.jsonl");
    std::fs::write(&bad_json, "{\"from_text\": \"a\", \"to_cid\": \"Qmnope\", \"neuron\": \"x\"}\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["import", "--data", data.to_str().unwrap(), "jsonl", bad_json.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("bad.jsonl:1"));
    assert!(!data.exists());
}

#[test]
fn foldoc_imports_its_cross_references_and_lisp_is_found() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/foldoc");
    let summary = import(&data, &["foldoc", sample]);
    assert_eq!(summary["particles"], 800);
    let counted = ["links_added", "unresolved_dropped", "self_links_dropped", "duplicates_dropped"]
        .iter()
        .map(|k| summary[*k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(counted, summary["links_in_source"].as_u64().unwrap(), "{summary}");
    assert!(summary["links_added"].as_u64().unwrap() > 3000, "{summary}");
    let node = NodeProcess::start(&data, 100);
    let hits = node
        .graphql("{ search(text: \"Lisp\", first: 5, order: RELEVANCE) { edges { node { particle { content } } } } }");
    let edges = hits["data"]["search"]["edges"].as_array().unwrap();
    assert!(edges.iter().any(|e| e["node"]["particle"]["content"].as_str().unwrap().starts_with("Lisp")), "{hits}");
}
