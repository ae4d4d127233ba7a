//! The CUDA kernels compile to PTX with NVRTC (no GPU needed) and hold no fused multiply-add.

use kernels::{
    KernelError,
    backend::cuda_ptx::{MODULES, compile_all, nvrtc_present},
};

/// The kernels a module's source defines: its `__global__` functions.
fn declared(source: &str) -> Vec<&str> {
    source
        .split("__global__ void ")
        .skip(1)
        .map(|rest| rest.split('(').next().expect("a kernel has a parameter list").trim())
        .collect()
}

#[test]
fn every_cuda_kernel_compiles_to_ptx_without_fused_multiply_add() {
    if !nvrtc_present() {
        // `scripts/test` installs NVRTC, so CI always runs this check.
        assert!(std::env::var_os("CI").is_none(), "{}", KernelError::NvrtcMissing);
        eprintln!("skipped: {}", KernelError::NvrtcMissing);
        return;
    }
    let compiled = compile_all().unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(compiled.len(), MODULES.len());
    for ((module, ptx), (_, source)) in compiled.iter().zip(MODULES) {
        let ptx = ptx.to_src();
        let entries: Vec<&str> = ptx
            .lines()
            .filter_map(|line| line.trim().strip_prefix(".visible .entry "))
            .map(|entry| entry.split('(').next().unwrap_or(entry))
            .collect();
        let kernels = declared(source);
        assert!(!kernels.is_empty(), "{module} declares no kernel");
        for kernel in kernels {
            assert!(entries.contains(&kernel), "{module}: no PTX entry for {kernel} in {entries:?}");
        }
        assert!(!ptx.contains("fma.rn.f"), "{module}: a fused multiply-add in its PTX");
    }
}
