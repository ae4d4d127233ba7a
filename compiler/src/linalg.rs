//! The analytic initialisation's dense algebra in plain f64 loops: a seeded Gaussian, modified
//! Gram–Schmidt and cyclic Jacobi. Written here rather than taken from `faer` because the model
//! file must be byte-identical on every machine, and a library that dispatches on the CPU's
//! vector width does not promise that; `faer` checks these routines in the tests.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A row-major sparse matrix given as rows of `(column, value)`.
pub(crate) type SparseRows = [Vec<(u32, f64)>];

/// Standard normal samples from a seeded ChaCha stream (Box–Muller with pure-Rust `log`/`cos`).
pub(crate) struct Gaussian(ChaCha8Rng);

impl Gaussian {
    pub(crate) fn new(seed: u64) -> Self {
        Gaussian(ChaCha8Rng::seed_from_u64(seed))
    }

    fn uniform(&mut self) -> f64 {
        // 53 random bits in (0, 1]: never 0, so the logarithm is finite.
        ((self.0.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn sample(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        libm::sqrt(-2.0 * libm::log(u)) * libm::cos(2.0 * std::f64::consts::PI * v)
    }
}

/// Orthonormalises the `k` columns of the row-major `m × k` matrix `y` in place (modified
/// Gram–Schmidt, applied twice for stability). A column that vanishes stays zero.
pub(crate) fn orthonormalise(y: &mut [f64], m: usize, k: usize) {
    for _ in 0..2 {
        for j in 0..k {
            for i in 0..j {
                let dot: f64 = (0..m).map(|r| y[r * k + i] * y[r * k + j]).sum();
                for r in 0..m {
                    y[r * k + j] -= dot * y[r * k + i];
                }
            }
            let norm = libm::sqrt((0..m).map(|r| y[r * k + j] * y[r * k + j]).sum());
            for r in 0..m {
                y[r * k + j] = if norm > 1e-300 { y[r * k + j] / norm } else { 0.0 };
            }
        }
    }
}

/// Eigen-decomposition of the symmetric `k × k` matrix `a` by cyclic Jacobi rotations:
/// eigenvalues descending and the matching eigenvectors as the columns of a row-major matrix.
pub(crate) fn symmetric_eigen(mut a: Vec<f64>, k: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; k * k];
    for i in 0..k {
        v[i * k + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..k)
            .flat_map(|i| (0..k).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * k + j] * a[i * k + j])
            .sum();
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..k {
            for q in p + 1..k {
                let apq = a[p * k + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * k + q] - a[p * k + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + libm::sqrt(theta * theta + 1.0));
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / libm::sqrt(t * t + 1.0);
                let s = t * c;
                for r in 0..k {
                    let (arp, arq) = (a[r * k + p], a[r * k + q]);
                    a[r * k + p] = c * arp - s * arq;
                    a[r * k + q] = s * arp + c * arq;
                }
                for r in 0..k {
                    let (apr, aqr) = (a[p * k + r], a[q * k + r]);
                    a[p * k + r] = c * apr - s * aqr;
                    a[q * k + r] = s * apr + c * aqr;
                }
                for r in 0..k {
                    let (vrp, vrq) = (v[r * k + p], v[r * k + q]);
                    v[r * k + p] = c * vrp - s * vrq;
                    v[r * k + q] = s * vrp + c * vrq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&x, &y| a[y * k + y].total_cmp(&a[x * k + x]).then(x.cmp(&y)));
    let values = order.iter().map(|&i| a[i * k + i]).collect();
    let mut vectors = vec![0.0; k * k];
    for (to, &from) in order.iter().enumerate() {
        for r in 0..k {
            vectors[r * k + to] = v[r * k + from];
        }
    }
    (values, vectors)
}

/// The top `rank` right singular vectors of the sparse `m × n` matrix `rows`, scaled by the
/// square roots of their singular values (`V·√Σ`, row-major `n × rank`): a randomised SVD with
/// `oversample` extra columns and one power iteration (Halko–Martinsson–Tropp), signs fixed so
/// each column's largest-magnitude entry is positive. Deterministic in `seed`.
pub(crate) fn spectral_embedding(rows: &SparseRows, n: usize, rank: usize, oversample: usize, seed: u64) -> Vec<f64> {
    let m = rows.len();
    let k = (rank + oversample).min(m.max(1)).min(n.max(1));
    let mut gaussian = Gaussian::new(seed);
    let omega: Vec<f64> = (0..n * k).map(|_| gaussian.sample()).collect();
    // Y = M·Ω, then one power iteration Y = M·(Mᵀ·Q).
    let times = |right: &[f64]| -> Vec<f64> {
        let mut y = vec![0.0; m * k];
        for (r, row) in rows.iter().enumerate() {
            for &(c, value) in row {
                let from = &right[c as usize * k..][..k];
                for (out, x) in y[r * k..][..k].iter_mut().zip(from) {
                    *out += value * x;
                }
            }
        }
        y
    };
    let transpose_times = |left: &[f64]| -> Vec<f64> {
        let mut z = vec![0.0; n * k];
        for (r, row) in rows.iter().enumerate() {
            let from = &left[r * k..][..k];
            for &(c, value) in row {
                for (out, x) in z[c as usize * k..][..k].iter_mut().zip(from) {
                    *out += value * x;
                }
            }
        }
        z
    };
    let mut y = times(&omega);
    orthonormalise(&mut y, m, k);
    let mut z = transpose_times(&y);
    orthonormalise(&mut z, n, k);
    let mut q = times(&z);
    orthonormalise(&mut q, m, k);
    // B = Qᵀ·M (k × n, stored transposed as n × k), G = B·Bᵀ = U·Λ·Uᵀ, V = Bᵀ·U·Λ^{-1/2}.
    let bt = transpose_times(&q);
    let mut gram = vec![0.0; k * k];
    for row in bt.chunks_exact(k) {
        for i in 0..k {
            for j in 0..k {
                gram[i * k + j] += row[i] * row[j];
            }
        }
    }
    let (values, u) = symmetric_eigen(gram, k);
    let rank = rank.min(k);
    let mut embedding = vec![0.0; n * rank];
    for (c, row) in bt.chunks_exact(k).enumerate() {
        for j in 0..rank {
            let projected: f64 = (0..k).map(|i| row[i] * u[i * k + j]).sum();
            // V·√Σ = Bᵀ·u_j / σ_j · √σ_j = Bᵀ·u_j / √σ_j, with σ_j = √λ_j.
            let sigma = libm::sqrt(values[j].max(0.0));
            embedding[c * rank + j] = if sigma > 0.0 { projected / libm::sqrt(sigma) } else { 0.0 };
        }
    }
    for j in 0..rank {
        let largest =
            (0..n).map(|c| embedding[c * rank + j]).fold(0.0f64, |best, x| if x.abs() > best.abs() { x } else { best });
        if largest < 0.0 {
            (0..n).for_each(|c| embedding[c * rank + j] = -embedding[c * rank + j]);
        }
    }
    embedding
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_matches_faer_on_a_random_symmetric_matrix() {
        let k = 9;
        let mut gaussian = Gaussian::new(7);
        let mut a = vec![0.0; k * k];
        for i in 0..k {
            for j in 0..=i {
                let x = gaussian.sample();
                a[i * k + j] = x;
                a[j * k + i] = x;
            }
        }
        let (values, vectors) = symmetric_eigen(a.clone(), k);
        let reference = faer::Mat::from_fn(k, k, |i, j| a[i * k + j]);
        let mut expected: Vec<f64> =
            reference.self_adjoint_eigenvalues(faer::Side::Lower).unwrap().into_iter().collect();
        expected.sort_by(|x, y| y.total_cmp(x));
        for (got, want) in values.iter().zip(&expected) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        // A·v = λ·v for every pair.
        for j in 0..k {
            for i in 0..k {
                let av: f64 = (0..k).map(|l| a[i * k + l] * vectors[l * k + j]).sum();
                assert!((av - values[j] * vectors[i * k + j]).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn a_rank_two_matrix_is_recovered_exactly() {
        // M = a·bᵀ·3 + c·dᵀ: the embedding's Gram matrix reproduces MᵀM's top eigenpairs.
        let (m, n) = (6, 8);
        let dense: Vec<Vec<f64>> = (0..m)
            .map(|r| (0..n).map(|c| 3.0 * (r + 1) as f64 * (c % 3) as f64 + ((r * c) % 2) as f64).collect())
            .collect();
        let rows: Vec<Vec<(u32, f64)>> = dense
            .iter()
            .map(|row| row.iter().enumerate().filter(|(_, v)| **v != 0.0).map(|(c, v)| (c as u32, *v)).collect())
            .collect();
        let e = spectral_embedding(&rows, n, 2, 4, 1);
        let reference = faer::Mat::from_fn(m, n, |r, c| dense[r][c]);
        let singular: Vec<f64> = reference.singular_values().unwrap().into_iter().collect();
        // Column norms² of V·√Σ are the singular values.
        for j in 0..2 {
            let norm: f64 = (0..n).map(|c| e[c * 2 + j] * e[c * 2 + j]).sum();
            assert!((norm - singular[j]).abs() < 1e-8 * singular[0], "{norm} vs {}", singular[j]);
        }
        assert_eq!(e, spectral_embedding(&rows, n, 2, 4, 1), "deterministic");
    }
}
