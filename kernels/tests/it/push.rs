//! Forward push: the conditional focus and the incremental update agree with the solver.

use kernels::FocusParams;

use crate::*;

#[test]
fn conditional_focus_by_push_matches_the_solver_with_teleport_s() {
    for seed in [11u64, 12, 13] {
        let n = 300;
        let edges = random_edges(seed, n, 1200);
        let epsilon = 1e-7;
        let op = operator(&edges, n, FocusParams { epsilon: 1e-13, ..FocusParams::default() });
        let global = op.solve(None);
        let seeds = [(5u32, 1.0), (17, 3.0)];
        let mut teleport = vec![0.0; n];
        teleport[5] = 0.25;
        teleport[17] = 0.75;
        let exact = op.solve_with_teleport(&teleport, None);
        let pushed = op.conditional_focus(&seeds, &global.pi, epsilon);
        let err = l1(&pushed.vector, &exact.pi);
        assert!(err <= epsilon, "seed {seed}: push is {err:e} from the solver");
        assert!(pushed.error_bound <= epsilon);
        assert!(pushed.vector[17] > pushed.vector[5], "the heavier seed keeps more focus");
    }
}

/// `clusters` communities of `size` particles, each a random graph of its own, with a few links
/// between neighbouring communities.
pub(crate) fn communities(seed: u64, clusters: usize, size: usize, per_node: usize) -> Vec<(u32, u32, f64)> {
    let mut rng = Rng(seed | 1);
    let mut edges = Vec::new();
    for c in 0..clusters {
        let base = (c * size) as u64;
        for _ in 0..size * per_node {
            edges.push(((base + rng.below(size as u64)) as u32, (base + rng.below(size as u64)) as u32, 1.0));
        }
        let next = ((c + 1) % clusters * size) as u64;
        edges.push(((base + rng.below(size as u64)) as u32, (next + rng.below(size as u64)) as u32, 1.0));
    }
    edges
}

#[test]
fn incremental_update_matches_a_full_recompute() {
    let params = FocusParams { epsilon: 1e-10, ..FocusParams::default() };
    for seed in [21u64, 22, 23] {
        let (clusters, size) = (40, 50);
        let n = clusters * size + 10;
        let edges = communities(seed, clusters, size, 3);
        let before_op = operator(&edges, n, params);
        let before = before_op.solve(None);
        // A block: 100 new links inside community 7, some to 10 new particles.
        let mut grown = edges.clone();
        let mut rng = Rng(seed + 100);
        for k in 0..100u64 {
            let from = 7 * size as u64 + rng.below(size as u64);
            let to =
                if k % 10 == 0 { (clusters * size) as u64 + k / 10 } else { 7 * size as u64 + rng.below(size as u64) };
            if from != to && !grown.iter().any(|&(a, b, _)| (a as u64, b as u64) == (from, to)) {
                grown.push((from as u32, to as u32, 1.0));
            }
        }
        let after = operator(&grown, n, params);
        let full = after.solve(None);
        let incremental =
            after.incremental_focus(&before_op, &before.pi, params.epsilon, usize::MAX).expect("a local change");
        let err = l1(&incremental.vector, &full.pi);
        assert!(err <= 2.0 * params.epsilon, "seed {seed}: incremental is {err:e} from the full solve");
        assert!(incremental.error_bound <= 1.01 * params.epsilon, "bound {:e}", incremental.error_bound);
        // The node's budget is what a few solver iterations read: this accuracy takes more.
        assert!(after.incremental_focus(&before_op, &before.pi, params.epsilon, after.incremental_budget()).is_none());
    }
}

#[test]
fn a_change_everywhere_falls_back_to_the_solver() {
    let params = FocusParams::default();
    let n = 500;
    let edges = random_edges(31, n, 2000);
    let before_op = operator(&edges, n, params);
    let before = before_op.solve(None);
    // Doubling every weight but one rescales the whole matrix: nothing is local.
    let mut heavier: Vec<_> = edges.iter().map(|&(a, b, w)| (a, b, 2.0 * w)).collect();
    heavier[0].2 = 1.0;
    let after = operator(&heavier, n, params);
    assert!(after.incremental_focus(&before_op, &before.pi, params.epsilon, usize::MAX).is_none());
}
