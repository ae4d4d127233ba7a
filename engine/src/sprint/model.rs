//! The Sprint function: a Llama-style pre-norm transformer with seeded weights (spec/sprint.md
//! §3), and the reference forward pass validators trust.
//!
//! One deliberate departure from spec §3's init, because the spec's own shortcut test fails
//! with it: under `N(0, 1/fan_in)` weights and residual-branch outputs scaled by `1/√(2·layers)`
//! the input keeps most of the residual stream, and the layer-free shortcut's output correlated
//! 0.84 with the real one on both tiny and small (0.92 when skipping the back half). Here every
//! weight is `N(0, 1/fan_in)` and each residual update is `h ← h·RESIDUAL_DECAY + branch(h)`:
//! the stream forgets its past geometrically, so each block's input is dominated by the
//! previous block's output and neither skipping all layers nor the back half predicts a hit
//! (measured correlation below 0.02 on tiny and small; the shortcut tests below hold it).
//!
//! Reference path rules: f32, every dot product and sum left to right in index order, no fused
//! multiply-add (Rust never contracts), `exp`/`ln`/`sin`/`cos`/`sqrt` from the platform's IEEE
//! implementation only where the spec needs them. Fast paths are checked against it within δ.

use super::{Profile, Seed, Stream, input_seed, perm_seed, target_seed, tensor_seed};

/// The residual stream's decay per branch. A power of two, so `h·RESIDUAL_DECAY` is exact and
/// adds no rounding of its own; part of every profile's hash.
pub const RESIDUAL_DECAY: f32 = 0.125;

/// A row-major `rows × cols` matrix.
struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// `N(0, 1/fan_in)` from the tensor's own stream (`fan_in` = rows: `y = x·W`).
    fn seeded(sprint: &Seed, name: &str, rows: usize, cols: usize) -> Self {
        let mut stream = Stream::new(&tensor_seed(sprint, name));
        let std = (1.0 / rows as f32).sqrt();
        Matrix { rows, cols, data: (0..rows * cols).map(|_| stream.normal() * std).collect() }
    }

    /// `x·W` for one row vector `x` (length `rows`). Each output sums `x_i·W[i][j]` over `i`
    /// ascending; walking `W` row by row keeps that order for every `j` while reading memory
    /// contiguously (and lets the compiler vectorise across `j`).
    fn apply(&self, x: &[f32]) -> Vec<f32> {
        debug_assert_eq!(x.len(), self.rows);
        let mut out = vec![0.0f32; self.cols];
        for (xi, row) in x.iter().zip(self.data.chunks_exact(self.cols)) {
            for (o, w) in out.iter_mut().zip(row) {
                *o += xi * w;
            }
        }
        out
    }
}

struct Layer {
    wq: Matrix,
    wk: Matrix,
    wv: Matrix,
    wo: Matrix,
    w1: Matrix,
    w3: Matrix,
    w2: Matrix,
}

/// The model of one Sprint: weights generated from the sprint seed.
pub struct Model {
    profile: Profile,
    sprint: Seed,
    layers: Vec<Layer>,
    output: Matrix,
    target: Vec<f32>,
}

/// The outcome of one nonce.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// The last position's logits (length `vocab`).
    pub logits: Vec<f32>,
    /// `‖z − target‖₂`.
    pub distance: f32,
    /// Whether `distance < r` (strict).
    pub hit: bool,
}

fn rms_norm(x: &[f32]) -> Vec<f32> {
    let mean_square = x.iter().fold(0.0f32, |acc, v| acc + v * v) / x.len() as f32;
    let scale = 1.0 / (mean_square + 1e-6).sqrt();
    x.iter().map(|v| v * scale).collect()
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// Rotary position embedding of one head's vector at `position`, pairs `(2i, 2i + 1)`.
fn rope(v: &mut [f32], position: usize) {
    let half = v.len() / 2;
    for i in 0..half {
        let theta = (position as f32) * 10_000f32.powf(-2.0 * i as f32 / v.len() as f32);
        let (sin, cos) = theta.sin_cos();
        let (a, b) = (v[2 * i], v[2 * i + 1]);
        v[2 * i] = a * cos - b * sin;
        v[2 * i + 1] = a * sin + b * cos;
    }
}

impl Model {
    /// Generates every tensor (each from its own stream, so this parallelises and could be lazy).
    pub fn new(profile: Profile, sprint: Seed) -> Self {
        let (d, f, l) = (profile.width, profile.hidden, profile.layers);
        let layers = (0..l)
            .map(|i| {
                let m = |name: &str, rows, cols| Matrix::seeded(&sprint, &format!("layer{i}.{name}"), rows, cols);
                Layer {
                    wq: m("wq", d, d),
                    wk: m("wk", d, d),
                    wv: m("wv", d, d),
                    wo: m("wo", d, d),
                    w1: m("w1", d, f),
                    w3: m("w3", d, f),
                    w2: m("w2", f, d),
                }
            })
            .collect();
        let output = Matrix::seeded(&sprint, "output", d, profile.vocab);
        let mut stream = Stream::new(&target_seed(&sprint));
        let target = normalised((0..profile.vocab).map(|_| stream.normal()).collect());
        Model { profile, sprint, layers, output, target }
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The Sprint's seed.
    pub fn sprint(&self) -> &Seed {
        &self.sprint
    }

    /// The reference forward pass for one nonce of one node.
    pub fn evaluate(&self, node: &Seed, nonce: u64) -> Verdict {
        self.evaluate_layers(node, nonce, self.layers.len())
    }

    /// The forward pass through the first `layers` layers only (the shortcut test uses it).
    pub fn evaluate_layers(&self, node: &Seed, nonce: u64, layers: usize) -> Verdict {
        let p = &self.profile;
        let input = input_seed(&self.sprint, node, nonce);
        let mut stream = Stream::new(&input);
        let mut x: Vec<Vec<f32>> = (0..p.seq).map(|_| (0..p.width).map(|_| stream.normal()).collect()).collect();
        for layer in &self.layers[..layers] {
            self.block(layer, &mut x);
        }
        let last = rms_norm(&x[p.seq - 1]);
        let logits = self.output.apply(&last);
        let perm = Stream::new(&perm_seed(&input)).permutation(p.vocab);
        let z = normalised(perm.iter().map(|&i| logits[i as usize]).collect());
        let distance = z.iter().zip(&self.target).fold(0.0f32, |acc, (a, b)| acc + (a - b) * (a - b)).sqrt();
        Verdict { logits, distance, hit: f64::from(distance) < p.radius }
    }

    fn block(&self, layer: &Layer, x: &mut [Vec<f32>]) {
        let p = &self.profile;
        let head = p.width / p.heads;
        let normed: Vec<Vec<f32>> = x.iter().map(|row| rms_norm(row)).collect();
        let project = |m: &Matrix, rope_it: bool| -> Vec<Vec<f32>> {
            normed
                .iter()
                .enumerate()
                .map(|(t, row)| {
                    let mut v = m.apply(row);
                    if rope_it {
                        v.chunks_mut(head).for_each(|h| rope(h, t));
                    }
                    v
                })
                .collect()
        };
        let (q, k, v) = (project(&layer.wq, true), project(&layer.wk, true), project(&layer.wv, false));
        let scale = 1.0 / (head as f32).sqrt();
        for t in 0..p.seq {
            let mut attended = vec![0.0f32; p.width];
            for h in 0..p.heads {
                let span = h * head..(h + 1) * head;
                // Causal: position t sees 0..=t.
                let scores: Vec<f32> = (0..=t)
                    .map(|s| {
                        q[t][span.clone()].iter().zip(&k[s][span.clone()]).fold(0.0f32, |a, (x, y)| a + x * y) * scale
                    })
                    .collect();
                let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let weights: Vec<f32> = scores.iter().map(|s| (s - max).exp()).collect();
                let total = weights.iter().fold(0.0f32, |a, w| a + w);
                for (s, w) in weights.iter().enumerate() {
                    for (o, vv) in attended[span.clone()].iter_mut().zip(&v[s][span.clone()]) {
                        *o += (w / total) * vv;
                    }
                }
            }
            let out = layer.wo.apply(&attended);
            x[t].iter_mut().zip(out).for_each(|(xi, o)| *xi = *xi * RESIDUAL_DECAY + o);
        }
        for row in x.iter_mut() {
            let h = rms_norm(row);
            let (gate, up) = (layer.w1.apply(&h), layer.w3.apply(&h));
            let hidden: Vec<f32> = gate.iter().zip(&up).map(|(g, u)| silu(*g) * u).collect();
            row.iter_mut().zip(layer.w2.apply(&hidden)).for_each(|(xi, o)| *xi = *xi * RESIDUAL_DECAY + o);
        }
    }
}

fn normalised(v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().fold(0.0f32, |a, x| a + x * x).sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sprint::{SMALL, TINY, node_seed, sprint_seed};

    #[test]
    fn the_row_walk_is_bit_identical_to_the_plain_dot_products() {
        let m = Matrix::seeded(&sprint_seed(b"m"), "m", 37, 23);
        let mut stream = Stream::new(&[4; 32]);
        let x: Vec<f32> = (0..37).map(|_| stream.normal()).collect();
        let plain: Vec<f32> = (0..23).map(|j| (0..37).fold(0.0f32, |acc, i| acc + x[i] * m.data[i * 23 + j])).collect();
        let walked = m.apply(&x);
        assert!(plain.iter().zip(&walked).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    fn tiny() -> (Model, Seed) {
        (Model::new(TINY, sprint_seed(b"golden")), node_seed(&[9; 32]))
    }

    /// Golden outputs of the tiny profile, bit for bit. `scripts/sprint_reference.py` — an
    /// independent f64 implementation written from the spec, with its own ChaCha20 — gives
    /// logits −0.699105 0.428150 0.377868 −0.649683 1.770168 0.150179 −0.159753 0.522053 and
    /// distance 1.438173 for nonce 42, and distance 1.338524 (a hit) for nonce 29: the same to
    /// within f32 rounding (≤ 2e-6).
    #[test]
    fn the_reference_pass_matches_its_golden_outputs() {
        let (model, node) = tiny();
        let a = model.evaluate(&node, 42);
        assert_eq!(a, model.evaluate(&node, 42));
        assert_eq!(a.logits.len(), 256);
        let first: Vec<u32> = a.logits[..8].iter().map(|x| x.to_bits()).collect();
        let golden = [0xbf32f893, 0x3edb366f, 0x3ec177a2, 0xbf26519c, 0x3fe294e6, 0x3e19c866, 0xbe2395ee, 0x3f05a532];
        assert_eq!(first, golden);
        assert_eq!((a.distance.to_bits(), a.hit), (0x3fb8160b, false));
        let hit = model.evaluate(&node, 29);
        assert_eq!((hit.distance.to_bits(), hit.hit), (0x3fab54bd, true));
        assert!((0..29).all(|n| !model.evaluate(&node, n).hit), "29 is the first hit");
    }

    #[test]
    fn the_hit_rate_is_the_profiles_chance() {
        // 4,000 tiny nonces at p = 1/16: mean 250, σ ≈ 15.3; ±4σ keeps a false alarm below 1e-4.
        let (model, node) = tiny();
        let hits = (0..4000).filter(|&n| model.evaluate(&node, n).hit).count();
        assert!((190..=310).contains(&hits), "{hits} hits in 4000 (expected ~250)");
    }

    /// The shortcut test of spec §3: evaluating only the first `layers` layers must predict the
    /// true hits no better than chance. Checked two ways over `nonces` nonces: the hit sets'
    /// overlap against its independence expectation, and the correlation of the two cosines
    /// to the target (standard error ≈ 1/√nonces; spec §3's init gave 0.84).
    fn assert_shortcut_fails(model: &Model, layers: usize, nonces: u64) {
        let node = node_seed(&[9; 32]);
        let cosine = |v: &Verdict| 1.0 - f64::from(v.distance).powi(2) / 2.0;
        let (mut full, mut cut) = (Vec::new(), Vec::new());
        for n in 0..nonces {
            full.push(model.evaluate(&node, n));
            cut.push(model.evaluate_layers(&node, n, layers));
        }
        let hits = |v: &[Verdict]| v.iter().filter(|v| v.hit).count() as f64;
        let both = full.iter().zip(&cut).filter(|(f, c)| f.hit && c.hit).count() as f64;
        let expected = hits(&full) * hits(&cut) / nonces as f64;
        let name = model.profile.name;
        assert!(
            both < expected + 4.0 * expected.sqrt() + 3.0,
            "{name}, {layers} layers: {both} shared hits, {expected:.1} by chance"
        );
        let (a, b): (Vec<f64>, Vec<f64>) = full.iter().zip(&cut).map(|(f, c)| (cosine(f), cosine(c))).unzip();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (ma, mb) = (mean(&a), mean(&b));
        let covariance: f64 = a.iter().zip(&b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let spread = |v: &[f64], m: f64| v.iter().map(|x| (x - m).powi(2)).sum::<f64>().sqrt();
        let correlation = covariance / (spread(&a, ma) * spread(&b, mb));
        assert!(
            correlation.abs() < 5.0 / (nonces as f64).sqrt(),
            "{name}, {layers} layers: correlation {correlation:.3}"
        );
    }

    #[test]
    fn skipping_all_layers_or_the_back_half_predicts_nothing_on_tiny() {
        let (model, _) = tiny();
        assert_shortcut_fails(&model, 0, 3000);
        assert_shortcut_fails(&model, 1, 3000);
    }

    #[test]
    fn skipping_all_layers_or_the_back_half_predicts_nothing_on_small() {
        let model = Model::new(SMALL, sprint_seed(b"shortcut"));
        assert_shortcut_fails(&model, 0, 1000);
        assert_shortcut_fails(&model, 2, 1000);
    }

    #[test]
    #[ignore = "slow: 20k small-profile nonces (run with --ignored)"]
    fn the_small_profile_hit_rate_over_20k_nonces() {
        let model = Model::new(SMALL, sprint_seed(b"stats"));
        let node = node_seed(&[3; 32]);
        let hits = (0..20_000).filter(|&n| model.evaluate(&node, n).hit).count();
        // p = 1/50 → mean 400, σ ≈ 19.8; 99% interval ≈ ±2.576σ.
        assert!((349..=451).contains(&hits), "{hits}");
    }
}
