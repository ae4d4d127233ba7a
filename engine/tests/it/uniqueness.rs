//! The uniqueness rule: `(from, to, neuron)` is stored once, also when duplicates arrive in one
//! block in different transactions (go-cyber's same-block check is broken; this is the test).

use std::collections::HashSet;

use engine::audit::verify_chain;
use proptest::prelude::*;

use crate::Chain;

#[test]
fn a_duplicate_in_another_transaction_of_the_same_block_is_reported_and_not_stored() {
    let chain = Chain::new(2);
    let node = chain.node();
    let first = node.submit(chain.tx(0, 1, &[(1, 2)])).unwrap();
    let again = node.submit(chain.tx(0, 2, &[(1, 2), (2, 3)])).unwrap();
    let by_other = node.submit(chain.tx(1, 1, &[(1, 2)])).unwrap();
    assert!(first.duplicates.is_empty());
    assert_eq!(again.duplicates, vec![0], "the pending duplicate is reported at admission");
    assert!(by_other.duplicates.is_empty(), "another neuron's identical link is a different link");
    let block = node.produce_block(2_000).unwrap().unwrap();
    assert_eq!((block.txs, block.links), (3, 3));
    let committed_again = node.submit(chain.tx(0, 3, &[(2, 3), (2, 3)])).unwrap();
    assert_eq!(committed_again.duplicates, vec![0, 1]);
    assert_eq!(node.produce_block(3_000).unwrap().unwrap().links, 0);
    assert_eq!(verify_chain(node.query().store()).unwrap().links, 3);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random transactions over a small particle set, split into random blocks, with a restart
    /// in the middle: the stored link set is exactly the distinct triples, and the chain verifies.
    #[test]
    fn stored_links_are_exactly_the_distinct_triples(
        txs in prop::collection::vec((0usize..3, prop::collection::vec((0u32..6, 0u32..6), 1..6)), 1..16),
        cuts in prop::collection::vec(any::<bool>(), 16),
        restart_at in 0usize..16,
    ) {
        let mut chain = Chain::new(3);
        let mut nonces = [0u64; 3];
        let mut distinct = HashSet::new();
        let mut time = 2_000;
        for (i, (neuron, links)) in txs.iter().enumerate() {
            let links: Vec<(u32, u32)> = links.iter().copied().filter(|(a, b)| a != b).collect();
            if links.is_empty() {
                continue;
            }
            nonces[*neuron] += 1;
            chain.node().submit(chain.tx(*neuron, nonces[*neuron], &links)).unwrap();
            distinct.extend(links.iter().map(|&(a, b)| (a, b, *neuron)));
            if cuts[i] {
                time += 1_000;
                chain.node().produce_block(time).unwrap();
            }
            if i == restart_at {
                chain.restart();
            }
        }
        chain.node().produce_block(time + 1_000).unwrap();
        prop_assert_eq!(chain.node().query().status().counts.links, distinct.len() as u64);
        prop_assert_eq!(chain.node().query().with_state(|s| s.graph().link_count()), distinct.len());
        prop_assert_eq!(verify_chain(chain.node().query().store()).unwrap().links, distinct.len() as u64);
    }
}
