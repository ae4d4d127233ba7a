//! Compute backends: the operations the focus solver and the transformers run, behind one trait
//! with a CPU and a CUDA implementation.
//!
//! The pattern is candle's `BackendStorage`: [`Backend`] names the operations — the pull SpMV
//! with its fixed in-row order, the reduction tree of spec/focus.md §4, the fused focus step and
//! dense f32 matrix products — and each device implements them with the same floating-point
//! order, so results are bit-identical across devices (the tests in `tests/it/backend.rs` run
//! on every backend present). The stopping rule and everything else that decides *what* to
//! compute stays outside the backends ([`FocusOperator::solve_on`]), so no device can stop at
//! another step than the CPU.
//!
//! [`Cuda`] runs the same operations on a GPU (`cuda` feature: the kernels of `kernels/cuda/`,
//! compiled with NVRTC when a device is opened); in a build without the feature it is a
//! stand-in that cannot be constructed, and [`Cuda::new`] says why
//! ([`KernelError::CudaNotCompiled`]).

mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
#[cfg(feature = "cuda")]
pub mod cuda_ptx;
#[cfg(not(feature = "cuda"))]
mod cuda_stub;

pub use cpu::{Cpu, CpuFocusScratch};
pub(crate) use cpu::{StepScratch, focus_step};
#[cfg(feature = "cuda")]
pub use cuda::{Cuda, CudaFocusScratch};
#[cfg(not(feature = "cuda"))]
pub use cuda_stub::Cuda;

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use crate::{FocusOperator, FocusSolution, KernelError, csr::Csr, dense};

/// The device a node's focus solves run on, chosen once at start-up. Either gives the same bits
/// (so the choice is a node's own, not consensus).
#[derive(Clone, Debug, Default)]
pub enum Device {
    /// The CPU's cores.
    #[default]
    Cpu,
    /// A GPU, until it fails.
    Cuda(Arc<Gpu>),
}

/// A GPU a node solves on, and whether it has failed (then the CPU takes every solve).
#[derive(Debug)]
pub struct Gpu {
    cuda: Cuda,
    failed: AtomicBool,
}

impl Device {
    /// Solves on `cuda`.
    pub fn gpu(cuda: Cuda) -> Self {
        Device::Cuda(Arc::new(Gpu { cuda, failed: AtomicBool::new(false) }))
    }

    /// `"cpu"`, or the GPU's name and ordinal (and, once it failed, that the CPU solves).
    pub fn describe(&self) -> String {
        match self {
            Device::Cpu => "cpu".into(),
            Device::Cuda(gpu) if gpu.failed.load(Ordering::Acquire) => format!("cpu ({} failed)", gpu.cuda.device()),
            Device::Cuda(gpu) => gpu.cuda.device().to_owned(),
        }
    }

    /// [`FocusOperator::solve`] on this device, always answered: a GPU that fails — an error or
    /// a panic in its path — hands this solve to the CPU, which computes the same bits, and is
    /// not used again. The failure comes back beside the solution, once, for the caller to
    /// report.
    pub fn solve(&self, op: &FocusOperator, warm: Option<&[f64]>) -> (FocusSolution, Option<KernelError>) {
        let Device::Cuda(gpu) = self else { return (op.solve(warm), None) };
        if gpu.failed.load(Ordering::Acquire) {
            return (op.solve(warm), None);
        }
        let solved = catch_unwind(AssertUnwindSafe(|| op.solve_on(&gpu.cuda, op.prior(), warm, op.params.epsilon)))
            .unwrap_or_else(|panic| {
                let message = panic.downcast_ref::<String>().map(String::as_str);
                let message = message.or_else(|| panic.downcast_ref::<&str>().copied()).unwrap_or("a panic");
                Err(KernelError::Cuda(format!("the solve panicked: {message}")))
            });
        match solved {
            Ok(solution) => (solution, None),
            Err(failure) => {
                gpu.failed.store(true, Ordering::Release);
                (op.solve(warm), Some(failure))
            }
        }
    }
}

/// A device the kernels run on. Slices are host memory.
pub trait Backend: Sync {
    /// What the device's operations fail with ([`std::convert::Infallible`] on the CPU).
    type Error: Into<KernelError> + std::fmt::Debug;
    /// Per-solve state of the focus step (scratch vectors, device buffers).
    type FocusScratch;

    /// The device's name, for logs and metrics.
    fn name(&self) -> &'static str;

    /// `y = A·x` by rows; each `y[i]` sums its row left to right (as [`Csr::spmv_naive`]).
    fn spmv(&self, a: &Csr, x: &[f64], y: &mut [f64]) -> Result<(), Self::Error>;

    /// `Σ xs` with the fixed reduction tree ([`crate::reduce::tree_sum`]).
    fn tree_sum(&self, xs: &[f64]) -> Result<f64, Self::Error>;

    /// `‖a − b‖₁` with the fixed reduction tree.
    fn l1_distance(&self, a: &[f64], b: &[f64]) -> Result<f64, Self::Error>;

    /// A focus solve's state on this device: `op`'s graph where the device reads it, the
    /// teleport, and the iterate `φ`, which starts at `phi`.
    fn focus_scratch(
        &self,
        op: &FocusOperator,
        phi: &[f64],
        teleport: &[f64],
    ) -> Result<Self::FocusScratch, Self::Error>;

    /// One iteration of the solver on the scratch's iterate: `s = M·φ + λ_d·α·t` (the step in
    /// the order [`FocusOperator::apply`] documents), then `φ ← s / Σs`, each element divided
    /// by the tree sum; returns `‖φ_new − φ_old‖₁` by the fixed tree.
    fn focus_iterate(&self, op: &FocusOperator, scratch: &mut Self::FocusScratch) -> Result<f64, Self::Error>;

    /// The scratch's iterate, on the host.
    fn focus_vector(&self, scratch: Self::FocusScratch) -> Result<Vec<f64>, Self::Error>;

    /// `X·W` for the row-major `count × w.rows()` matrix `x`: every output sums `x_i·W[i][j]`
    /// from `0.0` over `i` ascending, whichever [`dense::Path`] walks memory.
    fn matmul(&self, x: &[f32], w: &dense::Matrix, path: dense::Path) -> Result<Vec<f32>, Self::Error>;
}
