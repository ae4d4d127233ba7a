//! Two nodes on one genesis, as two validators: what one proposes the other derives again from
//! the transactions alone, and a block its state machine does not derive is refused unchanged.

use engine::{ProposedBlock, SignedTx, focus::FocusTransfer};

use crate::Chain;

/// Two nodes of the same chain (same genesis, same keys), each in its own directory.
fn two_validators() -> (Chain, Chain) {
    (Chain::new(2), Chain::new(2))
}

#[test]
fn a_block_proposed_by_one_validator_commits_identically_on_another() {
    let (a, b) = two_validators();
    a.node().submit(a.tx(0, 1, &[(1, 2), (2, 3)])).unwrap();
    a.node().submit(a.tx(1, 1, &[(3, 1)])).unwrap();
    // `b` saw one of the two transactions; the block takes it out of its mempool too.
    b.node().submit(b.tx(1, 1, &[(3, 1)])).unwrap();

    for height in 1..=3u64 {
        let proposal = a.node().propose_block(2_000 + height).unwrap();
        let bytes = proposal.to_proposed().encode();
        let validated = b.node().validate_proposal(ProposedBlock::decode(&bytes).unwrap()).unwrap();
        assert_eq!(validated.block().header, proposal.block().header);
        let certificate = format!("certificate {height}").into_bytes();
        let on_a = a.node().commit_decided(proposal, &certificate, None).unwrap();
        let on_b = b.node().commit_decided(validated, &certificate, None).unwrap();
        assert_eq!(on_a, on_b, "height {height}");
        // A catching-up node gets the same bytes and certificate back.
        let (synced, kept) = b.node().decided_block(height).unwrap().unwrap();
        assert_eq!(synced.encode(), bytes);
        assert_eq!(kept, Some(certificate));
    }
    let (status_a, status_b) = (a.node().query().status(), b.node().query().status());
    assert_eq!((status_a.tip, status_a.counts.links), (status_b.tip, status_b.counts.links));
    assert_eq!(a.node().query().focus().summary.root, b.node().query().focus().summary.root);
    assert!(b.node().query().store().mempool().unwrap().is_empty(), "the committed transaction left b's mempool");
}

#[test]
fn a_block_with_a_wrong_focus_root_or_a_forged_transaction_is_refused_and_changes_nothing() {
    let (a, b) = two_validators();
    a.node().submit(a.tx(0, 1, &[(1, 2)])).unwrap();
    let proposal = a.node().propose_block(5_000).unwrap();
    let honest = proposal.to_proposed();
    let before = b.fingerprint();

    let mut wrong_focus = honest.clone();
    wrong_focus.header.focus_root[0] ^= 1;
    let err = b.node().validate_proposal(wrong_focus).unwrap_err();
    assert!(err.to_string().contains("another focus root"), "{err}");

    let mut forged = honest.clone();
    forged.txs[0] = SignedTx { signature: [9; 64], ..forged.txs[0].clone() };
    let err = b.node().validate_proposal(forged).unwrap_err();
    assert!(err.to_string().contains("signature does not verify"), "{err}");

    let mut extra_link = honest.clone();
    extra_link.txs.push(a.tx(1, 1, &[(4, 5)]));
    let err = b.node().validate_proposal(extra_link).unwrap_err();
    assert!(err.to_string().contains("its transactions give header"), "{err}");

    let mut replayed = honest.clone();
    replayed.txs.push(honest.txs[0].clone());
    assert_eq!(b.node().validate_proposal(replayed).unwrap_err().code(), "MALFORMED");

    let mut far = honest.clone();
    far.header.height += 1;
    assert!(b.node().validate_proposal(far).unwrap_err().to_string().contains("does not extend the tip"));

    assert_eq!(b.fingerprint(), before);
    b.node().validate_proposal(honest).unwrap();
}

#[test]
fn an_own_proposal_is_kept_across_a_restart_until_its_height_commits() {
    let (mut a, _) = two_validators();
    a.node().submit(a.tx(0, 1, &[(1, 2)])).unwrap();
    let proposal = a.node().propose_block(7_000).unwrap();
    a.node().keep_own_proposal(1, 0, &proposal.to_proposed()).unwrap();
    a.restart();
    assert_eq!(a.node().own_proposal(1, 0).unwrap(), Some(proposal.to_proposed()));
    assert_eq!(a.node().own_proposal(1, 1).unwrap(), None);
    let kept = a.node().own_proposal(1, 0).unwrap().unwrap();
    let validated = a.node().validate_proposal(kept).unwrap();
    a.node().commit_decided(validated, b"certificate", None).unwrap();
    assert_eq!(a.node().own_proposal(1, 0).unwrap(), None);
}

#[test]
fn a_block_carries_transactions_up_to_its_byte_budget_and_a_validator_refuses_one_over_it() {
    let one_link = Chain::new(2).tx(0, 1, &[(1, 2)]).block_bytes();
    // Room for two one-link transactions, not three.
    let budget = one_link * 5 / 2;
    let with_budget = || {
        Chain::with_genesis(2, |genesis| {
            genesis.params.max_tx_bytes = 256;
            genesis.params.max_block_tx_bytes = budget;
        })
    };
    let (a, b) = (with_budget(), with_budget());
    let txs = [a.tx(0, 1, &[(1, 2)]), a.tx(1, 1, &[(2, 3)]), a.tx(0, 2, &[(3, 4)])];
    for tx in &txs {
        a.node().submit(tx.clone()).unwrap();
    }
    let first = a.node().propose_block(1_000).unwrap();
    assert_eq!(first.to_proposed().txs, txs[..2]);

    let mut over = first.to_proposed();
    over.txs.push(txs[2].clone());
    let before = b.fingerprint();
    let err = b.node().validate_proposal(over).unwrap_err();
    assert!(err.to_string().contains("a block's transactions (bytes)"), "{err}");
    assert_eq!(b.fingerprint(), before);

    a.node().commit_decided(first, b"certificate", None).unwrap();
    assert_eq!(a.node().propose_block(2_000).unwrap().to_proposed().txs, txs[2..]);
}

/// `a` decides heights 1–4 alone (links at 1–3, none at 4); returns each height's block and
/// certificate and the focus after it as `a` would serve them to a node catching up.
fn decided_chain(a: &Chain) -> Vec<(ProposedBlock, Vec<u8>, Option<FocusTransfer>)> {
    let blocks: [&[(u32, u32)]; 3] = [&[(1, 2), (2, 3)], &[(3, 1), (4, 1)], &[(5, 2)]];
    for (nonce, links) in blocks.iter().enumerate() {
        a.node().submit(a.tx(0, nonce as u64 + 1, links)).unwrap();
        let proposal = a.node().propose_block(1_000 * (nonce as u64 + 1)).unwrap();
        a.node().commit_decided(proposal, format!("certificate {nonce}").as_bytes(), None).unwrap();
    }
    let empty = a.node().propose_block(9_000).unwrap();
    a.node().commit_decided(empty, b"certificate empty", None).unwrap();
    (1..=4)
        .map(|height| {
            let (block, certificate) = a.node().decided_block(height).unwrap().unwrap();
            (block, certificate.unwrap(), a.node().focus_transfer(height).unwrap())
        })
        .collect()
}

/// `b`'s stored focus of every height equals `a`'s bit for bit, and `verify` passes on `b`.
fn assert_same_focus_history(a: &Chain, b: &Chain) {
    for height in 0..=4 {
        let (on_a, on_b) = (a.node().query().focus_at(height).unwrap(), b.node().query().focus_at(height).unwrap());
        let bits = |v: Option<Vec<f64>>| v.unwrap().iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(on_a), bits(on_b), "height {height}");
        let (sa, sb) = (summary(a, height), summary(b, height));
        assert_eq!((sa.root, sa.iterations, sa.bound.to_bits()), (sb.root, sb.iterations, sb.bound.to_bits()));
    }
    engine::audit::verify_chain(b.node().query().store()).unwrap();
}

fn summary(chain: &Chain, height: u64) -> engine::FocusSummary {
    chain.node().query().store().focus_summary(engine::ids::Height(height)).unwrap().unwrap()
}

#[test]
fn a_node_catching_up_takes_each_heights_focus_from_a_peer_once_the_next_header_certifies_it() {
    let (a, b) = two_validators();
    let chain = decided_chain(&a);
    // Only blocks with links carry a focus; an empty block's is carried over.
    let sent: Vec<bool> = chain.iter().map(|(_, _, focus)| focus.is_some()).collect();
    assert_eq!(sent, [true, true, true, false]);
    for (block, certificate, focus) in chain {
        let validated = b.node().validate_synced(block).unwrap();
        b.node().commit_decided(validated, &certificate, focus).unwrap();
    }
    assert_same_focus_history(&a, &b);
    for height in 1..=3 {
        assert!(summary(&a, height).solve_micros > 0, "a solved height {height}");
        assert_eq!(summary(&b, height).solve_micros, 0, "b took height {height}'s focus from a");
    }
    assert_eq!(b.node().query().focus().summary.root, a.node().query().focus().summary.root);
}

#[test]
fn a_peers_focus_that_the_next_header_does_not_certify_is_dropped_and_solved() {
    let (a, b) = two_validators();
    let mut chain = decided_chain(&a);
    // A hostile peer moves one value of height 1's focus by a thousandth.
    let leaf = &mut chain[0].2.as_mut().unwrap().leaves[0];
    *leaf += *leaf / 1000;
    for (block, certificate, focus) in chain {
        let validated = b.node().validate_synced(block).unwrap();
        b.node().commit_decided(validated, &certificate, focus).unwrap();
    }
    assert_same_focus_history(&a, &b);
    assert!(summary(&b, 1).solve_micros > 0, "b solved height 1 itself");
    assert_eq!(summary(&b, 2).solve_micros, 0, "and took height 2's from the peer");
}

#[test]
fn a_live_proposal_or_a_restart_solves_a_focus_that_awaits_a_peers() {
    let (a, b) = two_validators();
    let chain = decided_chain(&a);
    let [(first, certificate, focus), (second, ..), ..] = chain.as_slice() else { unreachable!() };
    b.node().commit_decided(b.node().validate_synced(first.clone()).unwrap(), certificate, focus.clone()).unwrap();
    // A live proposal is never derived on a peer's unchecked vector.
    b.node().validate_proposal(second.clone()).unwrap();
    assert!(summary(&b, 1).solve_micros > 0);

    let (c, mut d) = two_validators();
    let chain = decided_chain(&c);
    let (first, certificate, focus) = &chain[0];
    d.node().commit_decided(d.node().validate_synced(first.clone()).unwrap(), certificate, focus.clone()).unwrap();
    assert!(d.node().query().store().focus_summary(engine::ids::Height(1)).unwrap().is_none(), "awaits the peer's");
    d.restart();
    assert_eq!(d.node().query().focus_at(1).unwrap(), c.node().query().focus_at(1).unwrap(), "solved at start-up");
}

#[test]
fn a_node_is_catching_up_while_its_tip_is_a_block_sync_brought() {
    let (a, b) = two_validators();
    let chain = decided_chain(&a);
    let [(first, certificate, focus), (second, second_certificate, _), ..] = chain.as_slice() else { unreachable!() };
    let long_after = |block: &engine::block::ProposedBlock| block.header.time + engine::CATCHING_UP_LAG_MS + 1;
    let soon_after = |block: &engine::block::ProposedBlock| block.header.time + 1_000;
    assert!(!a.node().catching_up(long_after(&chain[3].0)), "a decided every block itself");
    assert!(!b.node().catching_up(long_after(first)));
    b.node().commit_decided(b.node().validate_synced(first.clone()).unwrap(), certificate, focus.clone()).unwrap();
    assert!(b.node().catching_up(long_after(first)), "its tip came by sync, long ago");
    assert!(!b.node().catching_up(soon_after(first)), "a synced tip close behind the clock is following");
    let live = b.node().validate_proposal(second.clone()).unwrap();
    b.node().commit_decided(live, second_certificate, None).unwrap();
    assert!(!b.node().catching_up(long_after(second)), "it decided the next block live");
}
