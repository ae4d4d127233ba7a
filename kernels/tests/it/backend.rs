//! Every backend present computes the CPU's bits: the SpMV against its naive loop, the reduction
//! tree, whole focus solves, and both dense product paths against plain dot products.

use kernels::{Backend, Csr, FocusParams, dense, reduce, synthetic::rmat};

use crate::*;

/// Runs `check(&backend)` as one test per backend: the CPU always; CUDA in builds that have it,
/// skipping with a message when no GPU is present (as candle's `test_device!`).
macro_rules! on_every_backend {
    ($($check:ident),* $(,)?) => {
        $(
            mod $check {
                #[test]
                fn cpu() {
                    super::$check(&kernels::Cpu);
                }

                #[test]
                fn cuda() {
                    match kernels::Cuda::new(0) {
                        Ok(gpu) => super::$check(&gpu),
                        Err(why) => eprintln!("skipped on CUDA: {why}"),
                    }
                }
            }
        )*
    };
}

on_every_backend!(
    spmv_matches_the_naive_loop,
    sums_follow_the_reduction_tree,
    focus_solves_match_the_cpu,
    dense_products_match_plain_dot_products,
);

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn spmv_matches_the_naive_loop<B: Backend>(backend: &B) {
    let n = 20_000;
    let op = operator(&random_edges(7, n, 120_000), n, FocusParams::default());
    let a: Csr = op.diffusion_matrix();
    let x: Vec<f64> = (0..n).map(|i| (i as f64).sin().abs() + 1e-3).collect();
    let mut y = vec![0.0; n];
    backend.spmv(&a, &x, &mut y).unwrap();
    assert_eq!(bits(&y), bits(&a.spmv_naive(&x)), "{}", backend.name());
}

fn sums_follow_the_reduction_tree<B: Backend>(backend: &B) {
    let xs: Vec<f64> = (0..3 * reduce::CHUNK + 17).map(|i| 1.0 / (i as f64 + 1.0)).collect();
    let ys: Vec<f64> = xs.iter().map(|x| x * 0.5 + 1e-7).collect();
    assert_eq!(backend.tree_sum(&xs).unwrap().to_bits(), reduce::tree_sum(&xs).to_bits());
    assert_eq!(backend.l1_distance(&xs, &ys).unwrap().to_bits(), reduce::l1_distance(&xs, &ys).to_bits());
    assert_eq!(backend.tree_sum(&[]).unwrap(), 0.0);
}

fn focus_solves_match_the_cpu<B: Backend>(backend: &B) {
    let n = 5_000;
    let edges = random_edges(11, n, 30_000);
    for params in [FocusParams::default(), FocusParams::pagerank(0.15, 1e-10)] {
        let op = operator(&edges, n, params);
        let cold = op.solve(None);
        let on_backend = op.solve_on(backend, op.prior(), None, params.epsilon).unwrap();
        assert_eq!((bits(&on_backend.pi), on_backend.iterations), (bits(&cold.pi), cold.iterations));
        let teleport: Vec<f64> = (0..n).map(|i| if i % 97 == 0 { 1.0 } else { 0.0 }).collect();
        let total: f64 = teleport.iter().sum();
        let teleport: Vec<f64> = teleport.iter().map(|t| t / total).collect();
        let warm = op.solve_to(&teleport, Some(&cold.pi), 1e-6);
        let warm_on_backend = op.solve_on(backend, &teleport, Some(&cold.pi), 1e-6).unwrap();
        assert_eq!(bits(&warm_on_backend.pi), bits(&warm.pi), "{}", backend.name());
    }
}

fn dense_products_match_plain_dot_products<B: Backend>(backend: &B) {
    let mut rng = Rng(0x5eed);
    let mut entries =
        |count: usize| -> Vec<f32> { (0..count).map(|_| rng.below(2000) as f32 / 1000.0 - 1.0).collect() };
    // 37 × 23: a full 16-column panel and a 7-column edge; 1..=9 rows: full and partial tiles.
    let w = dense::Matrix::new(37, 23, entries(37 * 23));
    for count in 1..=9 {
        let x = entries(count * 37);
        let plain: Vec<u32> = (0..count * 23)
            .map(|k| {
                let (r, j) = (k / 23, k % 23);
                (0..37).fold(0.0f32, |acc, i| acc + x[r * 37 + i] * w.data()[i * 23 + j]).to_bits()
            })
            .collect();
        for path in [dense::Path::Reference, dense::Path::Fast] {
            let product: Vec<u32> = backend.matmul(&x, &w, path).unwrap().iter().map(|v| v.to_bits()).collect();
            assert_eq!(product, plain, "{} {path:?}, {count} rows", backend.name());
        }
    }
}

/// The focus-at-scale graph (R-MAT, 2^20 particles, 10M links, spec defaults): the GPU's `π*`
/// and step count are the CPU's, bit for bit. GPU only: the CPU against itself is what the
/// determinism tests check.
#[test]
fn rmat_focus_on_a_gpu_is_the_cpus() {
    let gpu = match kernels::Cuda::new(0) {
        Ok(gpu) => gpu,
        Err(why) => return eprintln!("skipped on CUDA: {why}"),
    };
    let n = 1 << 20;
    let op = operator(&rmat(20, 10_000_000, 0x5eed_cafe_f00d_1234), n, FocusParams::default());
    let cpu = op.solve(None);
    let on_gpu = op.solve_on(&gpu, op.prior(), None, op.params().epsilon).unwrap();
    assert_eq!(on_gpu.iterations, cpu.iterations);
    assert!(bits(&on_gpu.pi) == bits(&cpu.pi), "{}: π* differs from the CPU's", gpu.device());
}
