"""PageRank baselines on the focus bench's R-MAT graph: scipy CSR and SuiteSparse:GraphBLAS.

Same graph (target/bench-data/rmat.u32, written by `cargo bench -p kernels --bench focus`), same
operator as the engine's PageRank mode (spec/focus.md with lambda_s = lambda_h = 0): dangling
columns on the prior u = (d + 1e-9)/sum, alpha = 0.15, stop when kappa/(1-kappa)*||x_t - x_t-1||_1
<= 1e-6. Prints time per SpMV, per iteration, and to solution. Run by scripts/bench-focus.
"""
import sys
import time

import numpy as np
import scipy.sparse as sp

ALPHA, EPS = 0.15, 1e-6
KAPPA = 1.0 - ALPHA


def load(path, n):
    pairs = np.fromfile(path, dtype="<u4").reshape(-1, 2)
    keep = pairs[:, 0] != pairs[:, 1]
    src, dst = pairs[keep, 0].astype(np.int64), pairs[keep, 1].astype(np.int64)
    a = sp.csr_matrix((np.ones(len(src)), (src, dst)), shape=(n, n))  # duplicates add
    a.sum_duplicates()
    return a


def best_of(runs, f):
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def power_iteration(n, spmv, u, dangling):
    x = np.full(n, 1.0 / n)
    iterations = 0
    start = time.perf_counter()
    while True:
        y = spmv(x)
        mass = x[dangling].sum()
        nxt = (1 - ALPHA) * (y + u * mass) + ALPHA * u
        nxt /= nxt.sum()
        iterations += 1
        diff = np.abs(nxt - x).sum()
        x = nxt
        if KAPPA / (1 - KAPPA) * diff <= EPS:
            break
    return x, iterations, time.perf_counter() - start


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    a = load(path, n)
    out = np.asarray(a.sum(axis=1)).ravel()
    d = out + np.asarray(a.sum(axis=0)).ravel()
    u = (d + 1e-9) / (d + 1e-9).sum()
    dangling = out == 0
    inv = np.where(dangling, 0.0, 1.0 / np.where(dangling, 1.0, out))
    m = sp.csr_matrix(a.multiply(inv[:, None]).T)  # M[q, p] = A[p, q] / out_p, rows by target
    x = np.full(n, 1.0 / n)

    spmv = best_of(10, lambda: m @ x)
    pi, iters, total = power_iteration(n, lambda v: m @ v, u, dangling)
    import scipy

    print(f"scipy {scipy.__version__} CSR: SpMV {spmv * 1e3:.2f} ms; PageRank {iters} iterations, "
          f"{total / iters * 1e3:.2f} ms/iteration, {total * 1e3:.0f} ms to solution")

    import graphblas as gb

    coo = m.tocoo()
    mg = gb.Matrix.from_coo(coo.row, coo.col, coo.data, nrows=n, ncols=n, dtype=gb.dtypes.FP64)
    xg = gb.Vector.from_dense(x)

    def gb_spmv(v):
        return mg.mxv(gb.Vector.from_dense(v), gb.semiring.plus_times).new().to_dense(fill_value=0.0)

    spmv_gb = best_of(10, lambda: mg.mxv(xg, gb.semiring.plus_times).new())
    pi_gb, iters_gb, total_gb = power_iteration(n, gb_spmv, u, dangling)
    print(f"SuiteSparse:GraphBLAS {gb.__version__}: SpMV {spmv_gb * 1e3:.2f} ms; PageRank {iters_gb} iterations, "
          f"{total_gb / iters_gb * 1e3:.2f} ms/iteration, {total_gb * 1e3:.0f} ms to solution")
    print(f"baselines agree: ||scipy - graphblas||_1 = {np.abs(pi - pi_gb).sum():.1e}")
    np.savetxt(sys.argv[3], pi) if len(sys.argv) > 3 else None


if __name__ == "__main__":
    main()
