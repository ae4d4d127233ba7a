// The in-order fold every row and chunk kernel uses (prepended to each module by
// kernels/src/backend/cuda_ptx.rs). One warp folds one row or chunk: its lanes compute the terms
// side by side (their loads coalesced, the gathers in flight together), then every lane adds
// those terms to its accumulators one at a time in index order, from +0.0 and each add rounded
// on its own (`__dadd_rn`), so every lane holds exactly the CPU's left-to-right sum. The order
// of the adds is the consensus rule; only the loads and multiplies run in parallel.
//
// The adds of a long row are one dependent chain, so a row costs at least its length times the
// add's latency; what the fold can hide is the loads' latency. It takes the terms in spans of
// `FOLD_SPAN` entries (two per lane) and loads the next span while it adds the current one.

#define FULL_WARP 0xffffffffu
// Entries per lane in one span.
#define FOLD_PER_LANE 2
#define FOLD_SPAN (32 * FOLD_PER_LANE)
// Shuffles in flight before their adds.
#define FOLD_BATCH 8

// The warp this thread belongs to, counted over the whole grid (a launch of a warp per item).
__device__ __forceinline__ unsigned long long warp_index() {
    return ((unsigned long long)blockIdx.x * blockDim.x + threadIdx.x) / 32;
}

// Whether this thread is its warp's first lane (the one that writes a warp's results).
__device__ __forceinline__ bool first_lane() {
    return threadIdx.x % 32 == 0;
}

// This lane's terms of the span that starts at `base`: entry `base + 32·u + lane` in `term[u]`
// (zeros past `end`, never added).
template <int N, typename Terms>
__device__ __forceinline__ void span_terms(
    unsigned long long base, unsigned long long end, double (&term)[FOLD_PER_LANE][N], Terms terms
) {
    unsigned int lane = threadIdx.x % 32;
#pragma unroll
    for (int u = 0; u < FOLD_PER_LANE; ++u) {
        unsigned long long k = base + 32 * u + lane;
        if (k < end) {
            terms(k, term[u]);
        } else {
#pragma unroll
            for (int s = 0; s < N; ++s) term[u][s] = 0.0;
        }
    }
}

// `acc[s] += terms(k)[s]` for k = begin, begin + 1, …, end − 1 in that order, for each of the N
// sums. `terms(k, term)` fills `term` with item k's N terms. Every lane of the warp must call
// this with the same bounds (it shuffles across the whole warp).
template <int N, typename Terms>
__device__ __forceinline__ void warp_fold(unsigned long long begin, unsigned long long end, double (&acc)[N], Terms terms) {
    double term[FOLD_PER_LANE][N], ahead[FOLD_PER_LANE][N];
    span_terms(begin, end, term, terms);
    for (unsigned long long base = begin; base < end; base += FOLD_SPAN) {
        span_terms(base + FOLD_SPAN, end, ahead, terms);
#pragma unroll
        for (int u = 0; u < FOLD_PER_LANE; ++u) {
            unsigned long long first = base + 32 * u;
            if (end >= first + 32) {
                // A whole warp of terms: shuffled `FOLD_BATCH` at a time, all issued before
                // their adds (in-order issue would otherwise put each shuffle's latency
                // between two adds of the chain).
#pragma unroll
                for (int j = 0; j < 32; j += FOLD_BATCH) {
                    double batch[FOLD_BATCH][N];
#pragma unroll
                    for (int b = 0; b < FOLD_BATCH; ++b) {
#pragma unroll
                        for (int s = 0; s < N; ++s) batch[b][s] = __shfl_sync(FULL_WARP, term[u][s], j + b);
                    }
#pragma unroll
                    for (int b = 0; b < FOLD_BATCH; ++b) {
#pragma unroll
                        for (int s = 0; s < N; ++s) acc[s] = __dadd_rn(acc[s], batch[b][s]);
                    }
                }
            } else {
                int count = end > first ? (int)(end - first) : 0;
                for (int j = 0; j < count; ++j) {
#pragma unroll
                    for (int s = 0; s < N; ++s) acc[s] = __dadd_rn(acc[s], __shfl_sync(FULL_WARP, term[u][s], j));
                }
            }
        }
#pragma unroll
        for (int u = 0; u < FOLD_PER_LANE; ++u) {
#pragma unroll
            for (int s = 0; s < N; ++s) term[u][s] = ahead[u][s];
        }
    }
}
