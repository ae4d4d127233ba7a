//! The CUDA backend's stand-in in a build without the `cuda` feature (candle's dummy backend):
//! the same type, which cannot be constructed, so no caller can reach a kernel that is not
//! compiled in, and a clear error for whoever asks for a GPU.

use std::convert::Infallible;

use super::{Backend, CpuFocusScratch};
use crate::{FocusOperator, KernelError, csr::Csr, dense};

/// A CUDA device. Not available in this build: [`Cuda::new`] always fails.
#[derive(Debug)]
pub struct Cuda {
    never: Infallible,
}

impl Cuda {
    /// The GPU with this ordinal; fails with [`KernelError::CudaNotCompiled`].
    pub fn new(_ordinal: usize) -> Result<Self, KernelError> {
        Err(KernelError::CudaNotCompiled)
    }

    /// The device's name and ordinal, for logs.
    pub fn device(&self) -> &str {
        match self.never {}
    }
}

impl Backend for Cuda {
    type Error = KernelError;
    type FocusScratch = CpuFocusScratch;

    fn name(&self) -> &'static str {
        match self.never {}
    }

    fn spmv(&self, _: &Csr, _: &[f64], _: &mut [f64]) -> Result<(), KernelError> {
        match self.never {}
    }

    fn tree_sum(&self, _: &[f64]) -> Result<f64, KernelError> {
        match self.never {}
    }

    fn l1_distance(&self, _: &[f64], _: &[f64]) -> Result<f64, KernelError> {
        match self.never {}
    }

    fn focus_scratch(&self, _: &FocusOperator, _: &[f64], _: &[f64]) -> Result<CpuFocusScratch, KernelError> {
        match self.never {}
    }

    fn focus_iterate(&self, _: &FocusOperator, _: &mut CpuFocusScratch) -> Result<f64, KernelError> {
        match self.never {}
    }

    fn focus_vector(&self, _: CpuFocusScratch) -> Result<Vec<f64>, KernelError> {
        match self.never {}
    }

    fn matmul(&self, _: &[f32], _: &dense::Matrix, _: dense::Path) -> Result<Vec<f32>, KernelError> {
        match self.never {}
    }
}
