//! Focus solver throughput against the machine's memory bandwidth and against PageRank
//! baselines.
//!
//! Data: a seeded R-MAT graph (2^20 nodes, 10M edges, a/b/c/d = 0.57/0.19/0.19/0.05, unit
//! weights; `RMAT_SCALE` and `RMAT_EDGES` change the size) and a communities graph of the same
//! size; or, with `FOCUS_EDGES=FILE`, a real graph (`cybergraph edges` writes one from a data
//! directory) instead.
//!
//! Measures, in one run:
//! - the resident graph's bytes per link (the operator and the link multigraph);
//! - a STREAM-like triad (`a = b + s·c`, 3 × 32M f64, all threads): the bandwidth ceiling;
//! - the pull SpMV of `Aᵀ` against the bandwidth floor, in today's particle order, with
//!   sequential columns (no gather misses: the most a relabelling could win), and relabelled by
//!   descending degree and by reverse Cuthill–McKee, each row still summed in its original order
//!   (rounds alternate the layouts; medians);
//! - PageRank mode (`λ_s = λ_h = 0`, α = 0.15, ε = 1e-6): iterations, time per iteration and to
//!   solution;
//! - the full tri-kernel solve (spec defaults) cold, and per block of 100, 1,000 and 10,000 new
//!   links: the operator rebuilt against copied and updated in place, the warm solve and the
//!   incremental path (push, then the solver from its result) as a fraction of the warm solve;
//!   and the update when the block's neuron holds a sixteenth of the links (every row refolded).
//!
//! It also writes the graph as little-endian `u32` pairs to `target/bench-data/rmat.u32` so that
//! `scripts/bench-focus` runs scipy and SuiteSparse:GraphBLAS on the same graph right after.
//!
//! Run: `scripts/bench-focus` (all of it) or `cargo bench -p kernels --bench focus`.
//! `FOCUS_ONLY=pagerank` builds the graph and runs only PageRank mode (for runs that alternate
//! this bench with the baselines or with another build of it).

mod common;

use std::{io::Write, time::Instant};

use common::{BLOCK_SEED, RMAT_SEED, best_of, median, one_neuron, read_edge_list, rmat_size};

use kernels::{
    Csr, FocusOperator, FocusParams, LinkGraph,
    edge_list::EdgeList,
    synthetic::{XorShift, rmat},
};
use rayon::prelude::*;

/// `clusters` communities of `size` particles with `per_node` random links per particle inside,
/// and one link from each community to the next.
fn communities(clusters: usize, size: usize, per_node: usize, seed: u64) -> Vec<(u32, u32, f64)> {
    let mut rng = XorShift(seed);
    let mut pick = |base: usize| (base + (rng.unit() * size as f64) as usize) as u32;
    let mut edges = Vec::with_capacity(clusters * size * per_node + clusters);
    for c in 0..clusters {
        for _ in 0..size * per_node {
            edges.push((pick(c * size), pick(c * size), 1.0));
        }
        edges.push((pick(c * size), pick((c + 1) % clusters * size), 1.0));
    }
    edges
}

/// The resident graph's bytes per link: the operator (`what` it is) and the link multigraph it
/// is built from (here one neuron made every link).
fn resident(label: &str, what: &str, op: &FocusOperator, graph: &LinkGraph) {
    let per_link = |bytes: usize| bytes as f64 / graph.link_count() as f64;
    println!(
        "{label}: resident graph ({what}): operator {:.1} + link graph {:.1} = {:.1} B per link ({} links, {} particles)",
        per_link(op.memory_bytes()),
        per_link(graph.memory_bytes()),
        per_link(op.memory_bytes() + graph.memory_bytes()),
        graph.link_count(),
        op.len()
    );
}

/// Per block of new links (each of `blocks` applied alone to `edges` over `n`, all by one
/// neuron): the operator rebuilt from the grown link graph against the previous operator copied
/// and updated in place (what the node does), the warm solve from the previous focus, and the
/// incremental path — a push of what the block changed (which first takes the previous
/// operator's step at the previous focus, timed with it, as in the node), then the solver from
/// the push's result until its own stopping rule certifies ε.
fn block_updates(label: &str, n: usize, edges: &[(u32, u32, f64)], blocks: &[Vec<(u32, u32, f64)>]) {
    let params = FocusParams::default();
    let (graph, weights) = one_neuron(n, edges);
    let before = FocusOperator::from_link_graph(&graph, &weights, params).unwrap();
    resident(label, "tri-kernel, what a node holds", &before, &graph);
    let (cold_time, cold) = best_of(1, || before.solve(None));
    println!(
        "{label}: tri-kernel cold (ε=1e-8): {} iterations, {:.1} ms/iteration, {:.2} s",
        cold.iterations,
        cold_time.as_secs_f64() * 1e3 / cold.iterations as f64,
        cold_time.as_secs_f64()
    );
    for extra in blocks {
        let mut grown = graph.clone();
        let added: Vec<(u32, u32, u32)> = extra
            .iter()
            .filter(|&&(from, to, _)| grown.insert(from, to, 0))
            .map(|&(from, to, _)| (from, to, 0))
            .collect();
        let weights = vec![1.0 / grown.link_count() as f64];
        let (rebuild, rebuilt) = best_of(1, || FocusOperator::from_link_graph(&grown, &weights, params).unwrap());
        let (copy, mut after) = best_of(1, || before.clone());
        let (update, ()) = best_of(1, || after.apply_links(n as u32, &added, &weights).unwrap());
        assert_eq!((after.edge_count(), after.symmetric_nnz()), (rebuilt.edge_count(), rebuilt.symmetric_nnz()));
        drop(rebuilt);
        let (warm_time, warm) = best_of(1, || after.solve(Some(&cold.pi)));
        println!(
            "{label} +{} links: operator rebuild {:.0} ms | copy {:.0} ms + update in place {:.1} ms | warm solve {} iterations {:.2} s",
            extra.len(),
            rebuild.as_secs_f64() * 1e3,
            copy.as_secs_f64() * 1e3,
            update.as_secs_f64() * 1e3,
            warm.iterations,
            warm_time.as_secs_f64(),
        );
        let started = Instant::now();
        let Some(pushed) = after.incremental_focus(&before, &cold.pi, params.epsilon, after.incremental_budget())
        else {
            println!(
                "{label} +{} links: the push declines (not local, or over its budget: {:.2} s to find out); the warm solve stands",
                extra.len(),
                started.elapsed().as_secs_f64()
            );
            continue;
        };
        let push_time = started.elapsed();
        let certified = after.solve(Some(&pushed.vector));
        let path_time = started.elapsed();
        let l1: f64 = certified.pi.iter().zip(&warm.pi).map(|(a, b)| (a - b).abs()).sum();
        let block_time = copy + update + path_time;
        println!(
            "{label} +{} links: push {:.3} s ({} pushes) + solver {} iterations = {:.3} s, {:.1}% of the warm solve; with the operator update the block's focus takes {:.3} s; ‖· − warm‖₁ = {:.1e}",
            extra.len(),
            push_time.as_secs_f64(),
            pushed.pushes,
            certified.iterations,
            path_time.as_secs_f64(),
            100.0 * path_time.as_secs_f64() / warm_time.as_secs_f64(),
            block_time.as_secs_f64(),
            l1
        );
    }
}

/// The update when the block's neuron already holds a share of the graph: `edges` spread over
/// 16 neurons of equal stake, and a block of `block` links by one of them, whose weight then
/// moves for all its links — every row's sums are refolded (the ampere rule makes such a block
/// global, whatever the storage).
fn reweighing_update(label: &str, n: usize, edges: &[(u32, u32, f64)], block: &[(u32, u32, f64)]) {
    const NEURONS: u32 = 16;
    let params = FocusParams::default();
    let links = edges.iter().enumerate().map(|(i, &(from, to, _))| (from, to, i as u32 % NEURONS));
    let mut graph = LinkGraph::from_links(n as u32, links.clone());
    let weights_of = |graph: &LinkGraph| {
        let mut count = vec![0usize; NEURONS as usize];
        for q in 0..graph.node_count() {
            graph.in_links(q).iter().for_each(|link| count[link.neuron as usize] += 1);
        }
        count.iter().map(|&c| 1.0 / c.max(1) as f64).collect::<Vec<_>>()
    };
    let before = FocusOperator::from_link_graph(&graph, &weights_of(&graph), params).unwrap();
    let added: Vec<(u32, u32, u32)> =
        block.iter().filter(|&&(from, to, _)| graph.insert(from, to, 3)).map(|&(from, to, _)| (from, to, 3)).collect();
    let weights = weights_of(&graph);
    let (rebuild, _) = best_of(1, || FocusOperator::from_link_graph(&graph, &weights, params).unwrap());
    let (copy, mut after) = best_of(1, || before.clone());
    let (update, ()) = best_of(1, || after.apply_links(n as u32, &added, &weights).unwrap());
    println!(
        "{label} +{} links by a neuron holding 1/{NEURONS} of them (every row refolded): rebuild {:.0} ms | copy {:.0} ms + update in place {:.1} ms",
        added.len(),
        rebuild.as_secs_f64() * 1e3,
        copy.as_secs_f64() * 1e3,
        update.as_secs_f64() * 1e3
    );
}

/// STREAM triad bandwidth in bytes/s (3 arrays × 8 bytes per element moved).
fn triad() -> f64 {
    let n = 32 << 20;
    let b = vec![1.0f64; n];
    let c = vec![2.0f64; n];
    let mut a = vec![0.0f64; n];
    let (time, ()) = best_of(5, || {
        a.par_chunks_mut(1 << 16).zip(b.par_chunks(1 << 16)).zip(c.par_chunks(1 << 16)).for_each(|((a, b), c)| {
            for i in 0..a.len() {
                a[i] = b[i] + 3.0 * c[i];
            }
        });
    });
    assert!(a[n - 1] == 7.0);
    (3 * 8 * n) as f64 / time.as_secs_f64()
}

fn main() {
    println!("focus bench: {} threads", rayon::current_num_threads());
    let bandwidth = triad();
    println!("triad bandwidth: {:.2} GB/s", bandwidth / 1e9);
    match std::env::var("FOCUS_EDGES") {
        Ok(path) => real_graph(&path, bandwidth),
        Err(_) => synthetic(bandwidth),
    }
}

/// R-MAT (the PageRank baselines' graph too) and the communities graph.
fn synthetic(bandwidth: f64) {
    let (scale, edge_count) = rmat_size();
    let n = 1usize << scale;
    println!("R-MAT 2^{scale} nodes, {edge_count} edges");

    let edges = rmat(scale, edge_count, RMAT_SEED);
    std::fs::create_dir_all("../target/bench-data").unwrap();
    let mut out = std::io::BufWriter::new(std::fs::File::create("../target/bench-data/rmat.u32").unwrap());
    for &(from, to, _) in &edges {
        out.write_all(&from.to_le_bytes()).unwrap();
        out.write_all(&to.to_le_bytes()).unwrap();
    }
    out.flush().unwrap();

    pagerank_mode("R-MAT", &spmv_and_locality("R-MAT", n, &edges, bandwidth));
    if pagerank_only() {
        return;
    }

    let blocks: Vec<_> = [100, 1000, 10_000].iter().map(|&links| rmat(scale, links, BLOCK_SEED)).collect();
    block_updates("R-MAT", n, &edges, &blocks);
    reweighing_update("R-MAT", n, &edges, &blocks[1]);
    let size = 1024;
    let clusters = n / size;
    let community = communities(clusters, size, edge_count / n, 0xc0ffee);
    let local = |links: usize| -> Vec<(u32, u32, f64)> {
        communities(1, size, links.div_ceil(size), 0xbeef)
            .into_iter()
            .take(links)
            .map(|(a, b, w)| (a + 7 * size as u32, b + 7 * size as u32, w))
            .collect()
    };
    block_updates("communities", n, &community, &[local(100), local(1000), local(10_000)]);
}

/// A real graph from an edge list (`cybergraph edges`: lines `src dst weight`, `#` comments):
/// the same SpMV and locality figures, and blocks of its last 100, 1,000 and 10,000 edges, each
/// applied alone to the rest (the links as one neuron's, as for R-MAT).
fn real_graph(path: &str, bandwidth: f64) {
    let EdgeList { particles: n, edges } = read_edge_list(path);
    println!("{path}: {n} particles, {} edges", edges.len());
    pagerank_mode(path, &spmv_and_locality(path, n, &edges, bandwidth));
    if pagerank_only() {
        return;
    }
    let held_out = 10_000.min(edges.len() / 2);
    let (base, recent) = edges.split_at(edges.len() - held_out);
    let blocks: Vec<_> =
        [100, 1000, 10_000].iter().map(|&k| recent[recent.len() - k.min(held_out)..].to_vec()).collect();
    block_updates(path, n, base, &blocks);
}

/// Whether `FOCUS_ONLY=pagerank` asks for PageRank mode alone.
fn pagerank_only() -> bool {
    std::env::var("FOCUS_ONLY").is_ok_and(|only| only == "pagerank")
}

/// PageRank mode's solve from uniform (what `scripts/pagerank_baselines.py` times for scipy and
/// GraphBLAS on the R-MAT graph).
fn pagerank_mode(label: &str, op: &FocusOperator) {
    let (time, solution) = best_of(1, || op.solve(None));
    println!(
        "{label}: PageRank mode (α=0.15, ε=1e-6): {} iterations, {:.2} ms/iteration, {:.0} ms to solution",
        solution.iterations,
        time.as_secs_f64() * 1e3 / solution.iterations as f64,
        time.as_secs_f64() * 1e3
    );
}

/// The resident bytes per link, the pull SpMV of `Aᵀ` against the bandwidth floor, and the same
/// SpMV in other particle orders (rounds alternating the orders, medians); returns the
/// PageRank-mode operator.
fn spmv_and_locality(label: &str, n: usize, edges: &[(u32, u32, f64)], bandwidth: f64) -> FocusOperator {
    let pagerank = FocusParams::pagerank(0.15, 1e-6);
    let (graph, weights) = one_neuron(n, edges);
    let (build, op) = best_of(1, || FocusOperator::from_link_graph(&graph, &weights, pagerank).unwrap());
    println!(
        "{label}: operator build {:.0} ms ({} distinct edges, {} symmetric entries)",
        build.as_secs_f64() * 1e3,
        op.edge_count(),
        op.symmetric_nnz()
    );
    resident(label, "PageRank mode (with its in-links)", &op, &graph);
    if pagerank_only() {
        return op;
    }
    let a_t = op.diffusion_matrix();
    // Minimal traffic: each entry's column (4 B) and value (8 B), the row offsets (8 B/row),
    // x read once and y written once (8 B/row each).
    let floor = (a_t.nnz() * 12 + n * 24) as f64 / bandwidth;
    // The same rows with each entry's column replaced by a sequential one: the loop's cost when
    // gathers into x never miss, which bounds what any relabelling could win.
    let sequential = Csr {
        offsets: a_t.offsets.clone(),
        cols: (0..a_t.nnz() as u32).map(|k| k % n as u32).collect(),
        vals: a_t.vals.clone(),
    };
    let by_degree = degree_order(&op);
    let layouts = [
        ("today's order", a_t.clone()),
        ("sequential columns (no gather misses)", sequential),
        ("descending degree", relabelled(&a_t, &by_degree)),
        ("reverse Cuthill–McKee", relabelled(&a_t, &rcm_order(&op))),
        // Rows moved, x left as it is: what the row order alone wins (loop exits a branch
        // predictor learns when rows of one length follow each other) apart from x's locality.
        ("rows by descending degree, columns as today", rows_moved(&a_t, &by_degree)),
    ];
    let x: Vec<f64> = vec![1.0 / n as f64; n];
    let mut y = vec![0.0; n];
    const ROUNDS: usize = 9;
    let mut times = vec![Vec::with_capacity(ROUNDS); layouts.len()];
    for _ in 0..ROUNDS {
        for (layout, (_, matrix)) in layouts.iter().enumerate() {
            let (time, ()) = best_of(1, || matrix.spmv(&x, &mut y));
            times[layout].push(time.as_secs_f64());
        }
    }
    let today = median(&mut times[0].clone());
    for ((name, _), t) in layouts.iter().zip(&mut times) {
        let time = median(t);
        println!(
            "{label}: SpMV (pull, Aᵀ), {name}: {:.2} ms median of {ROUNDS} alternated rounds = {:.2}× the bandwidth floor ({:.2} ms), {:.2}× today's order",
            time * 1e3,
            time / floor,
            floor * 1e3,
            time / today
        );
    }
    op
}

/// `a_t` as a kernel that keeps particles in `order` would hold it: row `r` is row `order[r]`,
/// each entry's column renamed to its new index but the entries left in their original order
/// (ascending original index), so every row sums its terms in the same order as before and the
/// bits do not change.
fn relabelled(a_t: &Csr, order: &[u32]) -> Csr {
    let mut label = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        label[old as usize] = new as u32;
    }
    rows_in_order(a_t, order, |c| label[c as usize])
}

/// `a_t`'s rows in `order`, columns untouched.
fn rows_moved(a_t: &Csr, order: &[u32]) -> Csr {
    rows_in_order(a_t, order, |c| c)
}

/// Row `r` of the result is row `order[r]` of `a_t`, its columns renamed by `column`, its
/// entries in their original order.
fn rows_in_order(a_t: &Csr, order: &[u32], column: impl Fn(u32) -> u32) -> Csr {
    let mut out = Csr { offsets: Vec::with_capacity(order.len() + 1), cols: Vec::new(), vals: Vec::new() };
    out.offsets.push(0);
    for &old in order {
        let (cols, vals) = a_t.row(old as usize);
        out.cols.extend(cols.iter().map(|&c| column(c)));
        out.vals.extend_from_slice(vals);
        out.offsets.push(out.cols.len());
    }
    out
}

/// Particles by descending number of neighbours (`W`'s row length), ties by index.
fn degree_order(op: &FocusOperator) -> Vec<u32> {
    let degree: Vec<usize> = (0..op.len() as u32).map(|i| op.neighbours(i).count()).collect();
    let mut order: Vec<u32> = (0..op.len() as u32).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(degree[i as usize]), i));
    order
}

/// Reverse Cuthill–McKee over `W`'s structure: breadth-first from a least-connected particle of
/// each component, neighbours in ascending degree, the whole order reversed.
fn rcm_order(op: &FocusOperator) -> Vec<u32> {
    let n = op.len();
    let degree: Vec<usize> = (0..n as u32).map(|i| op.neighbours(i).count()).collect();
    let mut starts: Vec<u32> = (0..n as u32).collect();
    starts.sort_by_key(|&i| (degree[i as usize], i));
    let (mut seen, mut order) = (vec![false; n], Vec::with_capacity(n));
    let mut neighbours = Vec::new();
    for start in starts {
        if std::mem::replace(&mut seen[start as usize], true) {
            continue;
        }
        let mut head = order.len();
        order.push(start);
        while head < order.len() {
            let at = order[head];
            head += 1;
            neighbours.clear();
            neighbours.extend(op.neighbours(at).map(|(j, _)| j).filter(|&j| !seen[j as usize]));
            neighbours.sort_by_key(|&j| (degree[j as usize], j));
            for &j in &neighbours {
                seen[j as usize] = true;
                order.push(j);
            }
        }
    }
    order.reverse();
    order
}
