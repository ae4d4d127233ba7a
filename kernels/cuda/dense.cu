// The dense f32 product `X·W` (kernels/src/dense.rs): one thread per output element sums
// `x[r][i]·W[i][j]` from +0.0 over `i` ascending, each multiply and add rounded on its own
// (`__fmul_rn`, `__fadd_rn`; no fused multiply-add), so every output has the CPU's bits.

extern "C" __global__ void matmul_rows(
    const float* x, const float* w, unsigned int count, unsigned int rows, unsigned int cols, float* out
) {
    unsigned long long at = (unsigned long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (at >= (unsigned long long)count * cols) return;
    unsigned long long r = at / cols, j = at % cols;
    float acc = 0.0f;
    for (unsigned int i = 0; i < rows; ++i) {
        acc = __fadd_rn(acc, __fmul_rn(x[r * rows + i], w[(unsigned long long)i * cols + j]));
    }
    out[at] = acc;
}
