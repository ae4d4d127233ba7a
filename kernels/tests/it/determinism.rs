//! Bit-identical focus on 1, 2 and 8 threads (spec/focus.md §4).

use kernels::{FocusParams, LinkGraph};

use crate::*;

pub(crate) fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

#[test]
fn focus_is_bit_identical_on_1_2_and_8_threads() {
    // Large enough for many reduction chunks and SpMV tasks.
    let n = 30_000;
    let edges = random_edges(42, n, 150_000);
    // The tri-kernel, and PageRank mode (whose step reads only the in-links).
    for params in [FocusParams { epsilon: 1e-10, ..FocusParams::default() }, FocusParams::pagerank(0.15, 1e-10)] {
        let runs: Vec<(Vec<u64>, usize)> = [1, 2, 8]
            .into_iter()
            .map(|threads| {
                in_pool(threads, || {
                    let focus = operator(&edges, n, params).solve(None);
                    (focus.pi.iter().map(|x| x.to_bits()).collect(), focus.iterations)
                })
            })
            .collect();
        assert!(runs[0].1 > 1);
        assert!(runs.windows(2).all(|w| w[0] == w[1]), "focus differs between thread counts: {params:?}");
    }
}

#[test]
fn the_link_graph_and_the_edge_list_give_the_same_operator() {
    let n = 500;
    let edges = random_edges(3, n, 3000);
    // Neuron ν gets weight ν + 1; the edge list carries the same weights.
    let mut graph = LinkGraph::default();
    let mut weighted = Vec::new();
    for (i, &(from, to, _)) in edges.iter().enumerate() {
        let neuron = (i % 4) as u32;
        if from != to && graph.insert(from, to, neuron) {
            weighted.push((from, to, neuron as f64 + 1.0));
        }
    }
    graph.ensure_nodes(n as u32);
    // Parallel links of different neurons add in neuron order in both paths.
    weighted.sort_by_key(|&(from, to, w)| (to, from, w as u32));
    let from_graph =
        kernels::FocusOperator::from_link_graph(&graph, &[1.0, 2.0, 3.0, 4.0], FocusParams::default()).unwrap();
    let from_edges = operator(&weighted, n, FocusParams::default());
    let (a, b) = (from_graph.solve(None), from_edges.solve(None));
    assert_eq!(
        a.pi.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        b.pi.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
}
