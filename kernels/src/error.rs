//! The kernels' one error type.

/// Result alias for the kernels.
pub type Result<T, E = KernelError> = std::result::Result<T, E>;

/// What the kernels refuse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// A parameter outside its range.
    #[error("invalid focus parameters: {0}")]
    InvalidParams(String),
    /// A negative, NaN or missing weight, or an edge outside the graph.
    #[error("invalid weight: {0}")]
    InvalidWeight(String),
    /// More particles than `u32` indices address.
    #[error("{0} particles exceed the u32 index range")]
    TooLarge(usize),
    /// A line of an edge list that is not one ([`crate::edge_list`]).
    #[error("not an edge: {0}")]
    EdgeList(String),
    /// A GPU was asked for, but this build has no CUDA backend.
    #[error("CUDA is not available: this build has no CUDA backend (build with the `cuda` feature)")]
    CudaNotCompiled,
    /// No GPU can be used: no CUDA driver, or no device with that ordinal.
    #[error("no GPU: {0}")]
    NoGpu(String),
    /// A CUDA driver call failed (allocation, copy, launch).
    #[error("CUDA: {0}")]
    Cuda(String),
    /// NVRTC, which compiles the CUDA kernels, cannot be loaded.
    #[error(
        "NVRTC cannot be loaded: install the nvidia-cuda-nvrtc-cu12 wheel and put its nvidia/cuda_nvrtc/lib on LD_LIBRARY_PATH"
    )]
    NvrtcMissing,
    /// A CUDA module does not compile.
    #[error("the CUDA module {module} does not compile: {log}")]
    CudaCompile {
        /// The module (`kernels/cuda/<module>.cu`).
        module: &'static str,
        /// NVRTC's answer.
        log: String,
    },
}

impl From<std::convert::Infallible> for KernelError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}
