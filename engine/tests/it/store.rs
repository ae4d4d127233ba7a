//! The storage conformance suite: one chain driven through a node on each store
//! implementation, every reader asked the same questions, the answers held to the expected ones
//! and to each other.

use std::fmt::Write as _;

use engine::{
    Genesis, Node, NodeConfig, Particle, Transaction,
    audit::verify_chain,
    ids::{Height, LinkIdx, NeuronIdx, ParticleIdx},
    store::{FullStore, LinkPosition, LinkScan, MemoryStore, RocksStore, StoreReader},
};

use crate::particle;

/// Drives a chain of three link-carrying blocks (a duplicate link, a 300-link run, content)
/// through a node on `store`, then reads everything back: a transcript of every answer.
fn transcript(store: Box<dyn FullStore>) -> String {
    let keys: Vec<_> = (1..=2).map(|i| engine::NeuronKey::from_secret([i; 32])).collect();
    let mut genesis = Genesis::development(&keys.iter().map(|k| k.address()).collect::<Vec<_>>(), 0);
    genesis.chain_id = "it".into();
    Node::init_store(store.as_ref(), &genesis).unwrap();
    Node::init_store(store.as_ref(), &genesis).expect("initialising the same chain again is a no-op");
    let node = Node::open_store(store, NodeConfig::default()).unwrap();
    let tx = |k: usize, nonce: u64, links: &[(u32, u32)]| {
        let links: Vec<_> = links.iter().map(|&(a, b)| (particle(a), particle(b))).collect();
        Transaction::new("it", &keys[k], nonce, &links).sign(&keys[k])
    };
    node.submit(tx(0, 1, &[(1, 2), (2, 3), (1, 3)])).unwrap();
    node.submit(tx(1, 1, &[(1, 2), (3, 1)])).unwrap();
    node.produce_block(10).unwrap().unwrap();
    node.submit(tx(0, 2, &[(1, 2), (4, 1), (1, 4)])).unwrap();
    node.produce_block(20).unwrap().unwrap();
    node.submit(tx(1, 2, &[(4, 2), (2, 4)])).unwrap();
    // A chain of 300 links: scans longer than any chunk a store reads at once.
    let chain: Vec<(u32, u32)> = (10..310).map(|i| (i, i + 1)).collect();
    node.submit(tx(0, 3, &chain)).unwrap();
    node.post_contents(&[b"particle 1", b"particle 9"]).unwrap();
    node.produce_block(30).unwrap().unwrap();
    while node.produce_block(40).unwrap().is_some() {}

    let query = node.query();
    let store = query.store();
    let mut out = String::new();
    let genesis_read = store.genesis().unwrap().unwrap();
    assert_eq!(genesis_read, genesis);
    let tip = store.last_block().unwrap().unwrap();
    assert_eq!(tip.header.height, 4, "three blocks with links and one that commits the last focus");
    for h in 0..=tip.header.height {
        let block = store.block(Height(h)).unwrap().unwrap();
        let txs = store.block_txs(Height(h)).unwrap();
        assert_eq!(txs.len(), block.tx_count as usize);
        writeln!(out, "block {h}: {block:?} {txs:?}").unwrap();
        for (index, view) in query.block_transactions(h).unwrap().iter().enumerate() {
            let at = store.tx_location(&view.cid).unwrap().unwrap();
            assert_eq!((at.height, at.index), (Height(h), index as u32));
        }
    }
    assert!(store.block(Height(5)).unwrap().is_none());
    assert!(store.tx_location(&engine::particle::dag_cbor_cid(b"no such tx")).unwrap().is_none());

    let particles = store.particles().unwrap();
    assert_eq!(particles.len(), 4 + 301);
    for (i, p) in particles.iter().enumerate() {
        assert_eq!(store.particle_idx(p).unwrap(), Some(ParticleIdx(i as u32)));
    }
    assert_eq!(store.particle_idx(&particle(9_999)).unwrap(), None);
    writeln!(out, "particles {particles:?}\nneurons {:?}", store.neurons().unwrap()).unwrap();

    let mut all = Vec::new();
    store.for_each_link(&mut |idx, record| all.push((idx, record))).unwrap();
    assert_eq!(all.len(), 309, "310 links signed, one a duplicate");
    for (idx, record) in &all {
        assert_eq!(store.link_record(*idx).unwrap(), Some(*record));
        assert_eq!(store.link(record.from, record.to, record.neuron).unwrap(), Some(*idx));
    }
    assert_eq!(store.link_record(LinkIdx(309)).unwrap(), None);
    let p = ParticleIdx(0);
    let scans = [
        LinkScan::BySource { from: p, to: None },
        LinkScan::BySource { from: p, to: Some(ParticleIdx(1)) },
        LinkScan::ByTarget { to: p },
        LinkScan::ByNeuron { neuron: NeuronIdx(0), first: LinkIdx(0) },
        LinkScan::ByNeuron { neuron: NeuronIdx(1), first: LinkIdx(3) },
        LinkScan::All { first: LinkIdx(2) },
    ];
    for scan in scans {
        let mut whole = Vec::new();
        store
            .scan_links(scan, None, &mut |position, idx, record| {
                whole.push((position, idx, record));
                Ok(true)
            })
            .unwrap();
        assert!(whole.windows(2).all(|w| w[0].0 < w[1].0), "{scan:?} visits in index order");
        assert!(whole.iter().all(|(position, ..)| scan.covers(position)));
        // Page by page, two at a time, each resuming after the last position's bytes.
        let mut paged = Vec::new();
        let mut after: Option<LinkPosition> = None;
        loop {
            let mut page = Vec::new();
            store
                .scan_links(scan, after, &mut |position, idx, record| {
                    page.push((position, idx, record));
                    Ok(page.len() < 2)
                })
                .unwrap();
            let Some(last) = page.last() else { break };
            after = Some(scan.position(&last.0.to_bytes()).expect("a position reads back from its bytes"));
            paged.extend(page);
        }
        assert_eq!(paged, whole, "{scan:?}");
        writeln!(out, "scan {scan:?}: {whole:?}").unwrap();
    }
    assert_eq!(LinkScan::ByTarget { to: p }.position(&LinkPosition::Commit(LinkIdx(1)).to_bytes()), None);

    for h in 0..=tip.header.height {
        let mut summary = store.focus_summary(Height(h)).unwrap().expect("every height has a focus");
        summary.solve_micros = 0; // wall time, not state
        let chunk = store.focus_chunk(Height(h), 0).unwrap();
        writeln!(out, "focus {h}: {summary:?} {chunk:?}").unwrap();
    }
    assert_eq!(store.focus_summary(Height(9)).unwrap(), None);

    assert_eq!(store.content(&particle(1)).unwrap().as_deref(), Some(&b"particle 1"[..]));
    assert_eq!(store.content(&particle(2)).unwrap(), None);
    let mut contents = Vec::new();
    store
        .for_each_content(&mut |particle, content| {
            contents.push((particle, content.to_vec()));
            Ok(true)
        })
        .unwrap();
    assert!(contents.windows(2).all(|w| w[0].0.to_bytes() < w[1].0.to_bytes()));
    writeln!(out, "content {contents:?}").unwrap();
    assert!(store.mempool().unwrap().is_empty());
    verify_chain(store).unwrap();
    out
}

/// The writer's mempool and content calls, on a bare store.
fn writes(store: &dyn FullStore) {
    let key = engine::NeuronKey::from_secret([1; 32]);
    let signed = |nonce| Transaction::new("it", &key, nonce, &[(particle(1), particle(2))]).sign(&key);
    let (a, b) = (signed(1), signed(2));
    store.append_mempool(&[(7, &a), (3, &b)]).unwrap();
    let listed: Vec<(u64, Vec<u8>)> = store.mempool().unwrap().into_iter().map(|(s, tx)| (s, tx.bytes)).collect();
    assert_eq!(listed, vec![(3, b.bytes.clone()), (7, a.bytes.clone())], "in arrival-sequence order");
    store.drop_mempool(&[3, 11]).unwrap();
    assert_eq!(store.mempool().unwrap().len(), 1);
    let p = Particle::of_content(b"x");
    store.put_contents(&[(p, b"x"), (p, b"x")]).unwrap();
    assert_eq!(store.content(&p).unwrap(), Some(b"x".to_vec()));
    assert!(store.genesis().unwrap().is_none());
    assert!(store.last_block().unwrap().is_none());
}

#[test]
fn rocksdb_and_memory_stores_answer_alike() {
    let dir = tempfile::tempdir().unwrap();
    let rocks = transcript(Box::new(RocksStore::open(dir.path()).unwrap()));
    let memory = transcript(Box::new(MemoryStore::new()));
    assert_eq!(rocks, memory);
}

#[test]
fn rocksdb_and_memory_stores_write_alike() {
    let dir = tempfile::tempdir().unwrap();
    writes(&RocksStore::open(dir.path()).unwrap());
    writes(&MemoryStore::new());
}

#[test]
fn a_read_only_view_sees_what_was_committed() {
    let dir = tempfile::tempdir().unwrap();
    transcript(Box::new(RocksStore::open(dir.path()).unwrap()));
    let view = engine::store::open_read_only(dir.path()).unwrap();
    let view: &dyn StoreReader = &view;
    assert_eq!(view.last_block().unwrap().unwrap().header.height, 4);
    assert_eq!(engine::chain_state(view).unwrap().counts().links, 309);
}
