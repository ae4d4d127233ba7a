//! `cybergraph focus`: the focus of an edge list, for auditors recomputing focus offline.

use std::{
    io::{BufWriter, Write},
    path::Path,
    time::Instant,
};

use anyhow::{Context, Result};

use crate::{data_dir::DataDir, device::DeviceChoice};
use kernels::{FocusOperator, FocusParams, edge_list::EdgeList};
use serde_json::json;

/// Reads an edge list file ([`kernels::edge_list`]).
fn read_edges(path: &Path) -> Result<EdgeList> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    EdgeList::read(std::io::BufReader::new(file)).with_context(|| format!("reading {}", path.display()))
}

pub(super) fn run_focus(
    edges: &Path,
    out: &Path,
    threads: Option<usize>,
    choice: DeviceChoice,
    params: FocusParams,
) -> Result<()> {
    params.validate()?;
    let EdgeList { particles: n, edges: edge_list } = read_edges(edges)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads.unwrap_or(0)).build()?;
    let device = crate::device::open(choice)?;
    let start = Instant::now();
    let (operator, solution) = pool.install(|| -> Result<_> {
        let operator = FocusOperator::from_edges(n, &edge_list, params)?;
        let (solution, failure) = device.solve(&operator, None);
        match failure {
            // `cuda` insists on the GPU; `auto` takes the CPU's answer, as `serve` does.
            Some(error) if choice == DeviceChoice::Cuda => return Err(error.into()),
            Some(error) => eprintln!("the GPU failed ({error}); solved on the CPU"),
            None => {}
        }
        Ok((operator, solution))
    })?;
    let wall = start.elapsed();
    let mut writer = BufWriter::new(std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?);
    for value in &solution.pi {
        // Rust prints the shortest decimal that parses back to the same f64.
        writeln!(writer, "{value}")?;
    }
    writer.flush()?;
    let summary = json!({
        "particles": n,
        "edges": edge_list.len(),
        "distinct_edges": operator.edge_count(),
        "iterations": solution.iterations,
        "bound": solution.bound,
        "converged": solution.converged,
        "syntropy_nats": solution.syntropy,
        "syntropy_bits": solution.syntropy / std::f64::consts::LN_2,
        "threads": pool.current_num_threads(),
        "device": device.describe(),
        "wall_ms": wall.as_secs_f64() * 1e3,
    });
    eprintln!("{summary}");
    Ok(())
}

/// Writes the tip's diffusion matrix `A` as `src dst weight` lines ([`kernels::edge_list`]).
/// Shortest round-trip decimals, so the weights read back bit for bit.
pub(super) fn export_edges(data: &DataDir, out: &Path) -> Result<()> {
    let state = super::chain::read_state(data)?;
    let a_t = state.focus_operator()?.diffusion_matrix();
    let mut writer = BufWriter::new(std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?);
    let height = state.counts().height;
    writeln!(writer, "# chain {} height {height} particles {}", state.chain_id(), a_t.rows())?;
    for to in 0..a_t.rows() {
        let (from, weights) = a_t.row(to);
        for (from, weight) in from.iter().zip(weights) {
            writeln!(writer, "{from} {to} {weight}")?;
        }
    }
    writer.flush()?;
    eprintln!("{}", json!({ "height": height, "particles": a_t.rows(), "edges": a_t.nnz() }));
    Ok(())
}

/// Focus parameters (spec/focus.md); defaults are the spec's.
#[derive(clap::Args, Debug)]
pub(super) struct FocusArgs {
    /// Weight of diffusion λ_d.
    #[arg(long, default_value_t = 0.5)]
    lambda_d: f64,
    /// Weight of the screened springs λ_s.
    #[arg(long, default_value_t = 0.3)]
    lambda_s: f64,
    /// Weight of the heat kernel λ_h.
    #[arg(long, default_value_t = 0.2)]
    lambda_h: f64,
    /// Teleport probability α.
    #[arg(long, default_value_t = 0.15)]
    alpha: f64,
    /// Springs screening μ.
    #[arg(long, default_value_t = 1.0)]
    mu: f64,
    /// Heat-kernel time τ.
    #[arg(long, default_value_t = 1.0)]
    tau: f64,
    /// Heat series terms K.
    #[arg(long, default_value_t = 6)]
    heat_terms: usize,
    /// Accuracy ε (ℓ1).
    #[arg(long, default_value_t = 1e-8)]
    epsilon: f64,
}

impl FocusArgs {
    pub(super) fn params(&self) -> kernels::FocusParams {
        kernels::FocusParams {
            lambda_d: self.lambda_d,
            lambda_s: self.lambda_s,
            lambda_h: self.lambda_h,
            alpha: self.alpha,
            mu: self.mu,
            tau: self.tau,
            heat_terms: self.heat_terms,
            epsilon: self.epsilon,
        }
    }
}
