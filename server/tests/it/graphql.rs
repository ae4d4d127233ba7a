//! The GraphQL API against a running node: real HTTP, a real WebSocket (graphql-transport-ws).

use std::time::Duration;

use engine::merkle::InclusionProof;
use serde_json::json;
use tungstenite::{Message, client::IntoClientRequest};

use crate::*;

/// POSTs a GraphQL request; returns the JSON answer whatever the status.
fn gql(node: &NodeProcess, query: &str, variables: Value) -> Value {
    let body = json!({ "query": query, "variables": variables }).to_string();
    match post_json(&format!("{}/graphql", node.url), &body) {
        Ok(v) => v,
        Err((_, v)) => v,
    }
}

fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {answer}"))
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

/// Opens a graphql-transport-ws session.
fn connect(node: &NodeProcess) -> Socket {
    let mut request = format!("{}/graphql/ws", node.url.replace("http", "ws")).into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tungstenite::connect(request).unwrap();
    // A message that never comes fails the test instead of holding it until CI's deadline.
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    }
    socket.send(Message::text(json!({"type": "connection_init"}).to_string())).unwrap();
    assert_eq!(next_json(&mut socket)["type"], "connection_ack");
    socket
}

/// Starts `query` as subscription `id`.
fn subscribe(socket: &mut Socket, id: &str, query: &str) {
    let message = json!({"id": id, "type": "subscribe", "payload": {"query": query}});
    socket.send(Message::text(message.to_string())).unwrap();
}

fn next_json(socket: &mut Socket) -> Value {
    loop {
        match socket.read().unwrap_or_else(|e| panic!("no message from the subscription: {e}")) {
            Message::Text(text) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] != "ping" && value["type"] != "pong" {
                    return value;
                }
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

fn submit_mutation(node: &NodeProcess, signed: &engine::SignedTx) -> Value {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    gql(
        node,
        "mutation($tx: String!, $sig: String!) { submitTransaction(tx: $tx, signature: $sig) { cid duplicates } }",
        json!({ "tx": STANDARD.encode(&signed.bytes), "sig": STANDARD.encode(signed.signature) }),
    )
}

#[test]
fn the_running_servers_sdl_is_schema_graphql() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    init_chain(&data, 1);
    let node = NodeProcess::start(&data, 100);
    let served = ureq::get(&format!("{}/graphql/sdl", node.url)).call().unwrap().into_string().unwrap();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql")).unwrap();
    assert!(
        served == committed,
        "schema.graphql differs from the server's SDL: run `cybergraph schema > schema.graphql`"
    );
    let graphiql = ureq::get(&format!("{}/graphiql", node.url)).call().unwrap().into_string().unwrap();
    assert!(graphiql.contains("/graphql/ws"));
}

#[test]
fn post_subscribe_query_and_verify_proofs_end_to_end() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    init_chain(&data, 2);
    let node = NodeProcess::start(&data, 100);
    let me = key(0).address().to_string();

    let info = gql(&node, "{ nodeInfo { chainId height version } }", json!({}));
    assert_eq!(info["data"]["nodeInfo"]["chainId"], "it-chain");

    let mut socket = connect(&node);
    subscribe(&mut socket, "blocks", "subscription { blocks { height txsRoot focusRoot } }");
    let query =
        format!("subscription {{ cyberlinks(filter: {{neuron: \"{me}\"}}) {{ from {{ cid }} to {{ cid }} height }} }}");
    subscribe(&mut socket, "links", &query);

    let cid = gql(&node, "mutation { postParticle(content: \"an oak is a tree\") }", json!({}));
    let oak = cid["data"]["postParticle"].as_str().unwrap().to_owned();
    assert_eq!(oak, particle("an oak is a tree").to_string());
    let signed = sign(0, 1, &[("an oak is a tree", "tree"), ("tree", "plant"), ("acorn", "an oak is a tree")]);
    let receipt = submit_mutation(&node, &signed);
    let tx = receipt["data"]["submitTransaction"]["cid"].as_str().unwrap().to_owned();

    // The block arrives over the subscription, and so do the three links.
    let mut height = None;
    let mut links_seen = 0;
    while height.is_none() || links_seen < 3 {
        let message = next_json(&mut socket);
        assert_eq!(message["type"], "next", "{message}");
        match message["id"].as_str().unwrap() {
            "blocks" if height.is_none() => height = message["payload"]["data"]["blocks"]["height"].as_u64(),
            "links" => links_seen += 1,
            _ => {}
        }
    }
    let height = height.unwrap();

    // Auditors: the links back by neuron and height, the inclusion proof against the header.
    let links = gql(
        &node,
        "query($n: String!, $h: Int!) { cyberlinks(filter: {neuron: $n, heightFrom: $h, heightTo: $h}, first: 10) { edges { node { from { cid } to { cid } height } } pageInfo { hasNextPage } } }",
        json!({ "n": me, "h": height }),
    );
    assert_eq!(links["data"]["cyberlinks"]["edges"].as_array().unwrap().len(), 3, "{links}");
    let proof = gql(
        &node,
        "query($tx: String!) { inclusionProof(tx: $tx) { height txsRoot proof { index size path } } }",
        json!({ "tx": tx }),
    );
    let proof = &proof["data"]["inclusionProof"];
    let header =
        gql(&node, "query($h: Int!) { block(height: $h) { txsRoot transactions { cid } } }", json!({ "h": height }));
    assert_eq!(proof["txsRoot"], header["data"]["block"]["txsRoot"]);
    let path = |p: &Value| -> InclusionProof {
        InclusionProof {
            index: p["index"].as_u64().unwrap() as usize,
            size: p["size"].as_u64().unwrap() as usize,
            path: p["path"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| hex::decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
                .collect(),
        }
    };
    let root: [u8; 32] = hex::decode(proof["txsRoot"].as_str().unwrap()).unwrap().try_into().unwrap();
    let tx_cid: ipld_core::cid::Cid = tx.parse().unwrap();
    assert!(path(&proof["proof"]).verify(&tx_cid.to_bytes(), &root));

    // The focus of that block is committed by the next one; its proof verifies.
    node.wait_for("the focus block", |s| s["height"].as_u64() >= Some(height + 1));
    let focus = gql(
        &node,
        "query($c: String!, $h: Int!) { focusProof(cid: $c, height: $h) { focus leaf root anchorHeight proof { index size path } } }",
        json!({ "c": oak, "h": height }),
    );
    let focus = &focus["data"]["focusProof"];
    let anchor = gql(&node, "query($h: Int!) { block(height: $h) { focusRoot } }", json!({ "h": height + 1 }));
    assert_eq!(focus["root"], anchor["data"]["block"]["focusRoot"]);
    let leaf: u64 = focus["leaf"].as_str().unwrap().parse().unwrap();
    let root: [u8; 32] = hex::decode(focus["root"].as_str().unwrap()).unwrap().try_into().unwrap();
    assert!(path(&focus["proof"]).verify(&leaf.to_le_bytes(), &root));

    // Apps: the particle with focus, rank, content, links and related; top; search.
    let view = gql(
        &node,
        "query($c: String!) { particle(cid: $c) { focus rank content firstSeen outLinks { edges { node { to { cid } } } } inLinks { edges { node { from { cid } } } } related(first: 2) { path height particles { score particle { cid } } } } top(first: 3) { edges { node { score particle { cid } } } } search(text: \"OAK tree\") { edges { node { relevance focus particle { cid } } } } }",
        json!({ "c": oak }),
    );
    let p = &view["data"]["particle"];
    assert!(p["focus"].as_f64().unwrap() > 0.0, "{view}");
    assert_eq!(p["content"], "an oak is a tree");
    assert_eq!(p["firstSeen"], height);
    assert_eq!(p["outLinks"]["edges"][0]["node"]["to"]["cid"], particle("tree").to_string());
    assert_eq!(p["inLinks"]["edges"][0]["node"]["from"]["cid"], particle("acorn").to_string());
    assert_eq!(p["related"]["path"], "EXACT_CONDITIONAL_FOCUS");
    assert_eq!(p["related"]["particles"][0]["particle"]["cid"], particle("tree").to_string(), "{view}");
    assert_eq!(view["data"]["top"]["edges"].as_array().unwrap().len(), 3);
    assert_eq!(view["data"]["search"]["edges"][0]["node"]["particle"]["cid"], oak);

    // A replay is refused with its code; the node is unchanged.
    let stats = gql(&node, "{ graphStats { height links particles mempool } }", json!({}));
    assert_eq!(code(&submit_mutation(&node, &signed)), "NONCE");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(gql(&node, "{ graphStats { height links particles mempool } }", json!({})), stats);
    let metrics = ureq::get(&format!("{}/metrics", node.url)).call().unwrap().into_string().unwrap();
    assert!(metrics.contains("cybergraph_http_request_duration_seconds_bucket{route=\"graphql\""));
    assert!(metrics.contains(&format!("cybergraph_block_height {}", stats["data"]["graphStats"]["height"])));
    // The device pool by job class: these requests were queries, the blocks focus solves.
    let units = |class: &str| -> f64 {
        let name = format!("cybergraph_pool_units_total{{class=\"{class}\"}} ");
        let line = metrics.lines().find(|l| l.starts_with(&name)).unwrap_or_else(|| panic!("{name}"));
        line[name.len()..].parse().unwrap()
    };
    assert!(units("query") > 0.0 && units("focus") > 0.0, "{metrics}");
    assert!(metrics.lines().any(|l| l.starts_with("cybergraph_focus_device{device=\"")), "{metrics}");
}

#[test]
fn hostile_graphql_gets_codes_never_a_5xx_and_changes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    init_chain(&data, 1);
    let node = NodeProcess::start(&data, 50);
    let stats = || gql(&node, "{ graphStats { height links particles mempool } }", json!({}));
    let before = stats();
    let url = format!("{}/graphql", node.url);

    for (body, status, expected) in [("{not json", 400, "BAD_REQUEST"), (r#"{"query": 5}"#, 400, "BAD_REQUEST")] {
        let (got, answer) = post_json(&url, body).unwrap_err();
        assert_eq!((got, code(&answer)), (status, expected), "{body}");
    }
    let huge = json!({ "query": format!("{{ nodeInfo {{ chainId }} }} #{}", "x".repeat(300 * 1024)) }).to_string();
    let (status, answer) = post_json(&url, &huge).unwrap_err();
    assert_eq!((status, code(&answer)), (413, "TOO_LARGE"));

    let deep = format!(
        "{{ particle(cid: \"{}\") {{ {} cid {} }} }}",
        particle("a"),
        "outLinks(first: 1) { edges { node { to { ".repeat(6),
        "} } } }".repeat(6)
    );
    let wide = format!(
        "{{ {} }}",
        (0..400)
            .map(|i| format!("a{i}: top(first: 100) {{ edges {{ node {{ score }} }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let bad_sig = {
        let mut s = sign(0, 1, &[("a", "b")]);
        s.signature[3] ^= 1;
        s
    };
    for (query, expected) in [
        ("{ nodeInfo { chainId ", "GRAPHQL_PARSE_FAILED"),
        ("{ nodeInfo { noSuchField } }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ block(height: \"seven\") { cid } }", "GRAPHQL_VALIDATION_FAILED"),
        (deep.as_str(), "QUERY_TOO_DEEP"),
        (wide.as_str(), "QUERY_TOO_COMPLEX"),
        ("{ top(first: 100000) { edges { cursor } } }", "TOO_LARGE"),
        ("{ particle(cid: \"Qmnope\") { focus } }", "INVALID_CID"),
        ("{ cyberlinks(filter: {from: \"bafybogus\"}) { edges { cursor } } }", "INVALID_CID"),
        ("{ cyberlinks(after: \"zz\") { edges { cursor } } }", "MALFORMED"),
        ("{ neuron(address: \"cosmos1xyz\") { stake } }", "INVALID_KEY"),
        ("{ inclusionProof(tx: \"not-a-cid\") { height } }", "INVALID_CID"),
    ] {
        let answer = gql(&node, query, json!({}));
        assert_eq!(code(&answer), expected, "{}: {answer}", &query[..query.len().min(80)]);
    }
    assert_eq!(code(&submit_mutation(&node, &bad_sig)), "BAD_SIGNATURE");
    assert_eq!(code(&submit_mutation(&node, &sign(0, 5, &[("a", "b")]))), "NONCE");
    assert_eq!(code(&submit_mutation(&node, &sign(0, 1, &[("a", "a")]))), "SELF_LINK");
    let garbage = gql(&node, "mutation { submitTransaction(tx: \"AAAA\", signature: \"@@\") { cid } }", json!({}));
    assert_eq!(code(&garbage), "MALFORMED");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(stats(), before, "hostile requests changed the node");
}

#[test]
fn a_client_over_its_rate_gets_rate_limited() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    init_chain(&data, 1);
    let node = NodeProcess::start_with(&data, 100, &["--rate-limit", "5"]);
    let answers: Vec<u16> = (0..20)
        .map(|_| match post_json(&format!("{}/graphql", node.url), r#"{"query": "{ nodeInfo { height } }"}"#) {
            Ok(_) => 200,
            Err((status, answer)) => {
                assert_eq!(code(&answer), "RATE_LIMITED");
                status
            }
        })
        .collect();
    assert!(answers.contains(&429) && answers.contains(&200), "{answers:?}");
    assert!(ureq::get(&format!("{}/healthz", node.url)).call().is_ok(), "health checks are never limited");
}

#[test]
fn a_subscription_id_in_use_closes_the_socket_with_4409_and_a_freed_one_is_reusable() {
    let root = tempfile::tempdir().unwrap();
    let data = data_dir(&root);
    init_chain(&data, 1);
    let node = NodeProcess::start(&data, 100);
    let mut socket = connect(&node);
    // An id the server completed (here: a subscription refused at validation) is free again.
    subscribe(&mut socket, "a", "subscription { noSuchField }");
    let refused = next_json(&mut socket);
    assert!(refused["payload"]["errors"].is_array(), "{refused}");
    let done = next_json(&mut socket);
    assert_eq!((done["type"].as_str(), done["id"].as_str()), (Some("complete"), Some("a")), "{done}");
    subscribe(&mut socket, "a", "subscription { blocks { height } }");
    // Still active: reusing it is a protocol violation.
    subscribe(&mut socket, "a", "subscription { blocks { height } }");
    loop {
        match socket.read() {
            Ok(Message::Close(Some(frame))) => {
                assert_eq!(u16::from(frame.code), 4409);
                assert!(frame.reason.contains("already exists"), "{}", frame.reason);
                break;
            }
            Ok(Message::Text(text)) => assert!(!text.contains("\"error\""), "{text}"),
            Ok(_) => {}
            Err(error) => panic!("the socket ended without a 4409 close: {error}"),
        }
    }
    // A client that completes its subscription may reuse the id.
    let mut socket = connect(&node);
    subscribe(&mut socket, "b", "subscription { blocks { height } }");
    socket.send(Message::text(json!({"id": "b", "type": "complete"}).to_string())).unwrap();
    subscribe(&mut socket, "b", "subscription { blocks { height } }");
    submit(&node.url, &sign(0, 1, &[("x", "y")])).unwrap();
    let echo = next_json(&mut socket);
    assert_eq!((echo["type"].as_str(), echo["id"].as_str()), (Some("complete"), Some("b")), "{echo}");
    let block = next_json(&mut socket);
    assert_eq!((block["type"].as_str(), block["id"].as_str()), (Some("next"), Some("b")), "{block}");
    // The echo of the first `complete` did not free the second subscription's id.
    subscribe(&mut socket, "b", "subscription { blocks { height } }");
    loop {
        match socket.read() {
            Ok(Message::Close(Some(frame))) => break assert_eq!(u16::from(frame.code), 4409),
            Ok(_) => {}
            Err(error) => panic!("the socket ended without a 4409 close: {error}"),
        }
    }
    assert!(ureq::get(&format!("{}/healthz", node.url)).call().is_ok());
}
