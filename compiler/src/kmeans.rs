//! Deterministic k-means over the rows of the output embedding, for the scan's index
//! ([`crate::scan`]).
//!
//! Two levels, so that clustering millions of rows costs about `n·d·2√C` multiply-adds rather
//! than `n·d·C`: `√C` coarse clusters of every row, then each coarse cluster split into fine ones
//! by its size. Each level is Lloyd's algorithm on a uniform sample (at most
//! [`SAMPLE_PER_CENTROID`] rows per centroid) seeded by k-means++, both drawn from ChaCha streams
//! with a fixed seed, followed by one assignment of every row. Sums run in row order on one thread, and the
//! rows' nearest centroids are computed independently, so the clusters are the same on any
//! thread count.

use kernels::dense::{Matrix, Path};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use rayon::prelude::*;

/// Lloyd iterations on the sample.
const ITERATIONS: usize = 10;

/// Sample rows per centroid that Lloyd's iterations see.
const SAMPLE_PER_CENTROID: usize = 64;

/// Rows per nearest-centroid task.
const ROWS_PER_TASK: usize = 256;

/// A partition of rows into clusters.
pub(crate) struct Clusters {
    /// Row-major `count × d` centroids (each the mean of the sample rows nearest to it).
    pub(crate) centroids: Vec<f32>,
    /// Each row's cluster.
    pub(crate) of_row: Vec<u32>,
}

impl Clusters {
    /// These clusters with every one of more than `most` rows cut into pieces of at most `most`
    /// rows (in row order), each piece a cluster with the whole one's centroid.
    pub(crate) fn split_larger_than(self, most: usize, d: usize) -> Clusters {
        let count = self.centroids.len() / d;
        let mut sizes = vec![0usize; count];
        for &c in &self.of_row {
            sizes[c as usize] += 1;
        }
        let (mut first_piece, mut centroids) = (Vec::with_capacity(count), Vec::new());
        for (centroid, &size) in self.centroids.chunks_exact(d).zip(&sizes) {
            first_piece.push(centroids.len() / d);
            for _ in 0..size.div_ceil(most).max(1) {
                centroids.extend_from_slice(centroid);
            }
        }
        let mut placed = vec![0usize; count];
        let of_row = self
            .of_row
            .iter()
            .map(|&c| {
                let c = c as usize;
                placed[c] += 1;
                (first_piece[c] + (placed[c] - 1) / most) as u32
            })
            .collect();
        Clusters { centroids, of_row }
    }
}

/// Clusters of about `size` rows each of the `d`-wide `rows`.
pub(crate) fn cluster(rows: &[f32], d: usize, size: usize, seed: u64) -> Clusters {
    let n = rows.len() / d;
    let leaves = n.div_ceil(size.max(1)).max(1);
    let coarse_count = (leaves as f64).sqrt().ceil() as usize;
    let coarse = centroids(rows, d, coarse_count, seed);
    let coarse_of = nearest(rows, d, &coarse);
    let mut members = vec![Vec::new(); coarse_count];
    for (row, &c) in coarse_of.iter().enumerate() {
        members[c as usize].push(row as u32);
    }
    let fine: Vec<(Vec<f32>, Vec<u32>)> = members
        .par_iter()
        .enumerate()
        .map(|(c, members)| {
            let rows: Vec<f32> = members.iter().flat_map(|&r| &rows[r as usize * d..][..d]).copied().collect();
            let centroids = centroids(&rows, d, members.len().div_ceil(size.max(1)), seed ^ (c as u64 + 1));
            let of_row = nearest(&rows, d, &centroids);
            (centroids, of_row)
        })
        .collect();
    let mut clusters = Clusters { centroids: Vec::new(), of_row: vec![0; n] };
    for (members, (centroids, of_row)) in members.iter().zip(fine) {
        let first = (clusters.centroids.len() / d) as u32;
        for (&row, &leaf) in members.iter().zip(&of_row) {
            clusters.of_row[row as usize] = first + leaf;
        }
        clusters.centroids.extend(centroids);
    }
    clusters
}

/// Up to `k` centroids of the rows (fewer when there are fewer rows; none when there are none).
fn centroids(rows: &[f32], d: usize, k: usize, seed: u64) -> Vec<f32> {
    let n = rows.len() / d;
    let k = k.min(n);
    if k == 0 {
        return Vec::new();
    }
    let sample: Vec<f32> = if n <= k * SAMPLE_PER_CENTROID {
        rows.to_vec()
    } else {
        // Uniform draws (a stride could alias with a period in the rows' order).
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5a3c);
        let mut picks: Vec<usize> =
            (0..k * SAMPLE_PER_CENTROID).map(|_| (rng.next_u64() % n as u64) as usize).collect();
        picks.sort_unstable();
        picks.iter().flat_map(|&r| &rows[r * d..][..d]).copied().collect()
    };
    let mut centroids = seeds(&sample, d, k, seed);
    for _ in 0..ITERATIONS {
        let of_row = nearest(&sample, d, &centroids);
        let mut sums = vec![0.0f64; k * d];
        let mut counts = vec![0usize; k];
        for (row, &c) in sample.chunks_exact(d).zip(&of_row) {
            counts[c as usize] += 1;
            sums[c as usize * d..][..d].iter_mut().zip(row).for_each(|(s, &x)| *s += x as f64);
        }
        // A centroid no sample row chose keeps its place.
        for ((centroid, sum), &count) in centroids.chunks_exact_mut(d).zip(sums.chunks_exact(d)).zip(&counts) {
            if count > 0 {
                centroid.iter_mut().zip(sum).for_each(|(c, &s)| *c = (s / count as f64) as f32);
            }
        }
    }
    centroids
}

/// k-means++ seeding: the first centroid a uniformly drawn row, each next one a row drawn with
/// probability proportional to its squared distance from the nearest centroid so far (so two
/// seeds rarely share a cluster). The draws come from a ChaCha stream seeded by `seed`.
fn seeds(rows: &[f32], d: usize, k: usize, seed: u64) -> Vec<f32> {
    let m = rows.len() / d;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut unit = || (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    let row = |r: usize| &rows[r * d..][..d];
    let first = ((unit() * m as f64) as usize).min(m - 1);
    let mut centroids = row(first).to_vec();
    let distance = |r: usize, c: &[f32]| row(r).iter().zip(c).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>();
    let mut nearest: Vec<f64> = (0..m).map(|r| distance(r, row(first))).collect();
    while centroids.len() < k * d {
        let total: f64 = nearest.iter().sum();
        let target = unit() * total;
        let mut cumulative = 0.0;
        // With every row on a centroid already (`total` 0), the first row.
        let pick = nearest
            .iter()
            .position(|&x| {
                cumulative += x;
                cumulative > target
            })
            .unwrap_or(0);
        let centroid = row(pick).to_vec();
        nearest.iter_mut().enumerate().for_each(|(r, x)| *x = x.min(distance(r, &centroid)));
        centroids.extend(centroid);
    }
    centroids
}

/// Each row's nearest centroid by Euclidean distance (ties to the lower index): the largest
/// `x·c − |c|²/2`, the products in one matrix product per task.
pub(crate) fn nearest(rows: &[f32], d: usize, centroids: &[f32]) -> Vec<u32> {
    let k = centroids.len() / d;
    let transposed = Matrix::new(d, k, crate::model::transpose(centroids, k, d));
    let half_norms: Vec<f32> = centroids.chunks_exact(d).map(|c| 0.5 * crate::model::dot(c, c)).collect();
    rows.par_chunks(ROWS_PER_TASK * d)
        .flat_map_iter(|chunk| {
            let products = transposed.times(chunk, Path::Fast);
            let best: Vec<u32> = products
                .chunks_exact(k)
                .map(|products| {
                    let score = |c: usize| products[c] - half_norms[c];
                    (1..k).fold(0, |best, c| if score(c) > score(best) { c } else { best }) as u32
                })
                .collect();
            best
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows around `centres` well separated points, `per` rows each, interleaved.
    fn blobs(centres: usize, per: usize, d: usize) -> (Vec<f32>, Vec<usize>) {
        let mut gaussian = crate::linalg::Gaussian::new(9);
        let points: Vec<f32> = (0..centres * d).map(|_| 20.0 * gaussian.sample() as f32).collect();
        let mut rows = Vec::new();
        let mut blob = Vec::new();
        for r in 0..centres * per {
            let c = r % centres;
            rows.extend(points[c * d..][..d].iter().map(|&x| x + 0.1 * gaussian.sample() as f32));
            blob.push(c);
        }
        (rows, blob)
    }

    #[test]
    fn rows_of_one_blob_share_a_cluster_and_the_clusters_are_the_same_on_one_thread() {
        let d = 8;
        let (rows, blob) = blobs(12, 500, d);
        let clusters = cluster(&rows, d, 500, 3);
        // Each blob lies in one cluster; the clusters have the sizes asked for, near enough.
        for c in 0..12 {
            let mut of_blob: Vec<u32> =
                (0..rows.len() / d).filter(|&r| blob[r] == c).map(|r| clusters.of_row[r]).collect();
            of_blob.sort_unstable();
            of_blob.dedup();
            assert_eq!(of_blob.len(), 1, "blob {c} spread over {of_blob:?}");
        }
        let alone = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let again = alone.install(|| cluster(&rows, d, 500, 3));
        assert_eq!(again.of_row, clusters.of_row);
        assert_eq!(again.centroids, clusters.centroids);
    }

    #[test]
    fn a_cluster_too_large_is_cut_into_pieces_in_row_order() {
        let clusters = Clusters { centroids: vec![1.0, 2.0, 3.0], of_row: vec![0, 2, 2, 2, 0, 2, 2, 2, 2] };
        let split = clusters.split_larger_than(3, 1);
        assert_eq!(split.centroids, [1.0, 2.0, 3.0, 3.0, 3.0]);
        assert_eq!(split.of_row, [0, 2, 2, 2, 0, 3, 3, 3, 4]);
    }

    #[test]
    fn every_row_goes_to_its_nearest_centroid() {
        let d = 5;
        let (rows, _) = blobs(7, 40, d);
        let centroids: Vec<f32> = rows[..9 * d].to_vec();
        let of_row = nearest(&rows, d, &centroids);
        for (row, &c) in rows.chunks_exact(d).zip(&of_row) {
            let distance =
                |c: usize| row.iter().zip(&centroids[c * d..][..d]).map(|(x, y)| (x - y).powi(2)).sum::<f32>();
            let best = (0..9).map(distance).fold(f32::INFINITY, f32::min);
            assert!(distance(c as usize) <= best * 1.0001 + 1e-3);
        }
    }
}
