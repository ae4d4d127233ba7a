//! Focus per block: committed in the next header, provable per particle, exact at every
//! height, identical on every node.

use engine::{
    audit::verify_chain,
    focus::{focus_leaf, focus_root},
};

use crate::Chain;

/// Three blocks of links, each followed by the block that commits its focus.
fn grow(chain: &Chain) -> Vec<u64> {
    let node = chain.node();
    let mut heights = Vec::new();
    let rounds: [&[(u32, u32)]; 3] = [&[(1, 2), (2, 3), (3, 1)], &[(4, 1), (2, 4)], &[(5, 6), (6, 1)]];
    for (i, links) in rounds.iter().enumerate() {
        node.submit(chain.tx(i % 2, (i / 2 + 1) as u64, links)).unwrap();
        heights.push(node.produce_block(10_000 + i as u64 * 2).unwrap().unwrap().height);
        node.produce_block(10_001 + i as u64 * 2).unwrap().unwrap();
    }
    heights
}

#[test]
fn each_header_commits_to_the_focus_of_its_parent_state_and_proofs_verify() {
    let chain = Chain::new(2);
    let heights = grow(&chain);
    let node = chain.node();
    assert!(node.produce_block(20_000).unwrap().is_none(), "no focus left to commit");
    for &h in &heights {
        let pi = node.query().focus_at(h).unwrap().unwrap();
        assert!((pi.iter().sum::<f64>() - 1.0).abs() < 1e-12 && pi.iter().all(|&x| x > 0.0));
        let (header, _) = node.query().block(h + 1).unwrap().unwrap();
        assert_eq!(header.focus_root, focus_root(&pi), "header {} commits to the focus of {h}", h + 1);
        let particle = crate::particle(1);
        let proof = node.query().focus_proof(&particle, h).unwrap();
        assert_eq!(proof.root, header.focus_root);
        assert!(proof.proof.verify(&focus_leaf(proof.focus), &header.focus_root));
        assert!(!proof.proof.verify(&focus_leaf(proof.focus * 1.001), &header.focus_root));
    }
    let tip = node.query().status().counts.height;
    assert_eq!(
        node.query().focus_proof(&crate::particle(1), tip).unwrap_err().code(),
        "NOT_FOUND",
        "not committed yet"
    );
    assert_eq!(node.query().focus_proof(&crate::particle(99), 1).unwrap_err().code(), "NOT_FOUND");
    verify_chain(node.query().store()).unwrap();
}

#[test]
fn history_is_exact_at_every_height_across_checkpoints_and_restarts() {
    let mut chain = Chain::new(1);
    let mut expected = Vec::new();
    // 40 blocks of links cross the checkpoint at height 32.
    for i in 0..40u32 {
        chain.node().submit(chain.tx(0, i as u64 + 1, &[(i, i + 1), (i + 1, 0)])).unwrap();
        let h = chain.node().produce_block(5_000 + i as u64).unwrap().unwrap().height;
        expected.push((h, chain.node().query().focus().pi));
        if i == 20 {
            chain.restart();
        }
    }
    for (h, pi) in &expected {
        let stored = chain.node().query().focus_at(*h).unwrap().unwrap();
        assert_eq!(
            stored.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            pi.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        let one = engine::focus::particle_focus_at(
            chain.node().query().store(),
            engine::ids::Height(*h),
            engine::ids::ParticleIdx(3),
        )
        .unwrap();
        assert_eq!(one.map(f64::to_bits), pi.get(3).map(|x| x.to_bits()));
    }
    verify_chain(chain.node().query().store()).unwrap();
}

#[test]
fn two_nodes_fed_the_same_blocks_agree_bit_for_bit() {
    let (a, b) = (Chain::new(2), Chain::new(2));
    grow(&a);
    grow(&b);
    let tip = a.node().query().status().counts.height;
    assert_eq!(tip, b.node().query().status().counts.height);
    assert_eq!(
        a.node().query().block(tip).unwrap().unwrap().0.cid(),
        b.node().query().block(tip).unwrap().unwrap().0.cid()
    );
    assert_eq!(a.node().query().focus().summary.root, b.node().query().focus().summary.root);
}

#[test]
fn focus_ranks_the_hub_first() {
    let chain = Chain::new(1);
    let links: Vec<(u32, u32)> = (1..20).map(|i| (i, 0)).collect();
    chain.node().submit(chain.tx(0, 1, &links)).unwrap();
    chain.node().produce_block(2_000).unwrap();
    let focus = chain.node().query().focus();
    let hub = chain.node().query().with_state(|s| s.particle_idx(&crate::particle(0))).unwrap();
    let best = focus.pi.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    assert_eq!(best, hub.0 as usize);
    assert!(focus.summary.iterations > 0 && focus.summary.syntropy > 0.0);
}

/// 400 communities of 20 particles (a ring and chords each, one link to the next community),
/// linked by neuron 0 in one block; then `local` links inside community 3 submitted. (The heat
/// kernel reaches 6 hops, so a change inside one community moves the focus of several: the graph
/// must be large enough for that to be local.)
fn communities(chain: &Chain, local: &[(u32, u32)]) {
    let mut links = Vec::new();
    for c in 0..400u32 {
        let base = 100 + c * 20;
        for i in 0..20 {
            links.push((base + i, base + (i + 1) % 20));
            links.push((base + i, base + (i * 7 + 3) % 20));
        }
        links.push((base, 100 + (c + 1) % 400 * 20));
    }
    let mut nonce = 0;
    for part in links.chunks(820) {
        nonce += 1;
        chain.node().submit(chain.tx(0, nonce, part)).unwrap();
    }
    chain.node().produce_block(1_000).unwrap().unwrap();
    chain.node().produce_block(1_001).unwrap().unwrap();
    chain.node().submit(chain.tx(0, nonce + 1, local)).unwrap();
}

const LOCAL: [(u32, u32); 6] = [(160, 165), (165, 170), (170, 161), (161, 175), (175, 160), (172, 166)];

#[test]
fn a_local_block_moves_the_focus_by_push_and_it_agrees_with_a_cold_solve() {
    let chain = Chain::new(1);
    communities(&chain, &LOCAL);
    let before = chain.node().query().focus();
    chain.node().produce_block(1_002).unwrap().unwrap();
    let after = chain.node().query().focus();
    assert!(before.summary.root != after.summary.root, "the block changed the graph");
    let epsilon = after.operator.params().epsilon;
    let cold = after.operator.solve(None);
    let l1: f64 = after.pi.iter().zip(&cold.pi).map(|(a, b)| (a - b).abs()).sum();
    assert!(l1 <= 2.0 * epsilon, "‖focus − cold solve‖₁ = {l1:e}");
    // The solver only certified the push's result; warm from the previous focus it iterates.
    let warm = after.operator.solve(Some(&before.pi));
    assert!(
        4 * after.summary.iterations < warm.iterations as u32,
        "{} iterations after the push, {} warm",
        after.summary.iterations,
        warm.iterations
    );
}

#[test]
fn a_focus_lost_in_a_crash_is_recomputed_bit_for_bit() {
    let (mut crashed, reference) = (Chain::new(1), Chain::new(1));
    communities(&crashed, &LOCAL);
    communities(&reference, &LOCAL);
    reference.node().produce_block(1_002).unwrap().unwrap();
    // The block is written, then the process dies before its focus is.
    let proposal = crashed.node().propose(1_002).unwrap().unwrap();
    crashed.node = None;
    let store = engine::store::RocksStore::open_within(crashed.dir.path(), Default::default()).unwrap();
    engine::store::StoreWriter::commit_block(&store, proposal.block(), None).unwrap();
    drop(store);
    crashed.restart();
    let (got, want) = (crashed.node().query().focus(), reference.node().query().focus());
    assert_eq!(got.summary.height, want.summary.height);
    assert_eq!(
        got.pi.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        want.pi.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
    verify_chain(crashed.node().query().store()).unwrap();
}
