//! `cybergraph compile`: distils the focus of a data directory's tip into a model file, and with
//! `--eval` prints its quality against the exact conditional focus on held-out particles.

use std::path::PathBuf;

use anyhow::{Context, Result};
use compiler::{
    Graph, Progress, Served, Settings,
    eval::{self, Method},
};
use engine::{Particle, ids::Height};
use indicatif::{ProgressBar, ProgressStyle};

use crate::data_dir::DataDir;

/// What to compile and how.
#[derive(clap::Args, Debug)]
pub(crate) struct CompileArgs {
    /// Where to write the model file [default: <data>/models/<cid>.safetensors].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Evaluate on held-out query particles and print the table (lines with `recall@10`).
    #[arg(long)]
    eval: bool,
    /// Held-out queries to evaluate on.
    #[arg(long, default_value_t = 200)]
    eval_queries: usize,
    /// Per-particle residual thresholds of the exact push rows in the table.
    #[arg(long, value_delimiter = ',', default_values_t = [compiler::conditional::EXACT.threshold])]
    exact_thresholds: Vec<f64>,
    /// Embedding width.
    #[arg(long, default_value_t = Settings::default().dim)]
    dim: usize,
    /// Training queries.
    #[arg(long, default_value_t = Settings::default().queries)]
    queries: usize,
    /// Optimiser steps.
    #[arg(long, default_value_t = Settings::default().steps)]
    steps: usize,
    /// Seed of every random choice (same graph + settings + seed → same file, byte for byte).
    #[arg(long, default_value_t = Settings::default().seed)]
    seed: u64,
}

impl CompileArgs {
    fn settings(&self) -> Settings {
        let dim = self.dim.max(1);
        Settings {
            dim,
            hidden: 2 * dim,
            queries: self.queries,
            steps: self.steps,
            seed: self.seed,
            ..Settings::default()
        }
    }
}

pub(super) fn run(data: &DataDir, args: &CompileArgs) -> Result<()> {
    let db = data.db_for_reading();
    let store = engine::store::open_read_only(&db)?;
    let state = engine::chain_state(&store)?;
    let height = state.tip().0.height;
    let focus = engine::focus::focus_at(&store, Height(height))?.context("the tip's focus is not stored yet")?;
    let operator = state.focus_operator()?;
    let order = compiler::conditional::focus_order(&focus);
    let graph = Graph { operator: &operator, focus: &focus, order: &order };
    let settings = args.settings();
    eprintln!(
        "compiling height {height}: {} particles, {} links; d = {}, {} queries, {} steps",
        focus.len(),
        operator.edge_count(),
        settings.dim,
        settings.queries,
        settings.steps
    );
    let bar = ProgressBar::new(1).with_style(
        ProgressStyle::with_template("{msg:>9} [{bar:40}] {pos}/{len} {elapsed_precise}").expect("a valid template"),
    );
    let progress = |p: Progress| match p {
        Progress::Teacher { done, total } => {
            bar.set_message("teacher");
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
        Progress::Initialising => bar.set_message("svd"),
        Progress::Training { step, steps, loss } => {
            bar.set_message(format!("KL {loss:.3}"));
            bar.set_length(steps as u64);
            bar.set_position(step as u64);
        }
    };
    let compiled = compiler::compile(&graph, &settings, &progress);
    bar.finish_and_clear();
    let bytes = compiled.file(height).to_bytes();
    let cid = Particle::of_content(&bytes).cid();
    let out = match &args.out {
        Some(out) => out.clone(),
        None => data.models().join(format!("{cid}.safetensors")),
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&out, &bytes).with_context(|| format!("writing {}", out.display()))?;
    let [teacher, init, train] = compiled.seconds;
    println!("model      {cid}");
    println!("file       {} ({:.1} MB)", out.display(), bytes.len() as f64 / 1e6);
    println!(
        "compiled   {:.1} s (teacher {teacher:.1} s, svd {init:.1} s, training {train:.1} s)",
        teacher + init + train
    );
    println!("examples   {} (final KL {:.3} nats)", compiled.examples, compiled.final_loss);
    if args.eval {
        let queries = eval::queries(&compiled.held_out, args.eval_queries);
        eprintln!(
            "evaluating on {} held-out query particles (references at ε = {:e})",
            queries.len(),
            eval::REFERENCE_EPSILON
        );
        let references = eval::references(&graph, &queries);
        let (spectral, trained) = (Served::new(compiled.spectral), Served::new(compiled.model));
        let d = settings.dim;
        let methods = [
            (format!("spectral baseline (d = {d})"), Method::ModelOnly(&spectral)),
            (format!("model alone (d = {d})"), Method::ModelOnly(&trained)),
            (format!("served hybrid (d = {d})"), Method::Hybrid(&trained)),
        ];
        let mut methods = Vec::from(methods);
        for &threshold in &args.exact_thresholds {
            let limits = kernels::PushLimits { threshold, ..compiler::conditional::EXACT };
            methods.push((format!("exact push (θ = {threshold:e})"), Method::Exact(limits)));
        }
        let rows = eval::evaluate(&graph, &queries, &references, &methods);
        println!("{:<28} {:>10} {:>8} {:>9} {:>9} {:>9}", "path", "recall@10", "NDCG@10", "KL", "p50 µs", "p99 µs");
        for row in rows {
            println!(
                "{:<28} recall@10 {:.3} {:>8.3} {:>9.4} {:>9.0} {:>9.0}",
                row.name, row.recall_at_10, row.ndcg_at_10, row.kl, row.p50_micros, row.p99_micros
            );
        }
    }
    Ok(())
}
