//! Four validators with powers 35/25/25/15 (as in the issue).

use std::time::Duration;

use crate::{Net, runtime};

const POWERS: [u64; 4] = [35, 25, 25, 15];

#[test]
fn four_validators_decide_one_chain_and_commit_a_transaction_sent_to_them() {
    runtime().block_on(async {
        let mut net = Net::new(&POWERS);
        net.start_all().await;
        net.await_height(3, Duration::from_secs(60)).await;
        let tx = net.link(1, 1, 2);
        for i in 0..4 {
            net.node(i).submit(tx.clone()).unwrap();
        }
        let target = net.height(0) + 3;
        net.await_height(target, Duration::from_secs(60)).await;
        for i in 0..4 {
            assert_eq!(net.node(i).query().status().counts.links, 1, "member {i}");
            assert_eq!(net.node(i).query().status().mempool, 0, "member {i}");
        }
        net.assert_one_chain();
    });
}
