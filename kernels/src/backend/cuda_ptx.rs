//! The CUDA kernels (`kernels/cuda/*.cu`) and their compilation to PTX with NVRTC, which `cudarc`
//! loads at run time: the CUDA C compiles, and its PTX can be checked, on a machine without a
//! GPU (NVRTC comes from the `nvidia-cuda-nvrtc-cu12` wheel; `scripts/test` installs it).
//! [`super::Cuda`] compiles them when it opens a device.

use cudarc::nvrtc::{CompileOptions, Ptx, compile_ptx_with_opts};

use crate::KernelError;

/// The in-order warp fold every module's row and chunk kernels use, compiled into each module.
const FOLD: &str = include_str!("../../cuda/fold.cuh");

/// Every CUDA module, by name, with its source (embedded at build time; [`compile_all`] puts the
/// shared fold before each).
pub const MODULES: &[(&str, &str)] = &[
    ("reduce", include_str!("../../cuda/reduce.cu")),
    ("spmv", include_str!("../../cuda/spmv.cu")),
    ("focus", include_str!("../../cuda/focus.cu")),
    ("dense", include_str!("../../cuda/dense.cu")),
];

/// Whether NVRTC can be loaded (the wheel's `nvidia/cuda_nvrtc/lib` on `LD_LIBRARY_PATH`, or a
/// CUDA toolkit's).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to open the shared library by its candidate names; nothing is called.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Compiles every module to PTX with fused multiply-add off, denormals kept and IEEE division
/// (bit-identity with the CPU needs each operation rounded on its own, as the CPU rounds it),
/// and the reduction tree's leaf size from [`crate::reduce::CHUNK`]; the first module that
/// fails is the error, with NVRTC's log.
pub fn compile_all() -> Result<Vec<(&'static str, Ptx)>, KernelError> {
    if !nvrtc_present() {
        return Err(KernelError::NvrtcMissing);
    }
    MODULES
        .iter()
        .map(|&(module, source)| {
            let options = CompileOptions {
                fmad: Some(false),
                ftz: Some(false),
                prec_div: Some(true),
                prec_sqrt: Some(true),
                options: vec![format!("-DCHUNK={}ULL", crate::reduce::CHUNK)],
                name: Some(format!("{module}.cu")),
                ..Default::default()
            };
            compile_ptx_with_opts(format!("{FOLD}\n{source}"), options)
                .map(|ptx| (module, ptx))
                .map_err(|error| KernelError::CudaCompile { module, log: format!("{error:?}") })
        })
        .collect()
}
