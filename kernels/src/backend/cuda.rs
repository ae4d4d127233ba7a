//! The CUDA backend: the kernels of `kernels/cuda/` compiled with NVRTC when a device is opened
//! and launched through `cudarc` (driver API, loaded at run time, so this builds and opens
//! cleanly — with an error, not a panic — on a machine without a GPU or a driver).
//!
//! Every kernel computes each output the way the CPU does: one warp folds one row or one chunk
//! (`kernels/cuda/fold.cuh`) and one thread one dot product, in the CPU's order, with each add,
//! multiply and divide rounded on its own. The reduction tree's leaves run on the device and
//! its few pairwise levels on the host, by the same function as the CPU's. So [`Cuda`] returns
//! the CPU's bits, and [`crate::FocusOperator::solve_on`], which decides when to stop on those
//! bits, stops at the same step on either.
//!
//! A focus solve keeps its graph and vectors on the device ([`Backend::focus_scratch`] uploads
//! them once): an iteration moves only the chunk sums of its three tree sums to the host and
//! back. The other operations take and return host slices. Every operation waits for the device
//! before it returns, so a result on the host is complete and a device fault is this call's
//! error.
//!
//! [`Cuda::new`] checks the device before anyone uses it: a small focus solve and a product,
//! compared bit for bit with the CPU's; a device that differs is refused, since a node whose
//! focus differed would split from every other.

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, DeviceRepr, LaunchConfig, PushKernelArg};
use rayon::prelude::*;

use super::{Backend, Cpu, cuda_ptx};
use crate::{FocusOperator, FocusParams, KernelError, adjacency::Adjacency, csr::Csr, dense, reduce, synthetic};

/// Threads per block of every launch.
const BLOCK: u32 = 256;

/// A CUDA device with the kernels loaded.
#[derive(Debug)]
pub struct Cuda {
    stream: Arc<CudaStream>,
    kernels: Kernels,
    device: String,
}

/// Every kernel the backend launches.
#[derive(Debug)]
struct Kernels {
    chunk_sums: CudaFunction,
    l1_chunk_sums: CudaFunction,
    dangling_chunk_sums: CudaFunction,
    spmv_pull: CudaFunction,
    focus_prepare: CudaFunction,
    focus_rows: CudaFunction,
    heat_rows: CudaFunction,
    focus_combine: CudaFunction,
    focus_normalise: CudaFunction,
    matmul_rows: CudaFunction,
}

impl From<cudarc::driver::DriverError> for KernelError {
    fn from(error: cudarc::driver::DriverError) -> Self {
        KernelError::Cuda(error.to_string())
    }
}

impl Cuda {
    /// The GPU with this ordinal, its kernels compiled and loaded and its results checked
    /// against the CPU's. Fails when no CUDA driver can be loaded or there is no such device
    /// ([`KernelError::NoGpu`]), when NVRTC is missing ([`KernelError::NvrtcMissing`]), or when
    /// the device computes other bits than the CPU ([`KernelError::Cuda`]).
    pub fn new(ordinal: usize) -> Result<Self, KernelError> {
        // SAFETY: only tries to open the driver library by its candidate names. cudarc panics
        // on the first driver call when the library is absent; this turns that into an error.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(KernelError::NoGpu("no CUDA driver (libcuda) can be loaded".into()));
        }
        let no_gpu = |error: cudarc::driver::DriverError| KernelError::NoGpu(error.to_string());
        let count = CudaContext::device_count().map_err(no_gpu)?;
        if ordinal >= count.max(0) as usize {
            return Err(KernelError::NoGpu(format!("no CUDA device {ordinal} ({count} present)")));
        }
        let context = CudaContext::new(ordinal).map_err(no_gpu)?;
        let device = format!("{} (CUDA device {ordinal})", context.name()?);
        let modules = cuda_ptx::compile_all()?
            .into_iter()
            .map(|(name, ptx)| Ok((name, context.load_module(ptx)?)))
            .collect::<Result<Vec<_>, KernelError>>()?;
        let function = |module: &str, name: &str| -> Result<CudaFunction, KernelError> {
            let (_, loaded) = modules.iter().find(|(m, _)| *m == module).expect("every module is compiled");
            Ok(loaded.load_function(name)?)
        };
        let kernels = Kernels {
            chunk_sums: function("reduce", "chunk_sums")?,
            l1_chunk_sums: function("reduce", "l1_chunk_sums")?,
            dangling_chunk_sums: function("reduce", "dangling_chunk_sums")?,
            spmv_pull: function("spmv", "spmv_pull")?,
            focus_prepare: function("focus", "focus_prepare")?,
            focus_rows: function("focus", "focus_rows")?,
            heat_rows: function("focus", "heat_rows")?,
            focus_combine: function("focus", "focus_combine")?,
            focus_normalise: function("focus", "focus_normalise")?,
            matmul_rows: function("dense", "matmul_rows")?,
        };
        let gpu = Cuda { stream: context.default_stream(), kernels, device };
        gpu.check_against_the_cpu()?;
        Ok(gpu)
    }

    /// A focus solve on a small R-MAT graph (every kernel of the step, the reduction tree) and a
    /// dense product, bit for bit against the CPU.
    fn check_against_the_cpu(&self) -> Result<(), KernelError> {
        let refuse =
            |what: &str| Err(KernelError::Cuda(format!("{}: {what} differs from the CPU's; not used", self.device)));
        let op = FocusOperator::from_edges(1 << 10, &synthetic::rmat(10, 8_000, 0x5e1f_7e57), FocusParams::default())?;
        let (cpu, gpu) = (op.solve(None), op.solve_on(self, op.prior(), None, op.params.epsilon)?);
        if gpu.iterations != cpu.iterations || gpu.pi.iter().map(|x| x.to_bits()).ne(cpu.pi.iter().map(|x| x.to_bits()))
        {
            return refuse("a focus solve");
        }
        let w = dense::Matrix::new(37, 19, (0..37 * 19).map(|i| (i as f32 * 0.618).sin()).collect());
        let x: Vec<f32> = (0..5 * 37).map(|i| (i as f32 * 1.3).cos() * 1e-3).collect();
        let Ok(expected) = Cpu.matmul(&x, &w, dense::Path::Reference);
        if self.matmul(&x, &w, dense::Path::Fast)?.iter().map(|v| v.to_bits()).ne(expected.iter().map(|v| v.to_bits()))
        {
            return refuse("a matrix product");
        }
        Ok(())
    }

    /// The device's name and ordinal, for logs.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// A device copy of `host` (one zero element for an empty slice: CUDA allocates no empty
    /// buffer, and no kernel reads past the length it is given).
    fn upload<T: DeviceRepr + Default + Clone>(&self, host: &[T]) -> Result<CudaSlice<T>, KernelError> {
        Ok(match host {
            [] => self.stream.clone_htod(&[T::default()][..])?,
            _ => self.stream.clone_htod(host)?,
        })
    }

    /// A zeroed device buffer of `len` elements (at least one).
    fn zeros<T: DeviceRepr + cudarc::driver::ValidAsZeroBits>(&self, len: usize) -> Result<CudaSlice<T>, KernelError> {
        Ok(self.stream.alloc_zeros(len.max(1))?)
    }

    /// The first `len` elements of `device`, on the host, once everything queued before is done.
    fn download<T: DeviceRepr>(&self, device: &CudaSlice<T>, len: usize) -> Result<Vec<T>, KernelError> {
        let mut host = self.stream.clone_dtoh(device)?;
        self.stream.synchronize()?;
        host.truncate(len);
        Ok(host)
    }

    /// The reduction tree over the chunk sums `kernel` writes: the leaves on the device (the
    /// kernel takes `inputs`, each holding `len` elements, then `len` and a slot per chunk), the
    /// pairwise levels on the host ([`reduce::pairwise`], the CPU's).
    fn chunk_tree(&self, kernel: &CudaFunction, inputs: &[&CudaSlice<f64>], len: usize) -> Result<f64, KernelError> {
        if len == 0 {
            return Ok(0.0);
        }
        let chunks = len.div_ceil(reduce::CHUNK);
        let mut sums = self.zeros::<f64>(chunks)?;
        let len_u64 = len as u64;
        let mut launch = self.stream.launch_builder(kernel);
        for &input in inputs {
            launch.arg(input);
        }
        launch.arg(&len_u64).arg(&mut sums);
        // SAFETY: every chunk kernel (reduce.cu) takes its input vectors, their length and the
        // sums, in that order; each input holds `len` and `sums` a slot per chunk.
        unsafe { launch.launch(warp_grid(chunks)) }?;
        let mut sums = self.download(&sums, chunks)?;
        Ok(reduce::pairwise(&mut sums))
    }
}

/// A launch of one thread per element of `count`, in blocks of [`BLOCK`].
fn grid(count: usize) -> LaunchConfig {
    let blocks = count.div_ceil(BLOCK as usize).max(1);
    LaunchConfig { grid_dim: (blocks as u32, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 }
}

/// A launch of one warp (32 threads) per row or chunk of `count` (the kernels that fold).
fn warp_grid(count: usize) -> LaunchConfig {
    grid(count * 32)
}

/// An index count as the `u32` the kernels take.
fn count_u32(count: usize) -> Result<u32, KernelError> {
    u32::try_from(count).map_err(|_| KernelError::TooLarge(count))
}

/// `adjacency`'s rows in visiting order, packed for the device: the row at position `p` is
/// `entries[2·offsets[p]..2·offsets[p + 1]]`, each entry its column and kind. Filled on every
/// core, a group of rows per task.
fn packed_rows(adjacency: &Adjacency) -> (Vec<u64>, Vec<u32>) {
    const GROUP: usize = 4096;
    let order = adjacency.visit_order();
    let mut offsets = Vec::with_capacity(order.len() + 1);
    offsets.push(0u64);
    for &i in order {
        offsets.push(offsets[offsets.len() - 1] + adjacency.row(i as usize).len() as u64);
    }
    let mut entries = vec![0u32; 2 * offsets[order.len()] as usize];
    let mut rest = entries.as_mut_slice();
    let mut groups = Vec::with_capacity(order.len().div_ceil(GROUP));
    for (group, rows) in order.chunks(GROUP).enumerate() {
        let first = group * GROUP;
        let len = 2 * (offsets[first + rows.len()] - offsets[first]) as usize;
        let (this, tail) = std::mem::take(&mut rest).split_at_mut(len);
        groups.push((rows, this));
        rest = tail;
    }
    groups.into_par_iter().for_each(|(rows, out)| {
        let row_entries = rows.iter().flat_map(|&i| adjacency.row(i as usize));
        for (pair, entry) in out.chunks_exact_mut(2).zip(row_entries) {
            pair.copy_from_slice(&[entry.col, entry.kind]);
        }
    });
    (offsets, entries)
}

/// The graph of one operator on the device, rows packed in the adjacency's storage order.
#[derive(Debug)]
struct DeviceGraph {
    /// `order[p]`: the row at position `p`.
    order: CudaSlice<u32>,
    /// `offsets[p]..offsets[p + 1]`: position `p`'s entries.
    offsets: CudaSlice<u64>,
    /// Each entry's column and kind side by side (a `uint2` in the kernels: one load).
    entries: CudaSlice<u32>,
    a_in: CudaSlice<f64>,
    w: CudaSlice<f64>,
    out: CudaSlice<f64>,
    d: CudaSlice<f64>,
    prior: CudaSlice<f64>,
}

/// A focus solve's state on the device: the graph of one operator, the iterate `φ`, the
/// teleport, and the step's vectors.
#[derive(Debug)]
pub struct CudaFocusScratch {
    graph: DeviceGraph,
    /// The operator the graph was uploaded from (its address), which every step must be given.
    operator: usize,
    n: usize,
    phi: CudaSlice<f64>,
    teleport: CudaSlice<f64>,
    by_out: CudaSlice<f64>,
    by_screen: CudaSlice<f64>,
    by_degree: CudaSlice<f64>,
    by_degree_next: CudaSlice<f64>,
    heat_walk: CudaSlice<f64>,
    heat_sum: CudaSlice<f64>,
    springs: CudaSlice<f64>,
    diffusion: CudaSlice<f64>,
    /// The step's result, then the next iterate.
    next: CudaSlice<f64>,
}

impl Backend for Cuda {
    type Error = KernelError;
    type FocusScratch = CudaFocusScratch;

    fn name(&self) -> &'static str {
        "cuda"
    }

    fn spmv(&self, a: &Csr, x: &[f64], y: &mut [f64]) -> Result<(), KernelError> {
        let rows = a.rows();
        if rows == 0 {
            return Ok(());
        }
        // The device reads what the host would index: a matrix that does not fit `x` is a
        // panic here, as on the CPU, never a read outside a buffer.
        assert!(y.len() >= rows, "y has {} entries for {rows} rows", y.len());
        assert!(
            a.offsets.windows(2).all(|w| w[0] <= w[1])
                && a.offsets[rows] == a.cols.len()
                && a.vals.len() == a.cols.len()
                && a.cols.iter().all(|&c| (c as usize) < x.len()),
            "a CSR matrix that does not fit x ({} entries)",
            x.len()
        );
        let offsets: Vec<u64> = a.offsets.iter().map(|&o| o as u64).collect();
        let (offsets, cols, vals) = (self.upload(&offsets)?, self.upload(&a.cols)?, self.upload(&a.vals)?);
        let x = self.upload(x)?;
        let mut out = self.zeros::<f64>(rows)?;
        let rows_u32 = count_u32(rows)?;
        let mut launch = self.stream.launch_builder(&self.kernels.spmv_pull);
        launch.arg(&offsets).arg(&cols).arg(&vals).arg(&x).arg(&mut out).arg(&rows_u32);
        // SAFETY: the arguments match spmv_pull's parameters in order and type; every buffer
        // holds what the kernel indexes (offsets rows + 1, cols/vals nnz, x columns, out rows).
        unsafe { launch.launch(warp_grid(rows)) }?;
        y[..rows].copy_from_slice(&self.download(&out, rows)?);
        Ok(())
    }

    fn tree_sum(&self, xs: &[f64]) -> Result<f64, KernelError> {
        let device = self.upload(xs)?;
        self.chunk_tree(&self.kernels.chunk_sums, &[&device], xs.len())
    }

    fn l1_distance(&self, a: &[f64], b: &[f64]) -> Result<f64, KernelError> {
        assert_eq!(a.len(), b.len(), "l1_distance of vectors of different lengths");
        let (a_device, b_device) = (self.upload(a)?, self.upload(b)?);
        self.chunk_tree(&self.kernels.l1_chunk_sums, &[&a_device, &b_device], a.len())
    }

    fn focus_scratch(
        &self,
        op: &FocusOperator,
        phi: &[f64],
        teleport: &[f64],
    ) -> Result<CudaFocusScratch, KernelError> {
        let n = op.len();
        assert_eq!((phi.len(), teleport.len()), (n, n), "vectors of another graph's size");
        let adjacency = &op.adjacency;
        let order = adjacency.visit_order();
        assert_eq!(order.len(), n, "every row is visited once");
        let (offsets, entries) = packed_rows(adjacency);
        let graph = DeviceGraph {
            order: self.upload(order)?,
            offsets: self.upload(&offsets)?,
            entries: self.upload(&entries)?,
            a_in: self.upload(adjacency.a_in())?,
            w: self.upload(adjacency.w())?,
            out: self.upload(&op.out)?,
            d: self.upload(&op.d)?,
            prior: self.upload(&op.prior)?,
        };
        let scratch = CudaFocusScratch {
            graph,
            operator: op as *const FocusOperator as usize,
            n,
            phi: self.upload(phi)?,
            teleport: self.upload(teleport)?,
            by_out: self.zeros(n)?,
            by_screen: self.zeros(n)?,
            by_degree: self.zeros(n)?,
            by_degree_next: self.zeros(n)?,
            heat_walk: self.zeros(n)?,
            heat_sum: self.zeros(n)?,
            springs: self.zeros(n)?,
            diffusion: self.zeros(n)?,
            next: self.zeros(n)?,
        };
        // The host copies above are freed on return; the uploads must be done by then.
        self.stream.synchronize()?;
        Ok(scratch)
    }

    fn focus_iterate(&self, op: &FocusOperator, ws: &mut CudaFocusScratch) -> Result<f64, KernelError> {
        let n = ws.n;
        assert_eq!(ws.operator, op as *const FocusOperator as usize, "scratch for another operator");
        if n == 0 {
            return Ok(0.0);
        }
        let p = &op.params;
        let n_u32 = count_u32(n)?;
        let g = &ws.graph;

        let mut launch = self.stream.launch_builder(&self.kernels.focus_prepare);
        launch.arg(&ws.phi).arg(&g.out).arg(&g.d).arg(&p.mu).arg(&n_u32);
        launch.arg(&mut ws.by_out).arg(&mut ws.by_screen).arg(&mut ws.by_degree);
        // SAFETY: focus_prepare(phi, out_deg, d, mu, n, by_out, by_screen, by_degree), n each.
        unsafe { launch.launch(grid(n)) }?;

        let dangling = self.chunk_tree(&self.kernels.dangling_chunk_sums, &[&ws.phi, &g.out], n)?;

        let (heat_0, heat_1) = (op.heat[0], op.heat.get(1).copied());
        let has_heat_1 = i32::from(heat_1.is_some());
        let heat_1 = heat_1.unwrap_or(0.0);
        let mut launch = self.stream.launch_builder(&self.kernels.focus_rows);
        launch.arg(&g.order).arg(&g.offsets).arg(&g.entries).arg(&g.a_in).arg(&g.w);
        launch.arg(&ws.by_out).arg(&ws.by_screen).arg(&ws.by_degree);
        launch.arg(&g.prior).arg(&dangling).arg(&g.d).arg(&ws.phi);
        launch.arg(&p.mu).arg(&heat_0).arg(&heat_1).arg(&has_heat_1).arg(&n_u32);
        launch.arg(&mut ws.diffusion).arg(&mut ws.springs).arg(&mut ws.heat_walk);
        launch.arg(&mut ws.heat_sum).arg(&mut ws.by_degree_next);
        // SAFETY: the arguments follow focus_rows's parameters; `order` holds n rows, `offsets`
        // n + 1 entry bounds into `entries` (two u32 each), whose kinds index `a_in`/`w`;
        // vectors hold n.
        unsafe { launch.launch(warp_grid(n)) }?;
        std::mem::swap(&mut ws.by_degree, &mut ws.by_degree_next);

        let with_heat = p.lambda_h > 0.0;
        if with_heat {
            for weight in op.heat.iter().skip(2) {
                let mut launch = self.stream.launch_builder(&self.kernels.heat_rows);
                launch.arg(&g.order).arg(&g.offsets).arg(&g.entries).arg(&g.w);
                launch.arg(&ws.by_degree).arg(&g.d).arg(weight).arg(&n_u32);
                launch.arg(&mut ws.heat_walk).arg(&mut ws.heat_sum).arg(&mut ws.by_degree_next);
                // SAFETY: heat_rows's parameters, with the same graph buffers as focus_rows.
                unsafe { launch.launch(warp_grid(n)) }?;
                std::mem::swap(&mut ws.by_degree, &mut ws.by_degree_next);
            }
        }

        let (c_diffusion, c_teleport) = (p.lambda_d * (1.0 - p.alpha), p.lambda_d * p.alpha);
        let (with_springs, with_heat) = (i32::from(p.lambda_s > 0.0), i32::from(with_heat));
        let mut launch = self.stream.launch_builder(&self.kernels.focus_combine);
        launch.arg(&ws.diffusion).arg(&ws.springs).arg(&ws.heat_sum).arg(&ws.teleport);
        launch.arg(&c_diffusion).arg(&p.lambda_s).arg(&p.lambda_h).arg(&c_teleport);
        launch.arg(&with_springs).arg(&with_heat).arg(&n_u32).arg(&mut ws.next);
        // SAFETY: focus_combine's parameters; every vector holds n.
        unsafe { launch.launch(grid(n)) }?;

        let total = self.chunk_tree(&self.kernels.chunk_sums, &[&ws.next], n)?;
        let mut launch = self.stream.launch_builder(&self.kernels.focus_normalise);
        launch.arg(&mut ws.next).arg(&total).arg(&n_u32);
        // SAFETY: focus_normalise(v, total, n); `next` holds n.
        unsafe { launch.launch(grid(n)) }?;
        let distance = self.chunk_tree(&self.kernels.l1_chunk_sums, &[&ws.next, &ws.phi], n)?;
        std::mem::swap(&mut ws.phi, &mut ws.next);
        Ok(distance)
    }

    fn focus_vector(&self, ws: CudaFocusScratch) -> Result<Vec<f64>, KernelError> {
        self.download(&ws.phi, ws.n)
    }

    fn matmul(&self, x: &[f32], w: &dense::Matrix, _path: dense::Path) -> Result<Vec<f32>, KernelError> {
        let (rows, cols) = (w.rows(), w.cols());
        // As on the CPU: whole rows of x, a ragged tail ignored.
        debug_assert_eq!(x.len() % rows, 0);
        let count = x.len() / rows;
        if count * cols == 0 {
            return Ok(vec![0.0; count * cols]);
        }
        let (x_device, w_device) = (self.upload(x)?, self.upload(w.data())?);
        let mut out = self.zeros::<f32>(count * cols)?;
        let dims = [count_u32(count)?, count_u32(rows)?, count_u32(cols)?];
        let mut launch = self.stream.launch_builder(&self.kernels.matmul_rows);
        launch.arg(&x_device).arg(&w_device).arg(&dims[0]).arg(&dims[1]).arg(&dims[2]).arg(&mut out);
        // SAFETY: matmul_rows(x, w, count, rows, cols, out): x holds count·rows, w rows·cols,
        // out count·cols.
        unsafe { launch.launch(grid(count * cols)) }?;
        self.download(&out, count * cols)
    }
}
