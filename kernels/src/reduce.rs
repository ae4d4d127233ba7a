//! The one reduction tree every node uses (spec/focus.md §4): chunks of [`CHUNK`] elements summed
//! left to right, then a pairwise tree over the chunk sums (adjacent pairs, level by level, an
//! odd last element carried up unchanged). Chunk sums run in parallel; the result does not
//! depend on the thread count, and every backend implements the same tree.

use rayon::prelude::*;

/// Elements per leaf chunk of the reduction tree.
pub const CHUNK: usize = 4096;

/// Sums `len` values `value(i)` with the fixed tree.
pub fn tree_sum_by(len: usize, value: impl Fn(usize) -> f64 + Sync) -> f64 {
    let chunks = len.div_ceil(CHUNK);
    let mut sums: Vec<f64> = (0..chunks)
        .into_par_iter()
        .map(|c| {
            let mut acc = 0.0;
            for i in c * CHUNK..((c + 1) * CHUNK).min(len) {
                acc += value(i);
            }
            acc
        })
        .collect();
    pairwise(&mut sums)
}

/// Writes `out[i] = value(i).0` and sums `value(i).1` with the fixed tree, in one pass.
pub(crate) fn fill_and_tree_sum(out: &mut [f64], value: impl Fn(usize) -> (f64, f64) + Sync) -> f64 {
    let mut sums: Vec<f64> = out
        .par_chunks_mut(CHUNK)
        .enumerate()
        .map(|(c, chunk)| {
            let mut acc = 0.0;
            for (k, slot) in chunk.iter_mut().enumerate() {
                let (written, term) = value(c * CHUNK + k);
                *slot = written;
                acc += term;
            }
            acc
        })
        .collect();
    pairwise(&mut sums)
}

/// `Σ xs` with the fixed tree.
pub fn tree_sum(xs: &[f64]) -> f64 {
    tree_sum_by(xs.len(), |i| xs[i])
}

/// `‖a − b‖₁` with the fixed tree.
pub fn l1_distance(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    tree_sum_by(a.len(), |i| (a[i] - b[i]).abs())
}

/// Divides every element by the vector's fixed-tree sum, so it sums to 1 (the solver's
/// renormalisation, which absorbs each step's rounding, as the GPU's `focus_normalise`);
/// returns that sum, for callers that must refuse a vector without mass.
pub(crate) fn normalise(v: &mut [f64]) -> f64 {
    let total = tree_sum(v);
    v.par_iter_mut().for_each(|x| *x /= total);
    total
}

/// Reduces chunk sums level by level: `[a, b, c, d, e]` → `[a+b, c+d, e]` → `[(a+b)+(c+d), e]` → ….
pub(crate) fn pairwise(sums: &mut Vec<f64>) -> f64 {
    if sums.is_empty() {
        return 0.0;
    }
    while sums.len() > 1 {
        let next: Vec<f64> =
            sums.chunks(2).map(|pair| if pair.len() == 2 { pair[0] + pair[1] } else { pair[0] }).collect();
        *sums = next;
    }
    sums[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_the_documented_one() {
        let xs: Vec<f64> = (0..3 * CHUNK + 5).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        let chunk = |c: usize| xs[c * CHUNK..((c + 1) * CHUNK).min(xs.len())].iter().fold(0.0, |a, x| a + x);
        let expected = (chunk(0) + chunk(1)) + (chunk(2) + chunk(3));
        assert_eq!(tree_sum(&xs).to_bits(), expected.to_bits());
        assert_eq!(tree_sum(&[]), 0.0);
        assert_eq!(tree_sum(&[2.5]), 2.5);
    }

    #[test]
    fn filling_sums_with_the_same_tree() {
        let xs: Vec<f64> = (0..3 * CHUNK + 5).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        let mut out = vec![0.0; xs.len()];
        let sum = fill_and_tree_sum(&mut out, |i| (2.0 * xs[i], xs[i]));
        assert_eq!(sum.to_bits(), tree_sum(&xs).to_bits());
        assert!(out.iter().zip(&xs).all(|(o, x)| *o == 2.0 * x));
    }

    #[test]
    fn thread_count_does_not_change_a_bit() {
        let xs: Vec<f64> = (0..100_000).map(|i| ((i * 7919) % 1000) as f64 * 1e-3 + 1e-9).collect();
        let sums: Vec<u64> = [1, 2, 8]
            .iter()
            .map(|&t| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap();
                pool.install(|| tree_sum(&xs)).to_bits()
            })
            .collect();
        assert!(sums.windows(2).all(|w| w[0] == w[1]));
    }
}
