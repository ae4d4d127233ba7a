// The pull SpMV `y = A·x` over CSR rows (kernels/src/csr.rs): one warp per row folds its entries
// left to right from +0.0 (`warp_fold`), `acc + v·x[c]` rounded at each step, exactly the CPU's
// `Csr::row_dot`, so each `y[i]` has the CPU's bits.

extern "C" __global__ void spmv_pull(
    const unsigned long long* offsets,
    const unsigned int* cols,
    const double* vals,
    const double* x,
    double* y,
    unsigned int rows
) {
    unsigned long long i = warp_index();
    if (i >= rows) return;
    double acc[1] = {0.0};
    warp_fold(offsets[i], offsets[i + 1], acc, [=](unsigned long long k, double (&term)[1]) {
        term[0] = __dmul_rn(vals[k], x[cols[k]]);
    });
    if (first_lane()) y[i] = acc[0];
}
