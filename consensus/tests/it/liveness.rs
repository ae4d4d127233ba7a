//! Four validators with powers 35/25/25/15 (as in the issue).

use std::time::Duration;

use engine::ids::Height;

use crate::{Net, runtime};

const POWERS: [u64; 4] = [35, 25, 25, 15];

#[test]
fn four_validators_decide_one_chain_and_commit_a_transaction_sent_to_them() {
    runtime().block_on(async {
        let net = Net::started(&POWERS, 3).await;
        let tx = net.link(1, 1, 2);
        for i in 0..4 {
            net.node(i).submit(tx.clone()).unwrap();
        }
        net.await_more(0, 3, Duration::from_secs(60)).await;
        for i in 0..4 {
            assert_eq!(net.node(i).query().status().counts.links, 1, "member {i}");
            assert_eq!(net.node(i).query().status().mempool, 0, "member {i}");
        }
        net.assert_one_chain();
    });
}

#[test]
fn without_the_15_the_rest_decide_and_a_restarted_validator_catches_up() {
    runtime().block_on(async {
        let mut net = Net::started(&POWERS, 2).await;
        net.crash(3).await;
        // 85 of 100 remain: over two thirds. A link is decided while the 15 is down.
        let tx = net.link(1, 1, 2);
        for i in 0..3 {
            net.node(i).submit(tx.clone()).unwrap();
        }
        net.await_more(0, 5, Duration::from_secs(60)).await;
        let query = net.node(0).query();
        let linked = (1..=net.height(0))
            .find(|&h| query.store().block(Height(h)).unwrap().unwrap().link_count > 0)
            .expect("the link was decided");
        net.start(3).await;
        net.await_more(0, 2, Duration::from_secs(90)).await;
        net.assert_one_chain();
        // The restarted member took that height's focus from the peer that synced it the block,
        // once the next header certified it: no solve of its own, the same bits.
        let summary = |i: usize| net.node(i).query().store().focus_summary(Height(linked)).unwrap().unwrap();
        assert!(summary(0).solve_micros > 0);
        assert_eq!(summary(3).solve_micros, 0, "member 3 solved height {linked}");
        assert_eq!(summary(3).root, summary(0).root);
        assert_eq!(net.node(3).query().focus_at(linked).unwrap(), net.node(0).query().focus_at(linked).unwrap());
    });
}

#[test]
fn without_the_35_nobody_decides_until_it_returns() {
    runtime().block_on(async {
        let mut net = Net::started(&POWERS, 2).await;
        net.crash(0).await;
        // 65 of 100 cannot decide.
        let stalled_at = net.assert_stalled().await;
        net.start(0).await;
        net.await_height(stalled_at + 2, Duration::from_secs(90)).await;
        net.assert_one_chain();
    });
}

#[test]
fn split_into_35_25_and_25_15_nobody_decides_and_after_healing_all_hold_one_chain() {
    runtime().block_on(async {
        let net = Net::started(&POWERS, 2).await;
        // 60 of 100 on one side, 40 on the other: neither reaches two thirds.
        net.partition(&[&[0, 1], &[2, 3]]);
        let stalled_at = net.assert_stalled().await;
        net.heal();
        net.await_height(stalled_at + 2, Duration::from_secs(90)).await;
        net.assert_one_chain();
    });
}
