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

#[test]
fn incremental_update_matches_a_full_recompute() {
    let params = FocusParams { epsilon: 1e-10, ..FocusParams::default() };
    for seed in [21u64, 22, 23] {
        let n = 2000;
        let mut edges = random_edges(seed, n, 8000);
        let before = operator(&edges, n + 50, params).solve(None);
        // A block: 100 new links, some to 50 new particles.
        edges.extend(random_edges(seed + 100, n + 50, 100));
        let after = operator(&edges, n + 50, params);
        let full = after.solve(None);
        let incremental = after.incremental_focus(&before.pi, params.epsilon);
        let err = l1(&incremental.vector, &full.pi);
        assert!(err <= 2.0 * params.epsilon, "seed {seed}: incremental is {err:e} from the full solve");
        assert!(incremental.error_bound <= params.epsilon);
    }
}
