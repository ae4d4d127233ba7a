// The fused focus step (kernels/src/backend/cpu.rs, `FocusOperator::apply`): one thread per
// particle for the element-wise parts, one warp per adjacency row for the row passes, rows
// visited in the adjacency's storage order (`order[p]` is the row at position `p`; its entries
// are `entries[offsets[p]..offsets[p + 1]]`, each `(column, kind)`, ascending by column, as on
// the CPU). Each row folds its entries left to right from +0.0 (`warp_fold`) and every add,
// multiply and divide is rounded on its own (`__dadd_rn`, `__dmul_rn`, `__ddiv_rn`; the module
// is also compiled with --fmad=false), so every output has the CPU's bits.

// `by_out = φ/out` (0 when dangling), `by_screen = φ/(μ + d)`, `by_degree = φ/d` (0 when isolated).
extern "C" __global__ void focus_prepare(
    const double* phi, const double* out_deg, const double* d, double mu, unsigned int n,
    double* by_out, double* by_screen, double* by_degree
) {
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    by_out[i] = out_deg[i] > 0.0 ? __ddiv_rn(phi[i], out_deg[i]) : 0.0;
    by_screen[i] = __ddiv_rn(phi[i], __dadd_rn(mu, d[i]));
    by_degree[i] = d[i] > 0.0 ? __ddiv_rn(phi[i], d[i]) : 0.0;
}

// The first row pass: the diffusion pull over Aᵀ, the springs' pull and the first heat step over
// W, the heat sum started and the walk divided by degree for the next heat step.
extern "C" __global__ void focus_rows(
    const unsigned int* order, const unsigned long long* offsets, const uint2* entries,
    const double* a_in, const double* w,
    const double* by_out, const double* by_screen, const double* by_degree,
    const double* prior, double dangling, const double* d, const double* phi,
    double mu, double heat0, double heat1, int has_heat1, unsigned int n,
    double* diffusion, double* springs, double* walk, double* heat_sum, double* next_by_degree
) {
    unsigned long long p = warp_index();
    if (p >= n) return;
    // pulled (diffusion), pulled springs, the heat walk's step.
    double sums[3] = {0.0, 0.0, 0.0};
    warp_fold(offsets[p], offsets[p + 1], sums, [=](unsigned long long k, double (&term)[3]) {
        uint2 entry = entries[k];
        term[0] = __dmul_rn(a_in[entry.y], by_out[entry.x]);
        term[1] = __dmul_rn(w[entry.y], by_screen[entry.x]);
        term[2] = __dmul_rn(w[entry.y], by_degree[entry.x]);
    });
    if (!first_lane()) return;
    unsigned int i = order[p];
    diffusion[i] = __dadd_rn(sums[0], __dmul_rn(prior[i], dangling));
    springs[i] = __dadd_rn(__dmul_rn(mu, by_screen[i]), sums[1]);
    double walked = d[i] > 0.0 ? sums[2] : phi[i];
    walk[i] = walked;
    heat_sum[i] = has_heat1 ? __dadd_rn(__dmul_rn(heat0, phi[i]), __dmul_rn(heat1, walked)) : __dmul_rn(heat0, phi[i]);
    next_by_degree[i] = d[i] > 0.0 ? __ddiv_rn(walked, d[i]) : 0.0;
}

// One further heat step: `walk = W·by_degree` on rows with a degree (an isolated row keeps its
// walk), `heat_sum += weight·walk`, and the walk divided by degree for the next step.
extern "C" __global__ void heat_rows(
    const unsigned int* order, const unsigned long long* offsets, const uint2* entries,
    const double* w, const double* by_degree, const double* d,
    double weight, unsigned int n, double* walk, double* heat_sum, double* next_by_degree
) {
    unsigned long long p = warp_index();
    if (p >= n) return;
    unsigned int i = order[p];
    if (d[i] > 0.0) {
        double acc[1] = {0.0};
        warp_fold(offsets[p], offsets[p + 1], acc, [=](unsigned long long k, double (&term)[1]) {
            uint2 entry = entries[k];
            term[0] = __dmul_rn(w[entry.y], by_degree[entry.x]);
        });
        if (first_lane()) walk[i] = acc[0];
    }
    if (!first_lane()) return;
    heat_sum[i] = __dadd_rn(heat_sum[i], __dmul_rn(weight, walk[i]));
    next_by_degree[i] = d[i] > 0.0 ? __ddiv_rn(walk[i], d[i]) : 0.0;
}

// `out = ((c_d·diffusion + λ_s·springs) + λ_h·heat_sum) + c_t·teleport`, the terms of absent
// kernels left out.
extern "C" __global__ void focus_combine(
    const double* diffusion, const double* springs, const double* heat_sum, const double* teleport,
    double c_diffusion, double lambda_s, double lambda_h, double c_teleport,
    int with_springs, int with_heat, unsigned int n, double* out
) {
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    double value = __dmul_rn(c_diffusion, diffusion[i]);
    if (with_springs) value = __dadd_rn(value, __dmul_rn(lambda_s, springs[i]));
    if (with_heat) value = __dadd_rn(value, __dmul_rn(lambda_h, heat_sum[i]));
    out[i] = __dadd_rn(value, __dmul_rn(c_teleport, teleport[i]));
}

// `v = v / total`, each element divided on its own (the solver's renormalisation by the tree sum).
extern "C" __global__ void focus_normalise(double* v, double total, unsigned int n) {
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    v[i] = __ddiv_rn(v[i], total);
}
