//! The operator built densely from the spec's definitions, independent of the sparse code.

use faer::{Mat, linalg::solvers::Solve};
use kernels::FocusParams;

use crate::*;

/// `M` and `c = λ_d·α·u` built entry by entry from spec/focus.md §1–§2.
fn dense_operator(n: usize, edges: &[(u32, u32, f64)], p: &FocusParams) -> (Mat<f64>, Vec<f64>) {
    let mut a = Mat::<f64>::zeros(n, n);
    for &(from, to, w) in edges {
        if from != to {
            a[(from as usize, to as usize)] += w;
        }
    }
    let max = (0..n).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| a[(i, j)]).fold(0.0, f64::max);
    if max > 0.0 {
        a *= faer::Scale(1.0 / max);
    }
    let w = &a + a.transpose();
    let d: Vec<f64> = (0..n).map(|i| (0..n).map(|j| w[(i, j)]).sum()).collect();
    let out: Vec<f64> = (0..n).map(|i| (0..n).map(|j| a[(i, j)]).sum()).collect();
    let total: f64 = d.iter().map(|x| x + 1e-9).sum();
    let u: Vec<f64> = d.iter().map(|x| (x + 1e-9) / total).collect();
    let pm = Mat::from_fn(n, n, |q, r| if out[r] > 0.0 { a[(r, q)] / out[r] } else { u[q] });
    let delta = |i: usize, j: usize| if i == j { 1.0 } else { 0.0 };
    let s = Mat::from_fn(n, n, |i, j| (p.mu * delta(i, j) + w[(i, j)]) / (p.mu + d[j]));
    let r = Mat::from_fn(n, n, |i, j| if d[j] > 0.0 { w[(i, j)] / d[j] } else { delta(i, j) });
    let mut h = Mat::<f64>::zeros(n, n);
    let mut power = Mat::<f64>::identity(n, n);
    for (k, pi_k) in p.heat_weights().into_iter().enumerate() {
        if k > 0 {
            power = &r * &power;
        }
        h += &power * faer::Scale(pi_k);
    }
    let m =
        &pm * faer::Scale(p.lambda_d * (1.0 - p.alpha)) + &s * faer::Scale(p.lambda_s) + &h * faer::Scale(p.lambda_h);
    let c = u.iter().map(|x| p.lambda_d * p.alpha * x).collect();
    (m, c)
}

fn closed_form(m: &Mat<f64>, c: &[f64]) -> Vec<f64> {
    let n = c.len();
    let i_minus_m = Mat::<f64>::identity(n, n) - m;
    let rhs = Mat::from_fn(n, 1, |i, _| c[i]);
    let x = i_minus_m.partial_piv_lu().solve(&rhs);
    (0..n).map(|i| x[(i, 0)]).collect()
}

#[test]
fn m_is_nonnegative_with_columns_summing_to_kappa_and_pi_is_the_closed_form() {
    for seed in 1..=12u64 {
        let n = 3 + (seed as usize * 7) % 30;
        let edges = random_edges(seed, n, n * 2);
        let params = precise();
        let (m, c) = dense_operator(n, &edges, &params);
        for j in 0..n {
            let column: f64 = (0..n).map(|i| m[(i, j)]).sum();
            assert!((0..n).all(|i| m[(i, j)] >= 0.0), "seed {seed}: negative entry in column {j}");
            assert!((column - params.kappa()).abs() < 1e-12, "seed {seed}: column {j} sums to {column}");
        }
        let expected = closed_form(&m, &c);
        let focus = operator(&edges, n, params).solve(None);
        assert!(focus.converged, "seed {seed}");
        let err = l1(&focus.pi, &expected);
        assert!(err < 1e-12, "seed {seed}: ‖π − (I−M)⁻¹c‖₁ = {err:e}");
        assert!((focus.pi.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(focus.pi.iter().all(|&x| x >= params.lambda_d * params.alpha * 1e-9 / n as f64), "π ≥ λ_d·α·u > 0");
    }
}

#[test]
fn one_sparse_step_is_the_dense_matrix_vector_product() {
    let n = 40;
    let edges = random_edges(99, n, 90);
    let params = FocusParams::default();
    let (m, c) = dense_operator(n, &edges, &params);
    let op = operator(&edges, n, params);
    let phi: Vec<f64> = (0..n).map(|i| 1.0 + (i % 7) as f64).collect();
    let total: f64 = phi.iter().sum();
    let phi: Vec<f64> = phi.iter().map(|x| x / total).collect();
    let mut sparse = vec![0.0; n];
    op.apply(&phi, op.prior(), &mut sparse);
    let dense: Vec<f64> = (0..n).map(|i| (0..n).map(|j| m[(i, j)] * phi[j]).sum::<f64>() + c[i]).collect();
    assert!(l1(&sparse, &dense) < 1e-14);
}

#[test]
fn pagerank_mode_matches_the_pagerank_closed_form() {
    let n = 25;
    let edges = random_edges(7, n, 60);
    let params = FocusParams::pagerank(0.15, 1e-14);
    let (m, c) = dense_operator(n, &edges, &params);
    let focus = operator(&edges, n, params).solve(None);
    assert!(l1(&focus.pi, &closed_form(&m, &c)) < 1e-12);
}

#[test]
fn focus_does_not_depend_on_the_stake_unit() {
    let n = 30;
    let edges = random_edges(5, n, 80);
    let scaled: Vec<_> = edges.iter().map(|&(a, b, w)| (a, b, w * 1e6)).collect();
    let one = operator(&edges, n, precise()).solve(None);
    let other = operator(&scaled, n, precise()).solve(None);
    assert!(l1(&one.pi, &other.pi) < 1e-12);
}

#[test]
fn a_higher_stake_link_lifts_its_target() {
    // 0 → 1 by a neuron of stake 1, 0 → 2 by a neuron of stake s: π(2) grows with s.
    let focus_of_2 = |stake: f64| {
        let edges = [(0, 1, 1.0), (0, 2, stake), (3, 0, 1.0), (1, 3, 1.0), (2, 3, 1.0)];
        operator(&edges, 4, precise()).solve(None).pi[2]
    };
    assert!(focus_of_2(1.0) < focus_of_2(2.0));
    assert!(focus_of_2(2.0) < focus_of_2(10.0));
}

#[test]
fn parameters_are_validated() {
    let bad = [
        FocusParams { lambda_d: 0.6, ..FocusParams::default() },
        FocusParams { lambda_d: 0.0, lambda_s: 0.5, lambda_h: 0.5, ..FocusParams::default() },
        FocusParams { alpha: 0.0, ..FocusParams::default() },
        FocusParams { mu: -1.0, ..FocusParams::default() },
        FocusParams { epsilon: 0.0, ..FocusParams::default() },
        FocusParams { tau: f64::NAN, ..FocusParams::default() },
    ];
    for params in bad {
        assert!(params.validate().is_err(), "{params:?}");
    }
    assert_eq!(FocusParams { epsilon: 1e-6, ..FocusParams::default() }.certified_steps(), 187);
    assert_eq!(FocusParams::default().certified_steps(), 246);
    assert!(kernels::FocusOperator::from_edges(2, &[(0, 5, 1.0)], FocusParams::default()).is_err());
    assert!(kernels::FocusOperator::from_edges(2, &[(0, 1, -1.0)], FocusParams::default()).is_err());
}
