//! The CPU backend: rayon over the machine's cores. Each output element is computed by one task
//! in a fixed order and every sum uses the reduction tree, so the bits do not depend on the
//! thread count.

use std::convert::Infallible;

use rayon::prelude::*;

use super::Backend;
use crate::{
    FocusOperator,
    adjacency::InRows,
    csr::Csr,
    dense,
    reduce::{fill_and_tree_sum, l1_distance, normalise, tree_sum, tree_sum_by},
    rows::WINDOW,
};

/// The CPU (the current rayon pool).
#[derive(Clone, Copy, Debug, Default)]
pub struct Cpu;

/// A focus solve's state on the CPU: the iterate, the next one, the teleport, and the step's
/// vectors.
#[derive(Debug)]
pub struct CpuFocusScratch {
    phi: Vec<f64>,
    next: Vec<f64>,
    teleport: Vec<f64>,
    step: StepScratch,
}

/// Scratch of one focus step, made for one operator: `φ ⊘ out`, and the tri-kernel's vectors
/// unless only diffusion runs.
#[derive(Debug)]
pub(crate) struct StepScratch {
    /// `φ_p / out_p` (0 when dangling).
    by_out: Vec<f64>,
    tri_kernel: Option<TriKernelScratch>,
}

/// The tri-kernel's vectors beside `φ ⊘ out`.
#[derive(Debug)]
struct TriKernelScratch {
    /// `φ_i / (μ + d_i)`.
    by_screen: Vec<f64>,
    /// The current heat walk divided by degree, `v_j / d_j` (0 when isolated), and the next one.
    by_degree: Vec<f64>,
    by_degree_next: Vec<f64>,
    /// The current heat walk `R^k φ`.
    heat_walk: Vec<f64>,
    /// `Σ_k π_k R^k φ` so far.
    heat_sum: Vec<f64>,
    springs: Vec<f64>,
    diffusion: Vec<f64>,
}

impl StepScratch {
    /// Scratch for steps of `op`.
    pub(crate) fn new(op: &FocusOperator) -> Self {
        let n = op.len();
        let v = || vec![0.0; n];
        let tri_kernel = (!op.params.diffusion_only()).then(|| TriKernelScratch {
            by_screen: v(),
            by_degree: v(),
            by_degree_next: v(),
            heat_walk: v(),
            heat_sum: v(),
            springs: v(),
            diffusion: v(),
        });
        StepScratch { by_out: v(), tri_kernel }
    }
}

impl Backend for Cpu {
    type Error = Infallible;
    type FocusScratch = CpuFocusScratch;

    fn name(&self) -> &'static str {
        "cpu"
    }

    fn spmv(&self, a: &Csr, x: &[f64], y: &mut [f64]) -> Result<(), Infallible> {
        a.spmv(x, y);
        Ok(())
    }

    fn tree_sum(&self, xs: &[f64]) -> Result<f64, Infallible> {
        Ok(tree_sum(xs))
    }

    fn l1_distance(&self, a: &[f64], b: &[f64]) -> Result<f64, Infallible> {
        Ok(l1_distance(a, b))
    }

    fn focus_scratch(&self, op: &FocusOperator, phi: &[f64], teleport: &[f64]) -> Result<CpuFocusScratch, Infallible> {
        let step = StepScratch::new(op);
        Ok(CpuFocusScratch { phi: phi.to_vec(), next: vec![0.0; phi.len()], teleport: teleport.to_vec(), step })
    }

    fn focus_iterate(&self, op: &FocusOperator, ws: &mut CpuFocusScratch) -> Result<f64, Infallible> {
        focus_step(op, &mut ws.step, &ws.phi, &ws.teleport, &mut ws.next);
        normalise(&mut ws.next);
        let distance = l1_distance(&ws.next, &ws.phi);
        std::mem::swap(&mut ws.phi, &mut ws.next);
        Ok(distance)
    }

    fn focus_vector(&self, ws: CpuFocusScratch) -> Result<Vec<f64>, Infallible> {
        Ok(ws.phi)
    }

    fn matmul(&self, x: &[f32], w: &dense::Matrix, path: dense::Path) -> Result<Vec<f32>, Infallible> {
        Ok(w.times(x, path))
    }
}

/// The rows of window `window` in visiting order, each with its place in the window.
fn window_rows(rows: &[u32], window: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
    rows.iter().map(move |&i| (i as usize, i as usize - window * WINDOW))
}

/// The fused step of [`FocusOperator::apply`], in its documented order.
pub(crate) fn focus_step(op: &FocusOperator, ws: &mut StepScratch, phi: &[f64], teleport: &[f64], out: &mut [f64]) {
    assert_eq!(op.adjacency.visit_order().len(), out.len(), "a step of another graph's size");
    match (&mut ws.tri_kernel, &op.in_rows) {
        (Some(tri_kernel), None) => tri_kernel_step(op, &mut ws.by_out, tri_kernel, phi, teleport, out),
        (None, Some(in_rows)) => diffusion_step(op, &mut ws.by_out, in_rows, phi, teleport, out),
        _ => panic!("scratch for another operator's terms"),
    }
}

/// PageRank mode's step (`λ_s = λ_h = 0`): `out_i = λ_d(1−α)·(Pφ)_i + λ_d·α·t_i`, one pass
/// over the in-links, written straight into `out`.
fn diffusion_step(
    op: &FocusOperator,
    by_out: &mut [f64],
    in_rows: &[InRows],
    phi: &[f64],
    teleport: &[f64],
    out: &mut [f64],
) {
    let (out_deg, prior, a_in, order) = (&op.out, &op.prior, op.adjacency.a_in(), op.adjacency.visit_order());
    assert_eq!(in_rows.len(), order.len().div_ceil(WINDOW), "in-links of another graph");
    // `φ ⊘ out` and the dangling mass `D` in one pass (`D` by the fixed tree).
    let dangling =
        fill_and_tree_sum(by_out, |i| if out_deg[i] > 0.0 { (phi[i] / out_deg[i], 0.0) } else { (0.0, phi[i]) });
    let (c_diffusion, c_teleport) =
        (op.params.lambda_d * (1.0 - op.params.alpha), op.params.lambda_d * op.params.alpha);
    let by_out = &*by_out;
    (out.par_chunks_mut(WINDOW), order.par_chunks(WINDOW), in_rows).into_par_iter().enumerate().for_each(
        |(window, (out, rows, in_rows))| {
            for (k, (i, at)) in window_rows(rows, window).enumerate() {
                let pulled =
                    in_rows.row(k).iter().fold(0.0, |acc, e| acc + a_in[e.kind as usize] * by_out[e.col as usize]);
                out[at] = c_diffusion * (pulled + prior[i] * dangling) + c_teleport * teleport[i];
            }
        },
    );
}

/// The tri-kernel's step: diffusion, springs and heat over `W`'s rows.
fn tri_kernel_step(
    op: &FocusOperator,
    by_out: &mut [f64],
    ws: &mut TriKernelScratch,
    phi: &[f64],
    teleport: &[f64],
    out: &mut [f64],
) {
    let p = &op.params;
    let (mu, out_deg, d, heat) = (p.mu, &op.out, &op.d, &op.heat);
    let (adjacency, a_in, w) = (&op.adjacency, op.adjacency.a_in(), op.adjacency.w());
    let (with_springs, with_heat) = (p.lambda_s > 0.0, p.lambda_h > 0.0);
    (&mut *by_out, &mut ws.by_screen, &mut ws.by_degree).into_par_iter().enumerate().for_each(|(i, (y, z, r))| {
        *y = if out_deg[i] > 0.0 { phi[i] / out_deg[i] } else { 0.0 };
        *z = phi[i] / (mu + d[i]);
        *r = if d[i] > 0.0 { phi[i] / d[i] } else { 0.0 };
    });
    let dangling = tree_sum_by(op.len(), |i| if out_deg[i] > 0.0 { 0.0 } else { phi[i] });

    // Diffusion pulls over Aᵀ (a row's entries without an in-link add +0.0); springs and the
    // first heat step pull over W, whose rows are the same adjacency rows, so one pass reads
    // each row once for all three (each sum still folds its row left to right from 0.0). The
    // pass also starts the heat sum and divides the walk by degree for the next step. Passes
    // over rows take each window of rows as one task and visit its rows in the adjacency's
    // storage order ([`Adjacency::visit_order`]); `at` is a row's place in its window.
    let (prior, by_out, order) = (&op.prior, &*by_out, adjacency.visit_order());
    assert_eq!(order.len(), ws.diffusion.len(), "scratch for another graph's size");
    let (by_screen, by_degree) = (&ws.by_screen, &ws.by_degree);
    let heat_1 = heat.get(1).copied();
    (
        ws.diffusion.par_chunks_mut(WINDOW),
        ws.springs.par_chunks_mut(WINDOW),
        ws.heat_walk.par_chunks_mut(WINDOW),
        ws.heat_sum.par_chunks_mut(WINDOW),
        ws.by_degree_next.par_chunks_mut(WINDOW),
        order.par_chunks(WINDOW),
    )
        .into_par_iter()
        .enumerate()
        .for_each(|(window, (y, s, walk, sum, next_by_degree, rows))| {
            for (i, at) in window_rows(rows, window) {
                let (mut pulled, mut springs, mut step) = (0.0, 0.0, 0.0);
                for e in adjacency.row(i) {
                    let (kind, c) = (e.kind as usize, e.col as usize);
                    pulled += a_in[kind] * by_out[c];
                    springs += w[kind] * by_screen[c];
                    step += w[kind] * by_degree[c];
                }
                y[at] = pulled + prior[i] * dangling;
                s[at] = mu * by_screen[i] + springs;
                walk[at] = if d[i] > 0.0 { step } else { phi[i] };
                sum[at] = match heat_1 {
                    Some(h1) => heat[0] * phi[i] + h1 * walk[at],
                    None => heat[0] * phi[i],
                };
                next_by_degree[at] = if d[i] > 0.0 { walk[at] / d[i] } else { 0.0 };
            }
        });
    std::mem::swap(&mut ws.by_degree, &mut ws.by_degree_next);
    if with_heat {
        for &weight in heat.iter().skip(2) {
            let by_degree = &ws.by_degree;
            (
                ws.heat_walk.par_chunks_mut(WINDOW),
                ws.heat_sum.par_chunks_mut(WINDOW),
                ws.by_degree_next.par_chunks_mut(WINDOW),
                order.par_chunks(WINDOW),
            )
                .into_par_iter()
                .enumerate()
                .for_each(|(window, (walk, sum, next_by_degree, rows))| {
                    for (i, at) in window_rows(rows, window) {
                        if d[i] > 0.0 {
                            walk[at] = adjacency.row_dot(i, w, by_degree);
                        }
                        sum[at] += weight * walk[at];
                        next_by_degree[at] = if d[i] > 0.0 { walk[at] / d[i] } else { 0.0 };
                    }
                });
            std::mem::swap(&mut ws.by_degree, &mut ws.by_degree_next);
        }
    }

    let (c_diffusion, c_teleport) = (p.lambda_d * (1.0 - p.alpha), p.lambda_d * p.alpha);
    let (diffusion, springs, heat_sum) = (&ws.diffusion, &ws.springs, &ws.heat_sum);
    out.par_iter_mut().enumerate().for_each(|(i, o)| {
        let mut value = c_diffusion * diffusion[i];
        if with_springs {
            value += p.lambda_s * springs[i];
        }
        if with_heat {
            value += p.lambda_h * heat_sum[i];
        }
        *o = value + c_teleport * teleport[i];
    });
}
