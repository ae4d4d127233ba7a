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
