// The reduction tree's leaves (spec/focus.md §4, kernels/src/reduce.rs): chunk `c` of `CHUNK`
// elements summed left to right from +0.0, one warp per chunk (`warp_fold`), so every chunk sum
// has the CPU's bits. The pairwise levels above the leaves run on the host over the few chunk
// sums. Every add and subtraction is explicitly rounded (`__dadd_rn`, `__dsub_rn`): NVRTC may
// not fuse them (the module is also compiled with --fmad=false).
// CHUNK comes from the host (`-DCHUNK=`, kernels/src/reduce.rs's `CHUNK`), so both trees
// have the same leaves.

// This warp's chunk of `value(0..len)`, summed into `sums[chunk]`.
template <typename Value>
__device__ void chunk_sum(unsigned long long len, double* sums, Value value) {
    unsigned long long c = warp_index();
    unsigned long long first = c * CHUNK;
    if (first >= len) return;
    unsigned long long end = first + CHUNK < len ? first + CHUNK : len;
    double acc[1] = {0.0};
    warp_fold(first, end, acc, [=](unsigned long long i, double (&term)[1]) { term[0] = value(i); });
    if (first_lane()) sums[c] = acc[0];
}

extern "C" __global__ void chunk_sums(const double* xs, unsigned long long len, double* sums) {
    chunk_sum(len, sums, [=](unsigned long long i) { return xs[i]; });
}

// `Σ |a_i − b_i|` per chunk (the solver's stopping rule).
extern "C" __global__ void l1_chunk_sums(const double* a, const double* b, unsigned long long len, double* sums) {
    chunk_sum(len, sums, [=](unsigned long long i) { return fabs(__dsub_rn(a[i], b[i])); });
}

// `Σ_i [out_i = 0]·φ_i` per chunk: the dangling mass of a focus step (a particle with out-links
// adds +0.0, as on the CPU).
extern "C" __global__ void dangling_chunk_sums(const double* phi, const double* out_deg, unsigned long long len, double* sums) {
    chunk_sum(len, sums, [=](unsigned long long i) { return out_deg[i] > 0.0 ? 0.0 : phi[i]; });
}
