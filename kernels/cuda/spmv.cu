// The pull SpMV `y = A·x` over CSR rows (kernels/src/csr.rs): one thread per row folds its
// entries left to right from +0.0, `acc + v·x[c]` rounded at each step, exactly the CPU's
// `Csr::row_dot`, so each `y[i]` has the CPU's bits.

extern "C" __global__ void spmv_pull(
    const unsigned long long* offsets,
    const unsigned int* cols,
    const double* vals,
    const double* x,
    double* y,
    unsigned int rows
) {
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows) return;
    double acc = 0.0;
    for (unsigned long long k = offsets[i]; k < offsets[i + 1]; ++k) {
        acc = __dadd_rn(acc, __dmul_rn(vals[k], x[cols[k]]));
    }
    y[i] = acc;
}
