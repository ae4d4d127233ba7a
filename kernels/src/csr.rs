//! Compressed sparse rows with `u32` columns and `f64` values, and the pull SpMV.

use rayon::prelude::*;

/// Rows per parallel task of the SpMV. Each output element is computed by one task in a fixed
/// in-row order, so the result is the same for any thread count; the grain only trades
/// scheduling overhead against balance.
const ROW_GRAIN: usize = 2048;

/// A sparse matrix in CSR form. Invariant: columns ascend strictly within each row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Csr {
    /// `offsets[i]..offsets[i + 1]` indexes row `i`'s entries; `offsets.len() == rows + 1`.
    pub offsets: Vec<usize>,
    /// Column of each entry.
    pub cols: Vec<u32>,
    /// Value of each entry.
    pub vals: Vec<f64>,
}

impl Csr {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.cols.len()
    }

    /// Row `i` as `(columns, values)`.
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let range = self.offsets[i]..self.offsets[i + 1];
        (&self.cols[range.clone()], &self.vals[range])
    }

    /// Builds from per-row sorted entries.
    pub fn from_rows(rows: usize, mut entries: impl FnMut(usize, &mut Vec<(u32, f64)>)) -> Self {
        let mut csr = Csr { offsets: Vec::with_capacity(rows + 1), cols: Vec::new(), vals: Vec::new() };
        csr.offsets.push(0);
        let mut row = Vec::new();
        for i in 0..rows {
            row.clear();
            entries(i, &mut row);
            debug_assert!(row.windows(2).all(|w| w[0].0 < w[1].0), "row {i} is not strictly ascending");
            for &(c, v) in &row {
                csr.cols.push(c);
                csr.vals.push(v);
            }
            csr.offsets.push(csr.cols.len());
        }
        csr
    }

    /// `y = A·x` by rows, in parallel; each `y[i]` sums its row left to right.
    pub fn spmv(&self, x: &[f64], y: &mut [f64]) {
        debug_assert_eq!(y.len(), self.rows());
        y.par_chunks_mut(ROW_GRAIN).enumerate().for_each(|(chunk, out)| {
            let first = chunk * ROW_GRAIN;
            for (k, yi) in out.iter_mut().enumerate() {
                *yi = self.row_dot(first + k, x);
            }
        });
    }

    /// `Σ_j A[i,j]·x[j]` over row `i`, left to right.
    #[inline]
    pub fn row_dot(&self, i: usize, x: &[f64]) -> f64 {
        let (start, end) = (self.offsets[i], self.offsets[i + 1]);
        self.cols[start..end].iter().zip(&self.vals[start..end]).fold(0.0, |acc, (&c, &v)| acc + v * x[c as usize])
    }

    /// The reference: the plainest sequential loop, which [`Csr::spmv`] must match bit for bit.
    pub fn spmv_naive(&self, x: &[f64]) -> Vec<f64> {
        (0..self.rows())
            .map(|i| {
                let (cs, vs) = self.row(i);
                cs.iter().zip(vs).fold(0.0, |acc, (&c, &v)| acc + v * x[c as usize])
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn random_csr(n: usize, entries: &[(u32, u32, f64)]) -> Csr {
        let mut rows = vec![std::collections::BTreeMap::new(); n];
        for &(i, j, v) in entries {
            rows[i as usize % n].insert(j % n as u32, v);
        }
        Csr::from_rows(n, |i, row| row.extend(rows[i].iter().map(|(&c, &v)| (c, v))))
    }

    proptest! {
        #[test]
        fn parallel_spmv_matches_the_naive_loop_bit_for_bit(
            n in 1usize..300,
            entries in prop::collection::vec((any::<u32>(), any::<u32>(), 0.0f64..10.0), 0..2000),
        ) {
            let a = random_csr(n, &entries);
            let x: Vec<f64> = (0..n).map(|i| (i as f64).sin().abs() + 0.1).collect();
            let mut y = vec![0.0; n];
            a.spmv(&x, &mut y);
            let naive = a.spmv_naive(&x);
            prop_assert!(y.iter().zip(&naive).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}
