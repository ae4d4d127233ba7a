//! `cybergraph compile`: distils the focus of a data directory's tip into a model file, and with
//! `--eval` prints its quality against the exact conditional focus on held-out particles.

use std::path::PathBuf;

use anyhow::{Context, Result};
use compiler::{
    Compiled, Graph, ModelFile, Progress, Scan, Served, Settings,
    eval::{self, Method},
};
use engine::{Particle, ids::Height};
use indicatif::{ProgressBar, ProgressStyle};
use kernels::FocusOperator;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

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
    /// Evaluate this model file (compiled from this data, perhaps at an earlier height)
    /// instead of compiling one.
    #[arg(long, value_name = "FILE")]
    evaluate: Option<PathBuf>,
    /// Held-out queries to evaluate on.
    #[arg(long, default_value_t = 200)]
    eval_queries: usize,
    /// Evaluate on the particles listed in this file (one CID per line; e.g. the hubs of
    /// `scripts/make-hub-graph.py`) instead of held-out ones.
    #[arg(long, value_name = "FILE")]
    eval_particles: Option<PathBuf>,
    /// Per-particle residual thresholds of the exact push rows in the table.
    #[arg(long, value_delimiter = ',', default_values_t = [compiler::conditional::EXACT.threshold])]
    exact_thresholds: Vec<f64>,
    /// After the table (implies `--eval`), add this many new links (each closing a triangle: a
    /// particle, a neighbour's neighbour) and evaluate the same model on the grown graph without
    /// recompiling, once per count.
    #[arg(long, value_delimiter = ',')]
    drift_links: Vec<usize>,
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
    let (model, spectral, settings) = match &args.evaluate {
        Some(file) => {
            let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            let file = ModelFile::from_bytes(&bytes)?;
            let settings: Settings = file
                .metadata
                .get("settings")
                .and_then(|s| serde_json::from_str(s).ok())
                .context("the model file does not say what it was compiled with")?;
            let mut model = file.model;
            anyhow::ensure!(
                model.shape.particles <= focus.len(),
                "the model covers {} particles, this graph has {}: compiled from other data",
                model.shape.particles,
                focus.len()
            );
            compiler::train::fold_in(&mut model, &graph);
            (model, None, settings)
        }
        None => {
            let compiled = compile(data, args, &graph, height)?;
            (compiled.model, Some(compiled.spectral), compiled.settings)
        }
    };
    if !(args.eval || args.evaluate.is_some() || !args.drift_links.is_empty()) {
        return Ok(());
    }
    let queries = match &args.eval_particles {
        Some(file) => listed_particles(&state, file)?,
        None => {
            let held_out = compiler::teacher::held_out(&graph, settings.held_out_permille, settings.seed);
            eval::queries(&held_out, args.eval_queries)
        }
    };
    let which = if args.eval_particles.is_some() { "listed" } else { "held-out" };
    eprintln!(
        "evaluating on {} {which} query particles (references at ε = {:e})",
        queries.len(),
        eval::REFERENCE_EPSILON
    );
    let references = eval::references(&graph, &queries);
    let (spectral, trained) = (spectral.map(Served::new), Served::new(model));
    let d = settings.dim;
    let mut methods = Vec::new();
    if let Some(spectral) = &spectral {
        methods.push((format!("spectral baseline (d = {d})"), Method::ModelOnly(spectral)));
    }
    methods.push((format!("model alone (d = {d})"), Method::ModelOnly(&trained)));
    methods.push((format!("served hybrid (d = {d})"), Method::Hybrid(&trained, Scan::Indexed)));
    // The same with every row scanned: the spec allows the index if it keeps ≥ 0.99 of the full
    // scan's recall@10.
    methods.push(("served hybrid, full scan".to_string(), Method::Hybrid(&trained, Scan::Full)));
    for &threshold in &args.exact_thresholds {
        let limits = kernels::PushLimits { threshold, ..compiler::conditional::EXACT };
        methods.push((format!("exact push (θ = {threshold:e})"), Method::Exact(limits)));
    }
    print_rows(&eval::evaluate(&graph, &queries, &references, &methods));
    if args.drift_links.is_empty() {
        return Ok(());
    }
    // The node's drift check on the same graphs (its probes, its fold-in), and what it costs.
    let (probes, pool) = (crate::compile_job::probes(&graph), compiler::ScratchPool::default());
    let baseline = eval::probe_divergence(&graph, &pool, &trained, &probes);
    for &links in &args.drift_links {
        let grown = grow(&operator, links, settings.seed)?;
        let solution = grown.solve(Some(&focus));
        let order = compiler::conditional::focus_order(&solution.pi);
        let later = Graph { operator: &grown, focus: &solution.pi, order: &order };
        let started = std::time::Instant::now();
        let folded = trained.folded_in(&later);
        let fold_in = match folded {
            Some(_) => format!("fold-in {:.0} ms", started.elapsed().as_secs_f64() * 1e3),
            None => "no new particle to fold in".into(),
        };
        let served = folded.as_ref().unwrap_or(&trained);
        let started = std::time::Instant::now();
        let divergence = eval::probe_divergence(&later, &pool, served, &probes);
        let drift = format!(
            "probe-set drift at +{links} links: {:+.3} nats ({} probes, {baseline:.3} → {divergence:.3}; check {:.0} ms); {fold_in}",
            divergence - baseline,
            probes.len(),
            started.elapsed().as_secs_f64() * 1e3
        );
        println!("after {links} new links, not recompiled:");
        let methods = [
            (format!("model alone (d = {d})"), Method::ModelOnly(served)),
            (format!("served hybrid (d = {d})"), Method::Hybrid(served, Scan::Indexed)),
            ("exact push".to_string(), Method::Exact(compiler::conditional::EXACT)),
        ];
        print_rows(&eval::evaluate(&later, &queries, &eval::references(&later, &queries), &methods));
        println!("{drift}");
    }
    Ok(())
}

/// The index of every particle listed in `file` (one CID per line).
fn listed_particles(state: &engine::ChainState, file: &std::path::Path) -> Result<Vec<u32>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    text.split_whitespace()
        .map(|cid| {
            let particle = Particle::parse(cid).with_context(|| format!("{}: {cid} is not a CID", file.display()))?;
            let idx = state.particle_idx(&particle).with_context(|| format!("{cid} is not in this graph"))?;
            Ok(idx.0)
        })
        .collect()
}

/// Compiles `graph` (the focus at `height`) with the arguments' settings, writes the model file
/// and prints what it cost.
fn compile(data: &DataDir, args: &CompileArgs, graph: &Graph<'_>, height: u64) -> Result<Compiled> {
    let settings = args.settings();
    eprintln!(
        "compiling height {height}: {} particles, {} links; d = {}, {} queries, {} steps",
        graph.focus.len(),
        graph.operator.edge_count(),
        settings.dim,
        settings.queries,
        settings.steps
    );
    let bar = ProgressBar::new(1).with_style(
        ProgressStyle::with_template("{msg:>9} [{bar:40}] {pos}/{len} {elapsed_precise}").expect("a valid template"),
    );
    let progress = |p: Progress| {
        match p {
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
        }
        std::ops::ControlFlow::Continue(())
    };
    let compiled = compiler::compile(graph, &settings, &progress).context("the compile stopped")?;
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
    Ok(compiled)
}

fn print_rows(rows: &[eval::Row]) {
    println!("{:<28} {:>10} {:>8} {:>9} {:>9} {:>9}", "path", "recall@10", "NDCG@10", "KL", "p50 µs", "p99 µs");
    for row in rows {
        println!(
            "{:<28} recall@10 {:.3} {:>8.3} {:>9.4} {:>9.0} {:>9.0}",
            row.name, row.recall_at_10, row.ndcg_at_10, row.kl, row.p50_micros, row.p99_micros
        );
    }
}

/// `operator`'s graph with `count` new links, each from a random linked particle to a random
/// neighbour of a random neighbour that it does not link yet (closing a triangle, as related
/// things get linked), weighted like the median link so the scale `max A` stays. Deterministic
/// in `seed`; refuses a graph with too few open triangles.
fn grow(operator: &FocusOperator, count: usize, seed: u64) -> Result<FocusOperator> {
    let adjacency = operator.diffusion_matrix();
    let mut edges: Vec<(u32, u32, f64)> = Vec::with_capacity(adjacency.nnz() + count);
    for to in 0..adjacency.rows() {
        let (sources, weights) = adjacency.row(to);
        edges.extend(sources.iter().zip(weights).map(|(&from, &w)| (from, to as u32, w)));
    }
    let mut weights: Vec<f64> = edges.iter().map(|e| e.2).collect();
    anyhow::ensure!(!weights.is_empty(), "a graph without links does not grow by closing triangles");
    let at = weights.len() / 2;
    let weight = *weights.select_nth_unstable_by(at, f64::total_cmp).1;
    let mut linked: std::collections::HashSet<(u32, u32)> = edges.iter().map(|&(a, b, _)| (a, b)).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x0064_7269_6674);
    let mut pick = |len: usize| (rng.next_u64() % len as u64) as usize;
    let (mut added, mut attempts) = (0, 0);
    while added < count {
        attempts += 1;
        anyhow::ensure!(attempts <= 100 * count, "found only {added} of {count} open triangles");
        let from = pick(operator.len()) as u32;
        let first: Vec<u32> = operator.neighbours(from).map(|(j, _)| j).collect();
        if first.is_empty() {
            continue;
        }
        let second: Vec<u32> = operator.neighbours(first[pick(first.len())]).map(|(j, _)| j).collect();
        let to = second[pick(second.len())];
        if to != from && linked.insert((from, to)) {
            edges.push((from, to, weight));
            added += 1;
        }
    }
    Ok(FocusOperator::from_edges(operator.len(), &edges, *operator.params())?)
}
