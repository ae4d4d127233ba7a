//! Each rule's own error, the store unchanged after it, durability across restarts.

use engine::{EngineError, SignedTx, TxStatus, audit::verify_chain};

use crate::{Chain, particle};

#[test]
fn every_bad_input_has_its_code_and_changes_nothing() {
    let chain = Chain::with_genesis(2, |g| g.params.max_links_per_tx = 3);
    let node = chain.node();
    node.submit(chain.tx(0, 1, &[(1, 2)])).unwrap();
    node.produce_block(2_000).unwrap();
    let focus_block = node.produce_block(2_500).unwrap().unwrap();
    assert_eq!((focus_block.txs, focus_block.links), (0, 0), "an empty block commits the new focus");
    let before = chain.fingerprint();

    let mut bad_signature = chain.tx(0, 2, &[(3, 4)]);
    bad_signature.signature[10] ^= 0x40;
    let wrong_chain =
        engine::Transaction::new("other", &chain.keys[0], 2, &[(particle(3), particle(4))]).sign(&chain.keys[0]);
    let mut invalid_cid = engine::Transaction::new("it", &chain.keys[0], 2, &[(particle(3), particle(4))]);
    invalid_cid.links[0].from = ipld_core::cid::Cid::new_v1(0x78, particle(3).cid().hash().to_owned());
    let cases: Vec<(&str, SignedTx)> = vec![
        ("BAD_SIGNATURE", bad_signature),
        ("WRONG_CHAIN", wrong_chain),
        ("NONCE", chain.tx(0, 1, &[(3, 4)])), // replay of a used nonce
        ("NONCE", chain.tx(0, 3, &[(3, 4)])), // a gap
        ("NONCE", chain.tx(1, 0, &[(3, 4)])), // the first nonce is 1
        ("SELF_LINK", chain.tx(0, 2, &[(3, 4), (5, 5)])),
        ("TOO_LARGE", chain.tx(0, 2, &[(3, 4), (4, 5), (5, 6), (6, 7)])),
        ("TOO_LARGE", SignedTx { bytes: vec![0xa0; 200_000], signature: [0; 64] }),
        ("MALFORMED", SignedTx { bytes: b"\x00\x01garbage".to_vec(), signature: [0; 64] }),
        ("MALFORMED", SignedTx { bytes: Vec::new(), signature: [0; 64] }),
        ("INVALID_CID", invalid_cid.sign(&chain.keys[0])),
    ];
    for (code, tx) in cases {
        let err = node.submit(tx).unwrap_err();
        assert_eq!(err.code(), code, "{err}");
        assert_eq!(chain.fingerprint(), before, "a rejected {code} changed the store");
    }
    assert!(node.produce_block(3_000).unwrap().is_none(), "nothing was admitted");
    assert_eq!(verify_chain(node.query().store()).unwrap().txs, 1);
}

#[test]
fn the_quota_is_stake_times_rate_and_limits_pending_links() {
    let chain = Chain::with_genesis(1, |g| {
        g.params.links_per_block_per_stake = 2;
        g.neurons[0].stake = 2;
    });
    let node = chain.node();
    node.submit(chain.tx(0, 1, &[(1, 2), (2, 3)])).unwrap();
    let before = chain.fingerprint();
    let err = node.submit(chain.tx(0, 2, &[(3, 4), (4, 5), (5, 6)])).unwrap_err();
    assert!(matches!(err, EngineError::RateLimited { pending: 2, requested: 3, quota: 4, .. }), "{err}");
    assert_eq!(chain.fingerprint(), before);
    node.submit(chain.tx(0, 2, &[(3, 4), (4, 5)])).unwrap();
    assert_eq!(node.produce_block(2_000).unwrap().unwrap().links, 4);
    // The quota is per block: the next block has room again.
    node.submit(chain.tx(0, 3, &[(6, 7), (7, 8), (8, 9), (9, 10)])).unwrap();
}

#[test]
fn unknown_neurons_get_the_default_stake_and_zero_stake_cannot_link() {
    let chain = Chain::with_genesis(2, |g| {
        g.neurons.truncate(1);
        g.default_stake = 0;
    });
    let err = chain.node().submit(chain.tx(1, 1, &[(1, 2)])).unwrap_err();
    assert_eq!(err.code(), "RATE_LIMITED");
}

#[test]
fn acknowledged_transactions_survive_a_restart_and_commit_after_it() {
    let mut chain = Chain::new(2);
    let first = chain.node().submit(chain.tx(0, 1, &[(1, 2), (2, 3)])).unwrap();
    chain.node().produce_block(2_000).unwrap();
    let pending = chain.node().submit(chain.tx(0, 2, &[(3, 4)])).unwrap();
    let other = chain.node().submit(chain.tx(1, 1, &[(3, 4)])).unwrap();
    assert_eq!(chain.node().query().tx_status(&pending.cid).unwrap(), TxStatus::Pending);

    chain.restart();
    let node = chain.node();
    assert_eq!(node.query().status().mempool, 2, "the durable mempool is re-admitted");
    assert_eq!(node.query().tx_status(&first.cid).unwrap(), TxStatus::Committed { height: 1, index: 0 });
    // The restarted mempool still enforces nonces.
    assert_eq!(node.submit(chain.tx(0, 2, &[(9, 8)])).unwrap_err().code(), "NONCE");
    let block = node.produce_block(3_000).unwrap().unwrap();
    assert_eq!((block.height, block.txs, block.links), (2, 2, 2));
    assert_eq!(node.query().tx_status(&other.cid).unwrap(), TxStatus::Committed { height: 2, index: 1 });
    let report = verify_chain(node.query().store()).unwrap();
    assert_eq!((report.height, report.txs, report.links), (2, 3, 4));

    chain.restart();
    let status = chain.node().query().status();
    assert_eq!((status.counts.height, status.counts.links, status.counts.particles, status.mempool), (2, 4, 4, 0));
    assert!(chain.node().query().with_state(|s| s.graph().contains(2, 3, 0)), "the CSR is rebuilt from the store");
}

#[test]
fn a_blocks_transactions_prove_into_its_header() {
    let chain = Chain::new(1);
    chain.node().submit(chain.tx(0, 1, &[(1, 2)])).unwrap();
    chain.node().produce_block(2_000).unwrap();
    let (header, txs) = chain.node().query().block(1).unwrap().unwrap();
    assert_eq!(txs.len(), 1);
    // The block's transaction proves into its header.
    let leaf = engine::merkle::leaf_hash(&txs[0].to_bytes());
    let proof = engine::merkle::InclusionProof::new(&[leaf], 0);
    assert!(proof.verify(&txs[0].to_bytes(), &header.txs_root));
    assert_eq!(header.parent, chain.node().query().block(0).unwrap().unwrap().0.cid());
}

#[test]
fn content_is_hashed_to_a_raw_cidv1_and_size_capped() {
    let chain = Chain::new(1);
    let node = chain.node();
    let particle = node.post_content(b"an oak is a tree").unwrap();
    assert_eq!(particle, engine::Particle::of_content(b"an oak is a tree"));
    assert_eq!(node.query().content(&particle).unwrap().unwrap(), b"an oak is a tree");
    let err = node.post_content(&vec![b'x'; 300 * 1024]).unwrap_err();
    assert_eq!(err.code(), "TOO_LARGE");
}

#[test]
fn a_proposal_changes_nothing_until_committed_and_a_stale_one_is_refused() {
    let chain = Chain::new(1);
    let node = chain.node();
    node.submit(chain.tx(0, 1, &[(1, 2)])).unwrap();
    let before = chain.fingerprint();
    let proposal = node.propose(5).unwrap().expect("the mempool has a transaction");
    let again = node.propose(5).unwrap().expect("still there");
    assert_eq!(proposal.block().header, again.block().header, "the same tip and mempool give the same block");
    assert_eq!(chain.fingerprint(), before, "proposing writes nothing");
    let summary = node.commit(proposal).unwrap();
    assert_eq!((summary.height, summary.links), (1, 1));
    let stale = node.commit(again).unwrap_err();
    assert_eq!(stale.code(), "MALFORMED", "{stale}");
    assert_eq!(node.query().status().counts.height, 1);
}
