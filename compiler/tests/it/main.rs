//! The compiler against graphs whose answers are known, and its file's guarantees.

use std::ops::ControlFlow;

use compiler::{
    Compiled, Graph, Model, ModelFile, Path, Progress, Scan, ScratchPool, Served, Settings,
    conditional::{self, focus_order},
    eval, serve,
};
use kernels::{FocusOperator, FocusParams};
use sha2::{Digest, Sha256};

struct Fixture {
    operator: FocusOperator,
    focus: Vec<f64>,
    order: Vec<u32>,
}

impl Fixture {
    fn new(n: usize, undirected: &[(u32, u32)]) -> Self {
        let edges: Vec<(u32, u32, f64)> = undirected.iter().flat_map(|&(a, b)| [(a, b, 1.0), (b, a, 1.0)]).collect();
        let operator = FocusOperator::from_edges(n, &edges, FocusParams::default()).unwrap();
        let focus = operator.solve(None).pi;
        let order = focus_order(&focus);
        Fixture { operator, focus, order }
    }

    fn graph(&self) -> Graph<'_> {
        Graph { operator: &self.operator, focus: &self.focus, order: &self.order }
    }
}

/// `count` cliques of `size` particles, each joined to the next by one edge (its last
/// particle to the next one's first).
fn clique_edges(count: u32, size: u32) -> Vec<(u32, u32)> {
    let mut edges = Vec::new();
    for c in 0..count {
        let clique = c * size..(c + 1) * size;
        for a in clique.clone() {
            for b in clique.clone().filter(|&b| b > a) {
                edges.push((a, b));
            }
        }
        if c + 1 < count {
            edges.push((clique.end - 1, clique.end));
        }
    }
    edges
}

/// Two 6-cliques joined by the edge 5–6.
fn two_cliques() -> Fixture {
    Fixture::new(12, &clique_edges(2, 6))
}

/// A star: particle 0 linked with 1..=8.
fn star() -> Fixture {
    Fixture::new(9, &(1..=8).map(|leaf| (0, leaf)).collect::<Vec<_>>())
}

fn small_settings() -> Settings {
    Settings {
        dim: 8,
        hidden: 16,
        queries: 400,
        init_queries: 64,
        steps: 400,
        batch: 32,
        learning_rate: 1e-2,
        held_out_permille: 0,
        ..Settings::default()
    }
}

/// Compiles to the end.
fn compile(graph: &Graph<'_>, settings: &Settings) -> Compiled {
    compiler::compile(graph, settings, &|_| ControlFlow::Continue(())).expect("nothing stops it")
}

fn model_top(served: &Served, query: u32, k: usize) -> Vec<u32> {
    served.model_only(&[query], k).particles.iter().map(|&(j, _)| j).collect()
}

#[test]
fn on_a_star_the_model_sends_every_leaf_to_the_centre() {
    let fixture = star();
    let compiled = compile(&fixture.graph(), &small_settings());
    let served = Served::new(compiled.model);
    for leaf in 1..=8 {
        assert_eq!(model_top(&served, leaf, 1), vec![0], "leaf {leaf}");
    }
}

#[test]
fn on_two_cliques_the_model_answers_with_the_query_clique() {
    let fixture = two_cliques();
    let compiled = compile(&fixture.graph(), &small_settings());
    let served = Served::new(compiled.model);
    for query in [0u32, 2, 4, 7, 9, 11] {
        let mut top = model_top(&served, query, 4);
        top.sort_unstable();
        let clique = if query < 6 { 0..6 } else { 6..12 };
        // The bridge particle (5 or 6) ranks inside its clique too, so any 4 of the other 5.
        assert!(top.iter().all(|j| clique.contains(j)), "query {query}: {top:?}");
    }
}

#[test]
fn the_same_graph_and_seed_give_the_same_file_and_it_round_trips() {
    let fixture = two_cliques();
    let settings = Settings { steps: 40, ..small_settings() };
    let write = || {
        let compiled = compile(&fixture.graph(), &settings);
        compiled.file(7).to_bytes()
    };
    let first = write();
    // Another thread count must not change a bit.
    let second = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(write);
    assert_eq!(first, second, "byte-identical model files");
    // Pinned: a CPU, compiler or `libm` that rounds one operation differently gives another file,
    // and the CID on chain would no longer be what an auditor recompiles.
    let digest: String = Sha256::digest(&first).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(
        digest, "1bd6cbba84ddd4c5f7e86c2602b2c2fd7d9b36c5cff97417455110450add1925",
        "the model file's bytes changed"
    );
    let read = ModelFile::from_bytes(&first).unwrap();
    assert_eq!(read.to_bytes(), first);
    assert_eq!(read.metadata["height"], "7");
    let other_seed = Settings { seed: 2, ..settings };
    let compiled = compile(&fixture.graph(), &other_seed);
    assert_ne!(ModelFile { model: compiled.model, metadata: Default::default() }.model, read.model);
}

#[test]
fn a_compile_told_to_stop_stops_at_its_next_step() {
    let fixture = two_cliques();
    let asked = std::sync::Mutex::new(Vec::new());
    let stop_in_training = |progress: Progress| {
        asked.lock().unwrap().push(progress);
        match progress {
            Progress::Training { step, .. } if step >= 20 => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    };
    let settings = Settings { steps: 1_000, ..small_settings() };
    assert!(compiler::compile(&fixture.graph(), &settings, &stop_in_training).is_none());
    // Every teacher chunk, the initialisation, and steps 10 and 20: nothing after the stop.
    let asked = asked.into_inner().unwrap();
    let teacher = asked.iter().take_while(|p| matches!(p, Progress::Teacher { .. })).count();
    assert!(matches!(asked[teacher - 1], Progress::Teacher { done, total } if done == total), "{asked:?}");
    let rest = &asked[teacher..];
    assert!(
        matches!(
            rest,
            [Progress::Initialising, Progress::Training { step: 10, .. }, Progress::Training { step: 20, .. }]
        ),
        "{rest:?}"
    );
    assert!(compiler::compile(&fixture.graph(), &settings, &|_| ControlFlow::Break(())).is_none());
}

#[test]
fn a_corrupt_or_truncated_file_is_refused_with_a_clear_error() {
    let fixture = star();
    let compiled = compile(&fixture.graph(), &Settings { steps: 5, ..small_settings() });
    let bytes = ModelFile { model: compiled.model, metadata: Default::default() }.to_bytes();
    for cut in [0, 7, 8, 100, bytes.len() - 1] {
        let error = ModelFile::from_bytes(&bytes[..cut]).unwrap_err().to_string();
        assert!(error.starts_with("model file:"), "{error}");
    }
    let mut flipped = bytes.clone();
    flipped[12] ^= 0x40; // inside the JSON header
    assert!(ModelFile::from_bytes(&flipped).is_err());
    let mut nan = bytes.clone();
    let at = nan.len() - 4;
    nan[at..].copy_from_slice(&f32::NAN.to_le_bytes());
    assert!(ModelFile::from_bytes(&nan).unwrap_err().to_string().contains("non-finite"));
    assert!(!compiler::file::is_model_file(b"not a model"));
    assert!(compiler::file::is_model_file(&bytes));
}

#[test]
fn a_uniform_model_leaves_the_push_heads_certified_ranking_alone() {
    let fixture = two_cliques();
    let graph = fixture.graph();
    let n = fixture.focus.len();
    let shape = compiler::Shape { particles: n, dim: 4, hidden: 4, blocks: 1 };
    // Zero embedding and bias: q is uniform whatever the context.
    let uniform = Served::new(Model::initial(shape, vec![0.0; n * 4], vec![0.0; n], 1));
    let pool = ScratchPool::default();
    for query in 0..n as u32 {
        let head = pool.with(graph.operator, |s| graph.operator.local_push(s, &[(query, 1.0)], conditional::HEAD));
        let hybrid = uniform.hybrid(&graph, &head, serve::HYBRID_CONTEXT, 5, &[query], Scan::Indexed);
        let settled = conditional::settled_top(&graph, &head, 6, &[query]);
        let ids = |list: &[(u32, f64)]| list.iter().map(|&(j, _)| j).collect::<Vec<_>>();
        assert_eq!(ids(&hybrid.particles), ids(&settled[..5]), "query {query}: a constant shift keeps the order");
        // Where the head certifies a particle (its settled score beats the sixth's by more
        // than the unsettled mass), the exact top-5 has it.
        let exact = eval::reference(&graph, query);
        let scored: Vec<(u32, f64)> = (0..n as u32).filter(|&j| j != query).map(|j| (j, exact[j as usize])).collect();
        let exact_top = ids(&conditional::top_k(scored, 5));
        for &(j, score) in &settled[..5] {
            if score > settled[5].1 + head.remainder {
                assert!(exact_top.contains(&j), "query {query}: certified {j} not in exact top {exact_top:?}");
            }
        }
        assert!(matches!(hybrid.path, Path::Hybrid | Path::Exact));
    }
}

#[test]
fn a_push_leaves_a_row_longer_than_its_limit_unpushed() {
    // The star's centre has 8 entries, each leaf 1.
    let fixture = star();
    let graph = fixture.graph();
    let pool = ScratchPool::default();
    let push = |longest_row| {
        let limits = kernels::PushLimits { threshold: 1e-9, max_edge_reads: usize::MAX, longest_row };
        pool.with(graph.operator, |s| graph.operator.local_push(s, &[(1, 1.0)], limits))
    };
    let (whole, capped) = (push(usize::MAX), push(4));
    assert!(whole.estimate.iter().any(|&(j, _)| j == 5), "the centre spreads to the other leaves");
    // Capped: the leaf is settled, its mass reaches the centre and stays there.
    assert!(capped.estimate.iter().all(|&(j, _)| j == 1), "only the query settles: {:?}", capped.estimate);
    assert!(capped.residual.iter().any(|&(j, mass)| j == 0 && mass > 0.1), "{:?}", capped.residual);
    assert!(capped.remainder > 0.1 && capped.edge_reads < whole.edge_reads);
    // The centre's conditional then answers for that mass: the hybrid's frontier holds it.
    let served = Served::new(compile(&graph, &small_settings()).model);
    let answer = served.hybrid(&graph, &capped, serve::HYBRID_CONTEXT, 3, &[1], Scan::Indexed);
    assert_eq!(answer.path, Path::Hybrid);
    assert_eq!(answer.particles.len(), 3);
}

#[test]
fn the_exact_path_agrees_with_the_reference_solver() {
    let fixture = two_cliques();
    let graph = fixture.graph();
    let pool = ScratchPool::default();
    for query in 0..12u32 {
        let tight = kernels::PushLimits { threshold: 1e-12, max_edge_reads: usize::MAX, longest_row: usize::MAX };
        let answer = serve::exact(&graph, &pool, &[query], 11, tight);
        let exact = eval::reference(&graph, query);
        assert!(answer.error_bound < 1e-9);
        for &(j, score) in &answer.particles {
            assert!((score - exact[j as usize]).abs() < 1e-8, "query {query} particle {j}");
        }
        let ranked: Vec<u32> = answer.particles.iter().map(|&(j, _)| j).collect();
        assert_eq!(eval::recall_at_10(&exact, &ranked, query), 1.0);
    }
}

#[test]
fn a_particle_added_after_the_compile_folds_in_with_its_neighbours_clique() {
    let fixture = two_cliques();
    let served = Served::new(compile(&fixture.graph(), &small_settings()).model);
    assert!(served.folded_in(&fixture.graph()).is_none(), "nothing new to fold in");
    // Particle 12 arrives linked with three of the first clique.
    let mut edges = clique_edges(2, 6);
    edges.extend([(12, 0), (12, 2), (12, 4)]);
    let grown = Fixture::new(13, &edges);
    assert!(model_top(&served, 12, 3).is_empty(), "the compiled model has no row for it");
    let folded = served.folded_in(&grown.graph()).expect("a particle to fold in");
    assert_eq!(folded.model().shape.particles, 13);
    let top = model_top(&folded, 12, 3);
    assert!(top.len() == 3 && top.iter().all(|j| (0..6).contains(j)), "{top:?}");
}

#[test]
fn the_drift_measure_tells_a_trained_model_from_a_uniform_one() {
    // Four 12-cliques: a probe's conditional focus lies in its own clique.
    let fixture = Fixture::new(48, &clique_edges(4, 12));
    let graph = fixture.graph();
    let pool = ScratchPool::default();
    let probes: Vec<u32> = (0..48).step_by(5).collect();
    let trained = Served::new(compile(&graph, &small_settings()).model);
    let shape = compiler::Shape { particles: 48, dim: 4, hidden: 4, blocks: 1 };
    let uniform = Served::new(Model::initial(shape, vec![0.0; 48 * 4], vec![0.0; 48], 1));
    let divergence = |served: &Served| eval::probe_divergence(&graph, &pool, served, &probes);
    let (good, flat) = (divergence(&trained), divergence(&uniform));
    assert!(good >= 0.0 && good < 0.5 * flat, "trained {good} nats, uniform {flat}");
    assert_eq!(eval::probe_divergence(&graph, &pool, &trained, &[]), 0.0);
}
