//! The hostile suite: one test per class of request that once crashed, froze or bloated the
//! node. Each runs against the real binary and ends by checking that the node still answers.

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use serde_json::json;

use crate::*;

/// A node over a small chain whose requests may take `request_timeout_ms` at most (generous
/// where a test does not probe the budget: a loaded CI machine can take a second to fsync).
fn hostile_node(root: &tempfile::TempDir, request_timeout_ms: u64) -> NodeProcess {
    let data = data_dir(root);
    init_chain(&data, 1);
    let config = root.path().join("node.toml");
    std::fs::write(&config, format!("request_timeout_ms = {request_timeout_ms}\n")).unwrap();
    let node = NodeProcess::start_with(&data, 50, &["--config", config.to_str().unwrap()]);
    submit(&node.url, &sign(0, 1, &[("tree", "oak"), ("oak", "acorn"), ("acorn", "tree")])).unwrap();
    node.wait_for("the links", |s| s["links"] == 3);
    // The block after them commits their focus, which ranked lists read.
    node.wait_for("their focus", |s| s["height"].as_u64() >= Some(2));
    node
}

fn graphql(node: &NodeProcess, body: &str) -> Value {
    post_json(&format!("{}/graphql", node.url), body).unwrap_or_else(|(_, answer)| answer)
}

fn query(node: &NodeProcess, query: &str) -> Value {
    graphql(node, &json!({ "query": query }).to_string())
}

fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {answer}"))
}

/// The node still answers: `/healthz` and a real query.
fn assert_alive(node: &NodeProcess) {
    let health = ureq::get(&format!("{}/healthz", node.url)).timeout(Duration::from_secs(5)).call();
    assert!(health.is_ok(), "the node stopped answering /healthz");
    assert_eq!(query(node, "{ nodeInfo { chainId } }")["data"]["nodeInfo"]["chainId"], "it-chain");
}

#[test]
fn a_cursor_offset_never_sizes_an_allocation() {
    let root = tempfile::tempdir().unwrap();
    let node = hostile_node(&root, 10_000);
    for cursor in ["10000000000", "18446744073709551615", "99999999999999999999999", "9990"] {
        for field in ["search(text: \"tree\", after: $a)", "top(after: $a)"] {
            let body = json!({
                "query": format!("query($a: String) {{ {field} {{ edges {{ cursor }} }} }}"),
                "variables": { "a": cursor },
            });
            assert_eq!(code(&graphql(&node, &body.to_string())), "BAD_REQUEST", "{field} after {cursor}");
        }
    }
    let fine = query(&node, "{ top(first: 2, after: \"0\") { edges { cursor } } }");
    assert_eq!(fine["data"]["top"]["edges"][0]["cursor"], "1");
    assert_alive(&node);
}

#[test]
fn deeply_nested_search_text_is_refused_before_it_is_parsed() {
    let root = tempfile::tempdir().unwrap();
    let node = hostile_node(&root, 10_000);
    for (open, close) in [("(", ")"), ("+(", ")"), ("[", "]")] {
        let text = format!("{}tree{}", open.repeat(1000), close.repeat(1000));
        let body = json!({ "query": "query($t: String!) { search(text: $t) { edges { cursor } } }", "variables": { "t": text } });
        assert_eq!(code(&graphql(&node, &body.to_string())), "BAD_REQUEST");
    }
    // Prefix operators recurse in tantivy's parser too; 1 KiB of them is within its stack.
    let negated = format!("{}tree", "NOT ".repeat(255));
    let body = json!({ "query": "query($t: String!) { search(text: $t) { edges { cursor } } }", "variables": { "t": negated } });
    assert!(graphql(&node, &body.to_string())["errors"].is_null());
    let shallow = query(&node, "{ search(text: \"((tree))\") { edges { cursor } } }");
    assert!(shallow["errors"].is_null(), "{shallow}");
    assert_alive(&node);
}

#[test]
fn deeply_nested_values_are_refused_before_they_are_parsed() {
    let root = tempfile::tempdir().unwrap();
    let node = hostile_node(&root, 10_000);
    let list = format!("{{ related(context: {}\"x\"{}) {{ height }} }}", "[".repeat(2000), "]".repeat(2000));
    let object =
        format!("{{ cyberlinks(filter: {}{}) {{ edges {{ cursor }} }} }}", "{a: ".repeat(2000), "}".repeat(2000));
    for document in [&list, &object] {
        assert_eq!(code(&query(&node, document)), "QUERY_TOO_DEEP");
    }
    // An escaped quote triple inside a block string must not end it and hide what follows.
    let hidden = format!(
        "{{ nodeInfo(a: \"\"\"\\\"\"\" \"\"\", x: {}1{}, u: \"\"\" \"\"\") {{ height }} }}",
        "[".repeat(20_000),
        "]".repeat(20_000)
    );
    assert_eq!(code(&query(&node, &hidden)), "QUERY_TOO_DEEP");
    // Variables arrive as JSON, whose parser stops at its own depth limit.
    let nested = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let body = format!(
        r#"{{"query": "query($c: [String!]!) {{ related(context: $c) {{ height }} }}", "variables": {{"c": {nested}}}}}"#
    );
    assert_eq!(code(&graphql(&node, &body)), "BAD_REQUEST");
    assert_alive(&node);
}

/// `N` fragments, each spreading the one before twice: `2^N` fields once expanded.
fn doubling_fragments(levels: usize) -> String {
    let mut document = format!("query {{ ...F{levels} }}\nfragment F0 on QueryRoot {{ nodeInfo {{ height }} }}\n");
    for level in 1..=levels {
        document += &format!("fragment F{level} on QueryRoot {{ ...F{p} ...F{p} }}\n", p = level - 1);
    }
    document
}

#[test]
fn fragments_that_double_are_priced_before_they_expand() {
    let root = tempfile::tempdir().unwrap();
    let node = hostile_node(&root, 10_000);
    for levels in [24, 28, 40] {
        assert_eq!(code(&query(&node, &doubling_fragments(levels))), "QUERY_TOO_COMPLEX", "{levels} levels");
    }
    assert_eq!(code(&query(&node, &doubling_fragments(80))), "QUERY_TOO_DEEP");
    let affordable = query(&node, &doubling_fragments(4));
    assert!(affordable["errors"].is_null(), "16 fields are fine: {affordable}");
    assert_alive(&node);
}

#[test]
fn aliases_and_first_zero_do_not_make_expensive_fields_free() {
    let root = tempfile::tempdir().unwrap();
    let node = hostile_node(&root, 10_000);
    let tree = particle("tree").to_string();
    // As many aliases as the 64 KiB text limit lets through.
    for (field, aliases) in [
        (format!(r#"related(context: ["{tree}"], first: 0) {{ height }}"#), 400),
        (r#"search(text: "tree", first: 0) { edges { cursor } }"#.to_string(), 1000),
        ("cyberlinks(first: 0) { edges { cursor } }".to_string(), 1000),
    ] {
        let aliased: String = (0..aliases).map(|i| format!("a{i}: {field} ")).collect();
        assert_eq!(code(&query(&node, &format!("{{ {aliased} }}"))), "QUERY_TOO_COMPLEX", "{field}");
    }
    let one = query(&node, &format!(r#"{{ related(context: ["{tree}"], first: 0) {{ height }} }}"#));
    assert!(one["errors"].is_null(), "{one}");
    assert_alive(&node);
}

#[test]
fn a_body_sent_one_byte_at_a_time_is_cut_off_at_the_request_budget() {
    let root = tempfile::tempdir().unwrap();
    let node = hostile_node(&root, 1000);
    let address = node.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    write!(
        stream,
        "POST /tx HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut answer = Vec::new();
    // One byte, then a pause, until the node answers (or the test gives up on it).
    while Instant::now() < deadline {
        if stream.write_all(b" ").is_err() {
            break;
        }
        let mut buffer = [0u8; 1024];
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buffer[..n]);
                break;
            }
            Err(_) => {}
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "a trickled body is answered TIMEOUT, got {answer:?}");
    assert!(answer.contains("TIMEOUT"), "{answer}");
    assert_alive(&node);
}

/// graphql-js `getIntrospectionQuery()` (v16, default options): what GraphiQL, Apollo, Relay
/// and code generators send.
const INTROSPECTION: &str = r#"
    query IntrospectionQuery {
      __schema {
        queryType { name }
        mutationType { name }
        subscriptionType { name }
        types { ...FullType }
        directives { name description locations args { ...InputValue } }
      }
    }
    fragment FullType on __Type {
      kind name description
      fields(includeDeprecated: true) {
        name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason
      }
      inputFields { ...InputValue }
      interfaces { ...TypeRef }
      enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
      possibleTypes { ...TypeRef }
    }
    fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
    fragment TypeRef on __Type {
      kind name
      ofType { kind name ofType { kind name ofType { kind name ofType { kind name
        ofType { kind name ofType { kind name ofType { kind name } } } } } } }
    }
"#;

#[test]
fn the_canonical_introspection_query_answers_within_the_limits() {
    let root = tempfile::tempdir().unwrap();
    let node = hostile_node(&root, 10_000);
    let answer = query(&node, INTROSPECTION);
    assert!(answer["errors"].is_null(), "{answer}");
    let schema = &answer["data"]["__schema"];
    assert_eq!(schema["queryType"]["name"], "QueryRoot");
    assert_eq!(schema["subscriptionType"]["name"], "SubscriptionRoot");
    let types = schema["types"].as_array().unwrap();
    assert!(types.iter().any(|t| t["name"] == "Particle"), "{} types", types.len());
    assert_alive(&node);
}

#[test]
fn graphiql_is_served_whole_from_the_node() {
    let root = tempfile::tempdir().unwrap();
    let node = hostile_node(&root, 10_000);
    let page = ureq::get(&format!("{}/graphiql", node.url)).call().unwrap().into_string().unwrap();
    assert!(!page.contains("http://") && !page.contains("https://"), "nothing from outside the node: {page}");
    let assets: Vec<&str> = page.split(['"', '\'']).filter(|part| part.starts_with("/graphiql/assets/")).collect();
    assert_eq!(assets.len(), 4, "{assets:?}");
    for asset in assets {
        let url = format!("{}{asset}", node.url);
        let plain = ureq::get(&url).call().unwrap();
        assert!(plain.header("content-encoding").is_none());
        let text = plain.into_string().unwrap();
        assert!(text.len() > 1000, "{asset} is {} bytes", text.len());
        let gzipped = ureq::get(&url).set("accept-encoding", "gzip").call().unwrap();
        assert_eq!(gzipped.header("content-encoding"), Some("gzip"), "{asset}");
        let mut head = [0u8; 2];
        gzipped.into_reader().read_exact(&mut head).unwrap();
        assert_eq!(head, [0x1f, 0x8b], "{asset} arrives gzipped");
    }
    assert_eq!(
        ureq::get(&format!("{}/graphiql/assets/nope.js", node.url)).call().unwrap_err().kind(),
        ureq::ErrorKind::HTTP
    );
}
