//! The CUDA backend on the first GPU, against the device's own copy bandwidth and against this
//! machine's CPU, in one run.
//!
//! Data: the focus bench's R-MAT graph (2^20 particles, 10M links, seeded; `RMAT_SCALE` and
//! `RMAT_EDGES` change it), one neuron's links; with `FOCUS_EDGES=FILE` (`cybergraph edges`
//! writes one) a real graph as well.
//!
//! Measures:
//! - the device's copy bandwidth: a 1 GiB device-to-device copy, bytes read plus written;
//! - the pull SpMV of `Aᵀ` with the matrix and `x` resident, against its bandwidth floor (each
//!   entry's column and value, the row offsets, `x` read once and `y` written once) and as a
//!   fraction of the copy bandwidth;
//! - the tri-kernel focus solve (spec defaults) cold on the CPU and on the GPU, alternated, π*
//!   compared bit for bit each round, with the GPU's upload of the graph apart;
//! - a block of 1,000 new links the way a node takes it: the operator copied and updated in
//!   place, the incremental push's decision, then the warm solve on the CPU or on the GPU.
//!
//! Run (a machine with a GPU and NVRTC): `cargo bench -p kernels --features cuda --bench gpu`.

mod common;

use std::{sync::Arc, time::Instant};

use common::{BLOCK_SEED, RMAT_SEED, best_of, median, one_neuron, read_edge_list, rmat_size};
use cudarc::driver::{CudaContext, CudaSlice, CudaStream, LaunchConfig, PushKernelArg, sys::CUevent_flags};
use kernels::{Backend, Csr, Cuda, FocusOperator, FocusParams, backend::cuda_ptx, synthetic::rmat};

/// Alternated rounds of each comparison.
const ROUNDS: usize = 3;

fn main() {
    let gpu = match Cuda::new(0) {
        Ok(gpu) => gpu,
        Err(why) => return println!("gpu bench skipped: {why}"),
    };
    let stream = CudaContext::new(0).expect("the device Cuda::new opened").default_stream();
    println!("gpu bench: {}; CPU: {} threads", gpu.device(), rayon::current_num_threads());
    let copy = copy_bandwidth(&stream);
    println!("device copy bandwidth (1 GiB device to device, read + written): {:.0} GB/s", copy / 1e9);

    let (scale, edge_count) = rmat_size();
    let n = 1usize << scale;
    let edges = rmat(scale, edge_count, RMAT_SEED);
    let block = rmat(scale, 1000, BLOCK_SEED);
    compare(&format!("R-MAT 2^{scale}/{edge_count}"), &gpu, &stream, copy, n, &edges, &block);

    if let Ok(path) = std::env::var("FOCUS_EDGES") {
        let list = read_edge_list(&path);
        let (base, recent) = list.edges.split_at(list.edges.len() - 1000);
        compare(&path, &gpu, &stream, copy, list.particles, base, recent);
    }
}

/// Every measurement on one graph: `edges` over `n` particles, then `block` added to it.
fn compare(
    label: &str,
    gpu: &Cuda,
    stream: &Arc<CudaStream>,
    copy: f64,
    n: usize,
    edges: &[(u32, u32, f64)],
    block: &[(u32, u32, f64)],
) {
    let params = FocusParams::default();
    let (graph, weights) = one_neuron(n, edges);
    let op = FocusOperator::from_link_graph(&graph, &weights, params).unwrap();
    println!("{label}: {n} particles, {} distinct edges, {} symmetric entries", op.edge_count(), op.symmetric_nnz());
    resident_spmv(label, stream, &op.diffusion_matrix(), copy);

    let (upload, _) = best_of(3, || gpu.focus_scratch(&op, op.prior(), op.prior()).unwrap());
    let (mut on_cpu, mut on_gpu) = (Vec::new(), Vec::new());
    let mut cold = None;
    for _ in 0..ROUNDS {
        let (time, cpu) = best_of(1, || op.solve(None));
        on_cpu.push(time.as_secs_f64());
        let (time, solved) = best_of(1, || op.solve_on(gpu, op.prior(), None, params.epsilon).unwrap());
        on_gpu.push(time.as_secs_f64());
        assert_eq!(solved.iterations, cpu.iterations, "{label}: the GPU stopped at another step");
        assert!(same_bits(&solved.pi, &cpu.pi), "{label}: the GPU's π* differs from the CPU's");
        cold = Some(cpu);
    }
    let cold = cold.expect("ROUNDS > 0");
    let (cpu, gpu_time) = (median(&mut on_cpu), median(&mut on_gpu));
    println!(
        "{label}: cold solve, {} iterations (medians of {ROUNDS} alternated rounds, π* bit-identical): CPU {:.3} s ({:.1} ms/iteration), GPU {:.3} s ({:.2} ms/iteration, of which the graph's upload {:.1} ms): {:.1}× faster",
        cold.iterations,
        cpu,
        cpu * 1e3 / cold.iterations as f64,
        gpu_time,
        (gpu_time - upload.as_secs_f64()) * 1e3 / cold.iterations as f64,
        upload.as_secs_f64() * 1e3,
        cpu / gpu_time
    );

    // A block the way the node's `advance` takes it.
    let mut grown = graph.clone();
    let added: Vec<(u32, u32, u32)> =
        block.iter().filter(|&&(from, to, _)| grown.insert(from, to, 0)).map(|&(from, to, _)| (from, to, 0)).collect();
    let weights = vec![1.0 / grown.link_count() as f64];
    // Per round, the CPU's run then the GPU's: (seconds, π*).
    let mut runs: [Vec<(f64, Vec<f64>)>; 2] = Default::default();
    let mut iterations = 0;
    for _ in 0..ROUNDS {
        for (on_gpu, runs) in [false, true].into_iter().zip(&mut runs) {
            let start = Instant::now();
            let mut after = op.clone();
            after.apply_links(n as u32, &added, &weights).unwrap();
            let pushed = after.incremental_focus(&op, &cold.pi, params.epsilon, after.incremental_budget());
            let from = pushed.as_ref().map_or(cold.pi.as_slice(), |pushed| pushed.vector.as_slice());
            let solved = match on_gpu {
                false => after.solve(Some(from)),
                true => after.solve_on(gpu, after.prior(), Some(from), params.epsilon).unwrap(),
            };
            runs.push((start.elapsed().as_secs_f64(), solved.pi));
            iterations = solved.iterations;
        }
    }
    let [on_cpu, on_gpu] = runs;
    assert!(on_cpu.iter().zip(&on_gpu).all(|((_, a), (_, b))| same_bits(a, b)), "{label}: a block's focus differs");
    let times = |runs: Vec<(f64, Vec<f64>)>| median(&mut runs.into_iter().map(|(time, _)| time).collect::<Vec<_>>());
    println!(
        "{label}: a block of {} links (copy + update + push decision + warm solve of {iterations} iterations, medians of {ROUNDS} alternated rounds, bit-identical): CPU {:.3} s, GPU {:.3} s",
        added.len(),
        times(on_cpu),
        times(on_gpu)
    );
}

fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Milliseconds of `work` on `stream`, by events around it.
fn device_ms(stream: &Arc<CudaStream>, work: impl FnOnce()) -> f64 {
    let timed = Some(CUevent_flags::CU_EVENT_DEFAULT);
    let start = stream.record_event(timed).unwrap();
    work();
    let end = stream.record_event(timed).unwrap();
    f64::from(start.elapsed_ms(&end).unwrap())
}

/// Bytes per second of a 1 GiB device-to-device copy (read plus written), median of 20.
fn copy_bandwidth(stream: &Arc<CudaStream>) -> f64 {
    let len = 1 << 27;
    let from: CudaSlice<f64> = stream.clone_htod(&vec![1.5f64; len]).unwrap();
    let mut to: CudaSlice<f64> = stream.alloc_zeros(len).unwrap();
    let mut times: Vec<f64> =
        (0..23).map(|_| device_ms(stream, || stream.memcpy_dtod(&from, &mut to).unwrap())).skip(3).collect();
    (2 * 8 * len) as f64 / (median(&mut times) / 1e3)
}

/// The pull SpMV kernel on a resident matrix and `x`: median of 50 launches against the
/// bandwidth floor and the copy bandwidth; `y` checked bit for bit against the CPU's.
fn resident_spmv(label: &str, stream: &Arc<CudaStream>, a: &Csr, copy: f64) {
    let (_, ptx) = cuda_ptx::compile_all().unwrap().into_iter().find(|(module, _)| *module == "spmv").unwrap();
    let spmv = stream.context().load_module(ptx).unwrap().load_function("spmv_pull").unwrap();
    let rows = a.rows();
    let x: Vec<f64> = (0..rows).map(|i| 1.0 + (i % 7) as f64 / 8.0).collect();
    let offsets: Vec<u64> = a.offsets.iter().map(|&o| o as u64).collect();
    let offsets = stream.clone_htod(&offsets).unwrap();
    let (cols, vals) = (stream.clone_htod(&a.cols).unwrap(), stream.clone_htod(&a.vals).unwrap());
    let x_device = stream.clone_htod(&x).unwrap();
    let mut y = stream.alloc_zeros::<f64>(rows).unwrap();
    let rows_u32 = rows as u32;
    // As the backend launches it: a warp per row, blocks of 256 threads.
    let config = LaunchConfig {
        grid_dim: ((rows * 32).div_ceil(256) as u32, 1, 1),
        block_dim: (256, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut times: Vec<f64> = (0..53)
        .map(|_| {
            device_ms(stream, || {
                let mut launch = stream.launch_builder(&spmv);
                launch.arg(&offsets).arg(&cols).arg(&vals).arg(&x_device).arg(&mut y).arg(&rows_u32);
                // SAFETY: spmv_pull(offsets, cols, vals, x, y, rows): offsets rows + 1, cols and
                // vals nnz, x and y one per row (the matrix is square).
                unsafe { launch.launch(config) }.unwrap();
            })
        })
        .skip(3)
        .collect();
    let mut expected = vec![0.0; rows];
    a.spmv(&x, &mut expected);
    assert!(same_bits(&stream.clone_dtoh(&y).unwrap(), &expected), "{label}: the device's SpMV differs");
    let time = median(&mut times) / 1e3;
    let floor_bytes = (a.nnz() * 12 + rows * 24) as f64;
    let longest = (0..rows).map(|i| a.offsets[i + 1] - a.offsets[i]).max().unwrap_or(0);
    println!(
        "{label}: SpMV (pull, Aᵀ, resident), {} entries, longest row {longest}: {:.3} ms median of 50 = {:.0} GB/s of its floor's bytes, {:.0}% of the copy bandwidth",
        a.nnz(),
        time * 1e3,
        floor_bytes / time / 1e9,
        100.0 * floor_bytes / time / copy
    );
}
