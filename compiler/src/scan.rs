//! The output scan: the best rows of `h·Eᵀ + b` and the softmax normaliser, for the model alone
//! and the hybrid's tail (spec/compiled-transformer.md, "The output scan is memory-bound").
//!
//! It reads an int8 copy of `E` (a quarter of the bytes) with the query state quantised too,
//! keeps the best rows of each task while it goes, and takes the normaliser from the same pass;
//! [`crate::Served`] re-scores the best with the f32 rows. Nothing of size `n` is allocated per
//! query.
//!
//! The rows are stored by cluster ([`crate::kmeans`], clusters of about `√n / 4` rows). A
//! [`Scan::Indexed`] scan reads only the clusters likeliest to hold the softmax's mass: cluster
//! `c`'s share of the normaliser is at least `e^{s_c}`, `s_c = h·μ_c + log Σ_{j∈c} e^{b_j}` with
//! `μ_c` the `e^b`-weighted mean of its rows (Jensen), so it ranks the clusters by `s_c`, scans
//! the best until it has read [`OutputRows::probe_rows`] rows, and counts each cluster it skips
//! as `e^{s_c}` in the normaliser. [`Scan::Full`] reads every row. Rows not clustered yet
//! ([`OutputRows::unindexed`], while a node builds the index in the background) are one cluster,
//! which either scan reads whole.

use std::ops::Range;

use kernels::dense::{Matrix, Path};
use rayon::prelude::*;

use crate::{kmeans, model::Model};

/// Rows per scan task.
const SCAN_CHUNK: usize = 16_384;

/// Rows scored together: their int8 logits first (a loop that vectorises), then their maximum
/// and `exp` sum (in order, so the same bits in either build).
const SCAN_BLOCK: usize = 64;

/// Clusters hold about `√n / CLUSTER_SHRINK` rows: smaller clusters fit the scan to the query
/// better (on WordNet's d = 64 model, clusters of 64 rows held 93% of the model's top 10 within
/// 8,192 rows read, clusters of 358 rows 62%), at `d` multiply-adds per cluster per query to rank
/// them.
const CLUSTER_SHRINK: f64 = 4.0;

/// … and at least this many.
const MIN_CLUSTER_ROWS: usize = 64;

/// A cluster of more than this many times the clusters' size is cut into pieces, each with its
/// own summary: rows the clustering cannot tell apart (a hub's 10⁵ leaves) would otherwise make
/// one cluster that any query ranking it first reads whole.
const PIECE_FACTOR: usize = 4;

/// The clustering's seed (the clusters only decide what a scan reads, never a committed bit).
const CLUSTER_SEED: u64 = 0x5ca7;

/// The indexed scan reads at least this many rows (0.5 MB of int8 at d = 64) …
const PROBE_MIN_ROWS: usize = 8_192;

/// … and at least this share of them.
const PROBE_SHARE: f64 = 0.005;

/// Which rows a scan reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// Every row: the exact top rows and normaliser (up to the int8 rounding).
    Full,
    /// The clusters likeliest to hold the softmax's mass, the rest estimated.
    Indexed,
}

/// The output embedding prepared for scanning: int8 rows in cluster order and the clusters'
/// summaries.
#[derive(Debug)]
pub(crate) struct OutputRows {
    dim: usize,
    /// Whether the rows are clustered ([`OutputRows::new`]); otherwise they are one cluster and
    /// every scan reads them all ([`OutputRows::unindexed`]).
    indexed: bool,
    /// Row ids in cluster order: cluster `c` holds `order[starts[c]..starts[c + 1]]`.
    order: Vec<u32>,
    starts: Vec<usize>,
    /// Row-quantised `E` in cluster order: the row at position `p` is `scales[p]·quantised[p]`.
    quantised: Vec<i8>,
    scales: Vec<f32>,
    /// The bias in cluster order.
    bias: Vec<f32>,
    /// The clusters' centroids, for placing rows added later.
    centroids: Vec<f32>,
    /// `μ_c` by columns (`d × clusters`), so that one product scores every cluster.
    mass_means: Matrix,
    /// `log Σ_{j∈c} e^{b_j}` (−∞ for an empty cluster).
    log_mass: Vec<f32>,
}

/// What one scan found.
pub(crate) struct Found {
    /// The best rows by int8 logit, unordered.
    pub(crate) best: Vec<(u32, f32)>,
    /// `log Σ_j exp(logit_j)`, the skipped clusters estimated.
    pub(crate) log_partition: f32,
}

/// The quantised query.
struct Query {
    values: Vec<i8>,
    scale: f32,
}

/// One task's share: its best rows by int8 logit and its `exp` sum relative to its top.
struct Partial {
    best: Vec<(u32, f32)>,
    top: f32,
    sum: f32,
}

/// Row `row` as int8 values times a scale, written to `out`; the scale.
fn quantise_into(row: &[f32], out: &mut [i8]) -> f32 {
    let largest = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if largest > 0.0 { largest / 127.0 } else { 1.0 };
    out.iter_mut().zip(row).for_each(|(q, x)| *q = (x / scale).round().clamp(-127.0, 127.0) as i8);
    scale
}

fn int_dot(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

/// `eˣ` for `x ≤ 0` (to a few ulp; below −87 it is `e⁻⁸⁷` ≈ 1.6e-38 rather than 0, and a NaN
/// gives that too — the model file's validation refuses non-finite weights) in plain arithmetic
/// that inlines into the scan where `f32::exp` is a library call per row: `x = k·ln 2 + r`, `eʳ`
/// by its degree-6 Taylor polynomial (|r| ≤ ln 2 / 2), `2ᵏ` by exponent bits.
fn exp_nonpositive(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5·2²³: adding it rounds to an integer
    let x = x.max(-87.0);
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let k = shifted - ROUND;
    // ln 2 split so that `k·LN2_HIGH` is exact.
    let r = (x - k * 0.693_145_75) - k * 1.428_606_8e-6;
    let poly = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let two_k = f32::from_bits(((shifted.to_bits() as i32 - ROUND.to_bits() as i32 + 127) << 23) as u32);
    poly * two_k
}

impl OutputRows {
    /// The model's output rows, clustered.
    pub(crate) fn new(model: &Model) -> Self {
        let d = model.shape.dim;
        let size = ((model.shape.particles as f64).sqrt() / CLUSTER_SHRINK) as usize;
        let size = size.max(MIN_CLUSTER_ROWS);
        let clusters = kmeans::cluster(&model.embedding, d, size, CLUSTER_SEED);
        Self::arrange(model, clusters.split_larger_than(PIECE_FACTOR * size, d), true)
    }

    /// The model's output rows as one cluster, in row order: ready at the cost of quantising
    /// them (the clustering takes ~28 s for 3.1M rows on two cores), and every scan, indexed or
    /// not, reads every row.
    pub(crate) fn unindexed(model: &Model) -> Self {
        let (n, d) = (model.shape.particles, model.shape.dim);
        Self::arrange(model, kmeans::Clusters { centroids: vec![0.0; d], of_row: vec![0; n] }, false)
    }

    /// Whether the rows are clustered, so that an indexed scan reads only some of them.
    pub(crate) fn is_indexed(&self) -> bool {
        self.indexed
    }

    /// These rows for `model`, a fold-in of the model they were made for: the rows `reassign`
    /// names (new or changed) go to their nearest cluster, the others stay where they are.
    pub(crate) fn refitted(&self, model: &Model, reassign: impl Fn(usize) -> bool + Sync) -> Self {
        let d = self.dim;
        let mut of_row = vec![0u32; model.shape.particles];
        for (c, range) in self.starts.windows(2).enumerate() {
            for &row in &self.order[range[0]..range[1]] {
                of_row[row as usize] = c as u32;
            }
        }
        let moved: Vec<usize> = (0..model.shape.particles).into_par_iter().filter(|&row| reassign(row)).collect();
        let rows: Vec<f32> = moved.iter().flat_map(|&row| model.row(row as u32)).copied().collect();
        for (&row, cluster) in moved.iter().zip(kmeans::nearest(&rows, d, &self.centroids)) {
            of_row[row] = cluster;
        }
        Self::arrange(model, kmeans::Clusters { centroids: self.centroids.clone(), of_row }, self.indexed)
    }

    fn arrange(model: &Model, clusters: kmeans::Clusters, indexed: bool) -> Self {
        let (n, d) = (model.shape.particles, model.shape.dim);
        let count = clusters.centroids.len() / d;
        let mut starts = vec![0usize; count + 1];
        for &c in &clusters.of_row {
            starts[c as usize + 1] += 1;
        }
        for c in 0..count {
            starts[c + 1] += starts[c];
        }
        let mut order = vec![0u32; n];
        let mut next = starts.clone();
        for (row, &c) in clusters.of_row.iter().enumerate() {
            order[next[c as usize]] = row as u32;
            next[c as usize] += 1;
        }
        let mut quantised = vec![0i8; n * d];
        let scales: Vec<f32> = quantised
            .par_chunks_mut(d.max(1))
            .zip(&order)
            .map(|(out, &row)| quantise_into(model.row(row), out))
            .collect();
        let bias: Vec<f32> = order.iter().map(|&row| model.bias[row as usize]).collect();
        // Each cluster's e^b-weighted mean and log-mass, in f64 and in row order.
        let (means, log_mass): (Vec<Vec<f32>>, Vec<f32>) = starts
            .par_windows(2)
            .map(|range| {
                let members = &order[range[0]..range[1]];
                if members.is_empty() {
                    return (vec![0.0; d], f32::NEG_INFINITY);
                }
                let top = members.iter().fold(f64::NEG_INFINITY, |m, &j| m.max(model.bias[j as usize] as f64));
                let mut mean = vec![0.0f64; d];
                let mut total = 0.0;
                for &j in members {
                    let weight = libm::exp(model.bias[j as usize] as f64 - top);
                    total += weight;
                    mean.iter_mut().zip(model.row(j)).for_each(|(m, &x)| *m += weight * x as f64);
                }
                (mean.iter().map(|m| (m / total) as f32).collect(), (top + libm::log(total)) as f32)
            })
            .unzip();
        OutputRows {
            dim: d,
            indexed,
            order,
            starts,
            quantised,
            scales,
            bias,
            centroids: clusters.centroids,
            mass_means: Matrix::new(d, count, crate::model::transpose(&means.concat(), count, d)),
            log_mass,
        }
    }

    /// How many rows an indexed scan reads at least.
    fn probe_rows(&self) -> usize {
        PROBE_MIN_ROWS.max((PROBE_SHARE * self.order.len() as f64) as usize)
    }

    /// The best `keep` rows (by int8 logit) for the query state `h`, and the normaliser.
    pub(crate) fn scan(&self, h: &[f32], keep: usize, scan: Scan) -> Found {
        let mut values = vec![0i8; h.len()];
        let scale = quantise_into(h, &mut values);
        let query = Query { values, scale };
        let (ranges, skipped) = match scan {
            Scan::Full => (std::iter::once(0..self.order.len()).collect(), Vec::new()),
            Scan::Indexed => self.probe(h),
        };
        let tasks = tasks(&ranges);
        let partials: Vec<Partial> = if tasks.len() == 1 {
            vec![self.scan_ranges(&query, &tasks[0], keep)]
        } else {
            tasks.par_iter().map(|ranges| self.scan_ranges(&query, ranges, keep)).collect()
        };
        let top = partials.iter().map(|p| p.top).chain(skipped.iter().copied()).fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = partials.iter().map(|p| p.sum * exp_nonpositive(p.top - top)).sum::<f32>()
            + skipped.iter().map(|&s| exp_nonpositive(s - top)).sum::<f32>();
        Found { best: partials.into_iter().flat_map(|p| p.best).collect(), log_partition: top + sum.ln() }
    }

    /// The positions an indexed scan reads (whole clusters, best `s_c` first, until
    /// [`OutputRows::probe_rows`]), and the `s_c` of the clusters it skips.
    fn probe(&self, h: &[f32]) -> (Vec<Range<usize>>, Vec<f32>) {
        let scores = self.mass_means.times(h, Path::Fast);
        let mut ranked: Vec<(f32, u32)> = scores
            .iter()
            .zip(&self.log_mass)
            .enumerate()
            .filter(|(_, (_, log_mass))| log_mass.is_finite())
            .map(|(c, (score, log_mass))| (score + log_mass, c as u32))
            .collect();
        ranked.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let (probe_rows, mut ranges, mut skipped, mut read) = (self.probe_rows(), Vec::new(), Vec::new(), 0);
        for (score, c) in ranked {
            if read < probe_rows {
                let range = self.starts[c as usize]..self.starts[c as usize + 1];
                read += range.len();
                ranges.push(range);
            } else {
                skipped.push(score);
            }
        }
        // Read in storage order.
        ranges.sort_unstable_by_key(|r| r.start);
        (ranges, skipped)
    }

    fn scan_ranges(&self, query: &Query, ranges: &[Range<usize>], keep: usize) -> Partial {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above).
            return unsafe { self.scan_ranges_avx2(query, ranges, keep) };
        }
        self.scan_ranges_portable(query, ranges, keep)
    }

    /// The same loop compiled for AVX2 (integer products are exact and nothing is contracted
    /// into fused multiply-adds, so the answer is the same bits).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn scan_ranges_avx2(&self, query: &Query, ranges: &[Range<usize>], keep: usize) -> Partial {
        self.scan_ranges_portable(query, ranges, keep)
    }

    #[inline(always)]
    fn scan_ranges_portable(&self, query: &Query, ranges: &[Range<usize>], keep: usize) -> Partial {
        let d = self.dim;
        let mut best: Vec<(u32, f32)> = Vec::with_capacity(2 * keep + SCAN_BLOCK);
        let mut floor = f32::NEG_INFINITY;
        let (mut top, mut sum) = (f32::NEG_INFINITY, 0.0f32);
        let mut logits = [0.0f32; SCAN_BLOCK];
        for range in ranges {
            for at in range.clone().step_by(SCAN_BLOCK) {
                let len = SCAN_BLOCK.min(range.end - at);
                let logits = &mut logits[..len];
                let rows = &self.quantised[at * d..][..len * d];
                for (r, (logit, row)) in logits.iter_mut().zip(rows.chunks_exact(d)).enumerate() {
                    *logit = int_dot(&query.values, row) as f32 * query.scale * self.scales[at + r] + self.bias[at + r];
                }
                let block_top = logits.iter().fold(f32::NEG_INFINITY, |m, &z| m.max(z));
                if block_top > top {
                    sum *= exp_nonpositive(top - block_top);
                    top = block_top;
                }
                sum += logits.iter().map(|&z| exp_nonpositive(z - top)).sum::<f32>();
                if block_top > floor {
                    for (r, &logit) in logits.iter().enumerate() {
                        if logit > floor {
                            best.push((self.order[at + r], logit));
                        }
                    }
                    if best.len() > 2 * keep {
                        best.select_nth_unstable_by(keep, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                        best.truncate(keep);
                        floor = best.iter().fold(f32::INFINITY, |m, x| m.min(x.1));
                    }
                }
            }
        }
        Partial { best, top, sum }
    }
}

/// `ranges` cut into tasks of about [`SCAN_CHUNK`] rows each (a long range split, short ones
/// grouped), in order.
fn tasks(ranges: &[Range<usize>]) -> Vec<Vec<Range<usize>>> {
    let mut tasks = vec![Vec::new()];
    let mut filled = 0;
    for range in ranges {
        let mut start = range.start;
        while start < range.end {
            if filled == SCAN_CHUNK {
                tasks.push(Vec::new());
                filled = 0;
            }
            let end = range.end.min(start + SCAN_CHUNK - filled);
            tasks.last_mut().expect("one task at least").push(start..end);
            filled += end - start;
            start = end;
        }
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{conditional, model::Shape};

    #[test]
    fn the_vectorisable_exp_is_within_a_few_ulp_of_libm() {
        for i in 0..=200_000 {
            let x = -87.0 * i as f32 / 200_000.0;
            let (got, want) = (exp_nonpositive(x), libm::expf(x));
            assert!((got - want).abs() <= 4.0 * f32::EPSILON * want, "e^{x}: {got} vs {want}");
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(f32::NEG_INFINITY) < 1e-37);
    }

    fn random_model(particles: usize, dim: usize, seed: u64) -> Model {
        let shape = Shape { particles, dim, hidden: 2 * dim, blocks: 1 };
        let mut gaussian = crate::linalg::Gaussian::new(seed);
        let embedding = (0..particles * dim).map(|_| gaussian.sample() as f32).collect();
        let bias = (0..particles).map(|_| gaussian.sample() as f32).collect();
        Model::initial(shape, embedding, bias, 1)
    }

    /// The int8 logit of every row, by id, as the scan computes it.
    fn int8_logits(rows: &OutputRows, h: &[f32]) -> Vec<f32> {
        let d = rows.dim;
        let mut hq = vec![0i8; d];
        let h_scale = quantise_into(h, &mut hq);
        let mut logits = vec![0.0f32; rows.order.len()];
        for (p, &j) in rows.order.iter().enumerate() {
            logits[j as usize] =
                int_dot(&hq, &rows.quantised[p * d..][..d]) as f32 * h_scale * rows.scales[p] + rows.bias[p];
        }
        logits
    }

    #[test]
    fn the_full_scan_finds_the_best_rows_and_the_partition_of_a_plain_loop() {
        // 40,037 particles: three scan tasks, the last one partial and ending in a partial block.
        let model = random_model(40_037, 16, 5);
        let rows = OutputRows::new(&model);
        let mut gaussian = crate::linalg::Gaussian::new(6);
        let h: Vec<f32> = (0..16).map(|_| gaussian.sample() as f32).collect();
        let found = rows.scan(&h, 64, Scan::Full);

        let logits = int8_logits(&rows, &h);
        let expected = conditional::top_k(logits.iter().enumerate().map(|(j, &z)| (j as u32, z as f64)), 64);
        let mut got = conditional::top_k(found.best.iter().map(|&(j, z)| (j, z as f64)), 64);
        got.sort_by_key(|&(j, _)| j);
        let mut expected: Vec<(u32, f64)> = expected;
        expected.sort_by_key(|&(j, _)| j);
        assert_eq!(got, expected);

        let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let partition = top + logits.iter().map(|&z| (z as f64 - top).exp()).sum::<f64>().ln();
        assert!((found.log_partition as f64 - partition).abs() < 1e-4, "{} vs {partition}", found.log_partition);
    }

    #[test]
    fn the_indexed_scan_reads_the_clusters_that_hold_the_mass() {
        // 64 well-separated groups of 300 rows; a query aimed at one group.
        let (groups, per, d) = (64, 300, 16);
        let mut gaussian = crate::linalg::Gaussian::new(7);
        let centres: Vec<f32> = (0..groups * d).map(|_| 3.0 * gaussian.sample() as f32).collect();
        let mut model = random_model(groups * per, d, 8);
        for (j, row) in model.embedding.chunks_exact_mut(d).enumerate() {
            let centre = &centres[(j % groups) * d..][..d];
            row.iter_mut().zip(centre).for_each(|(x, &c)| *x = c + 0.05 * *x);
        }
        model.bias.iter_mut().for_each(|b| *b *= 0.1);
        let rows = OutputRows::new(&model);
        let h: Vec<f32> = centres[5 * d..][..d].to_vec();
        let (full, indexed) = (rows.scan(&h, 64, Scan::Full), rows.scan(&h, 64, Scan::Indexed));
        let best = |found: &Found| {
            let mut best: Vec<u32> = conditional::top_k(found.best.iter().map(|&(j, z)| (j, z as f64)), 10)
                .into_iter()
                .map(|x| x.0)
                .collect();
            best.sort_unstable();
            best
        };
        assert_eq!(best(&indexed), best(&full));
        assert!(best(&full).iter().all(|&j| j as usize % groups == 5));
        // The skipped clusters' bounds leave the normaliser within a few percent.
        assert!(
            (indexed.log_partition - full.log_partition).abs() < 0.05,
            "{} vs {}",
            indexed.log_partition,
            full.log_partition
        );
        // It read a fraction of the rows.
        let (ranges, _) = rows.probe(&h);
        let read: usize = ranges.iter().map(|r| r.len()).sum();
        assert!(read < groups * per / 2, "read {read} rows");
    }

    #[test]
    fn unindexed_rows_are_read_whole_by_either_scan() {
        let model = random_model(20_011, 16, 9);
        let (unindexed, clustered) = (OutputRows::unindexed(&model), OutputRows::new(&model));
        assert!(!unindexed.is_indexed() && clustered.is_indexed());
        let mut gaussian = crate::linalg::Gaussian::new(10);
        let h: Vec<f32> = (0..16).map(|_| gaussian.sample() as f32).collect();
        let sorted = |found: Found| {
            let mut best = conditional::top_k(found.best.iter().map(|&(j, z)| (j, z as f64)), 64);
            best.sort_by_key(|&(j, _)| j);
            (best, found.log_partition)
        };
        let (indexed, full) =
            (sorted(unindexed.scan(&h, 64, Scan::Indexed)), sorted(unindexed.scan(&h, 64, Scan::Full)));
        assert_eq!(indexed, full, "one cluster: the indexed scan is the full scan");
        let clustered = sorted(clustered.scan(&h, 64, Scan::Full));
        assert_eq!(full.0, clustered.0, "the same best rows in either arrangement");
        assert!((full.1 - clustered.1).abs() < 1e-4, "{} vs {}", full.1, clustered.1);
        let mut grown = random_model(20_100, 16, 12);
        grown.embedding[..20_011 * 16].copy_from_slice(&model.embedding);
        assert!(!unindexed.refitted(&grown, |row| row >= 20_011).is_indexed(), "a fold-in keeps them unindexed");
    }

    #[test]
    fn a_fold_in_of_an_unindexed_model_takes_the_index_built_meanwhile() {
        let model = random_model(6_000, 8, 13);
        let served = crate::Served::unindexed(model.clone());
        let indexed = served.indexed();
        assert!(!served.is_indexed() && indexed.is_indexed());
        assert!(std::ptr::eq(served.model(), indexed.model()), "the index shares the weights");
        // A fold-in swapped in while the index was built: 200 new rows, the rest unchanged.
        let mut grown = random_model(6_200, 8, 14);
        grown.embedding[..6_000 * 8].copy_from_slice(&model.embedding);
        grown.bias[..6_000].copy_from_slice(&model.bias);
        let folded = crate::Served::unindexed(grown);
        let refitted = folded.with_index_of(&indexed);
        assert!(refitted.is_indexed());
        assert!(std::ptr::eq(refitted.model(), folded.model()));
        let cluster_of = |rows: &OutputRows, j: u32| {
            rows.starts.partition_point(|&s| s <= rows.order.iter().position(|&x| x == j).unwrap()) - 1
        };
        for j in (0..6_000).step_by(89) {
            assert_eq!(cluster_of(&refitted.rows, j), cluster_of(&indexed.rows, j), "row {j} stays in its cluster");
        }
        assert_eq!(refitted.rows.order.len(), 6_200);
    }

    #[test]
    fn refitted_rows_place_new_rows_and_keep_the_others() {
        let model = random_model(5_000, 8, 11);
        let rows = OutputRows::new(&model);
        let mut grown = random_model(5_300, 8, 12);
        grown.embedding[..5_000 * 8].copy_from_slice(&model.embedding);
        grown.bias[..5_000].copy_from_slice(&model.bias);
        let refitted = rows.refitted(&grown, |row| row >= 5_000);
        let cluster_of = |rows: &OutputRows, j: u32| {
            rows.starts.partition_point(|&s| s <= rows.order.iter().position(|&x| x == j).unwrap()) - 1
        };
        for j in (0..5_000).step_by(97) {
            assert_eq!(cluster_of(&refitted, j), cluster_of(&rows, j));
        }
        let h = vec![0.3f32; 8];
        let logits = int8_logits(&refitted, &h);
        assert_eq!(logits.len(), 5_300);
        let found = refitted.scan(&h, 64, Scan::Full);
        let top = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let partition = top + logits.iter().map(|&z| (z as f64 - top).exp()).sum::<f64>().ln();
        assert!((found.log_partition as f64 - partition).abs() < 1e-4);
    }
}
