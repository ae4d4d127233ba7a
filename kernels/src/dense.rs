//! Dense f32 matrices and their product `X·W`, with two memory walks that give the same bits.
//!
//! Every output sums `x_i·W[i][j]` from `0.0` over `i` ascending, without fused multiply-add
//! (Rust never contracts), whichever [`Path`] computes it: the row walk is the loop a validator
//! reads and trusts, the tiled walk is what a prover runs.

/// A row-major `rows × cols` matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

/// How a product walks memory. Both give the same bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// One row of `X` at a time, walking `W` row by row: the reference loop.
    Reference,
    /// Register tiles of [`TILE_ROWS`] rows × [`TILE_COLS`] columns over the rows of `X`, one
    /// `W` column panel at a time (it stays in cache across the rows), AVX2 where the CPU has it.
    Fast,
}

/// Rows of one register tile of the fast path.
pub const TILE_ROWS: usize = 4;
/// Columns of one register tile of the fast path (two AVX2 registers per row).
pub const TILE_COLS: usize = 16;

impl Matrix {
    /// A matrix from its row-major entries; `data.len()` must be `rows × cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), rows * cols, "a {rows} × {cols} matrix has {} entries, not {}", rows * cols, data.len());
        Matrix { rows, cols, data }
    }

    /// Rows (the inner dimension of `X·W`).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The row-major entries.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// `X·W` for the row-major `count × rows` matrix `x`, on the CPU.
    pub fn times(&self, x: &[f32], path: Path) -> Vec<f32> {
        debug_assert_eq!(x.len() % self.rows, 0);
        let mut out = vec![0.0f32; x.len() / self.rows * self.cols];
        match path {
            Path::Reference => {
                for (x, out) in x.chunks_exact(self.rows).zip(out.chunks_exact_mut(self.cols)) {
                    self.row_walk(x, out, 0);
                }
            }
            Path::Fast => self.tiled(x, &mut out),
        }
        out
    }

    /// One row `x` into the output columns `j..j + out.len()`: walking `W` row by row keeps the
    /// `i`-ascending order for every `j` while reading memory contiguously.
    fn row_walk(&self, x: &[f32], out: &mut [f32], j: usize) {
        for (xi, row) in x.iter().zip(self.data.chunks_exact(self.cols)) {
            for (o, w) in out.iter_mut().zip(&row[j..]) {
                *o += xi * w;
            }
        }
    }

    fn tiled(&self, x: &[f32], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above; `tiled_avx2` only enables it.
            return unsafe { self.tiled_avx2(x, out) };
        }
        self.tiled_portable(x, out)
    }

    /// The portable tiling compiled with AVX2 enabled (no FMA: the products round as in the
    /// reference).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn tiled_avx2(&self, x: &[f32], out: &mut [f32]) {
        self.tiled_portable(x, out)
    }

    /// The portable tiling alone, so a test covers it on AVX2 machines too.
    #[cfg(test)]
    fn tiled_portable_for_test(&self, x: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0f32; x.len() / self.rows * self.cols];
        self.tiled_portable(x, &mut out);
        out
    }

    #[inline(always)]
    fn tiled_portable(&self, x: &[f32], out: &mut [f32]) {
        let count = x.len() / self.rows;
        for j in (0..self.cols).step_by(TILE_COLS) {
            let width = TILE_COLS.min(self.cols - j);
            let mut r = 0;
            while r < count {
                let tile = TILE_ROWS.min(count - r);
                if tile == TILE_ROWS && width == TILE_COLS {
                    self.tile::<TILE_ROWS, TILE_COLS>(x, out, r, j);
                } else {
                    // A partial tile or the trailing columns: row by row, in the same order.
                    for r in r..r + tile {
                        let out = &mut out[r * self.cols + j..][..width];
                        self.row_walk(&x[r * self.rows..][..self.rows], out, j);
                    }
                }
                r += tile;
            }
        }
    }

    /// `R × C` outputs at row `r`, column `j`, accumulated in registers over the whole of `i`.
    #[inline(always)]
    fn tile<const R: usize, const C: usize>(&self, x: &[f32], out: &mut [f32], r: usize, j: usize) {
        let mut acc = [[0.0f32; C]; R];
        // The tile's rows of x, sliced once so that the loop below indexes nothing it must check.
        let xs: [&[f32]; R] = std::array::from_fn(|t| &x[(r + t) * self.rows..][..self.rows]);
        for (i, row) in self.data.chunks_exact(self.cols).enumerate() {
            let w: &[f32; C] = row[j..j + C].try_into().expect("C columns");
            for (acc, xs) in acc.iter_mut().zip(&xs) {
                let xi = xs[i];
                for (a, w) in acc.iter_mut().zip(w) {
                    *a += xi * w;
                }
            }
        }
        for (t, acc) in acc.iter().enumerate() {
            out[(r + t) * self.cols + j..][..C].copy_from_slice(acc);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reproducible entries in about `[-1, 1)` without a dependency.
    fn entries(seed: u32, count: usize) -> Vec<f32> {
        let mut state = seed | 1;
        (0..count)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                (state >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    #[test]
    fn the_row_walk_is_bit_identical_to_the_plain_dot_products() {
        let m = Matrix::new(37, 23, entries(1, 37 * 23));
        let x = entries(4, 37);
        let plain: Vec<f32> = (0..23).map(|j| (0..37).fold(0.0f32, |acc, i| acc + x[i] * m.data[i * 23 + j])).collect();
        let walked = m.times(&x, Path::Reference);
        assert!(plain.iter().zip(&walked).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn the_tiled_product_is_bit_identical_to_the_row_walk_on_every_edge() {
        // 37 × 23: a full 16-column panel and a 7-column edge; 1..=9 rows: full and partial tiles.
        let m = Matrix::new(37, 23, entries(2, 37 * 23));
        for count in 1..=9 {
            let x = entries(5 + count as u32, count * 37);
            let (reference, fast) = (m.times(&x, Path::Reference), m.times(&x, Path::Fast));
            assert!(reference.iter().zip(&fast).all(|(a, b)| a.to_bits() == b.to_bits()), "{count} rows");
            assert!(reference.iter().zip(&m.tiled_portable_for_test(&x)).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}
