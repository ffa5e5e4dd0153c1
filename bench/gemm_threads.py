"""Where a second BLAS thread pays: float32 GEMMs of the shapes recurrent kernels run,
timed with 1 thread and with every usable core, and the machine's GEMM ceiling.

Usage (from the repository root):

    python bench/gemm_threads.py              # the table: lone GEMMs (the policy's
                                              # threshold comes from whole epochs,
                                              # docs/performance.md)
    python bench/gemm_threads.py --markdown

Each shape runs back to back (threads kept warm, as in a kernel), medians of 7
blocks of calls of ~20 ms each. ``ceiling`` is a 2048^3 GEMM, the best this
BLAS does here. Shapes: the per-step recurrent GEMM (B, 4H) = (B, H) @ (H, 4H)
of an LSTM, the input projection (T*B, 4H) = (T*B, n_x) @ (n_x, 4H) and the
weight gradient (4H, H) = (4H, T*B) @ (T*B, H).
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from seqkit import threads


def time_gemm(m, n, k, nthreads, target=0.02, blocks=7):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    out = np.empty((m, n), np.float32)
    threads.set_blas_threads(nthreads)
    np.matmul(a, b, out=out)
    t0 = time.perf_counter()
    np.matmul(a, b, out=out)
    one = max(time.perf_counter() - t0, 1e-7)
    reps = max(1, int(target / one))
    res = []
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(reps):
            np.matmul(a, b, out=out)
        res.append((time.perf_counter() - t0) / reps)
    return statistics.median(res)


def ceiling(nthreads):
    """GFLOP/s of a 2048^3 float32 GEMM on ``nthreads`` threads."""
    return 2 * 2048 ** 3 / time_gemm(2048, 2048, 2048, nthreads, target=0.2, blocks=3) / 1e9


SHAPES = [  # (what, m, n, k)
    ("step B16 H128", 16, 512, 128), ("step B32 H128", 32, 512, 128),
    ("step B16 H256", 16, 1024, 256), ("step B64 H256", 64, 1024, 256),
    ("step B16 H512", 16, 2048, 512), ("step B64 H512", 64, 2048, 512),
    ("proj TB320 nx32 H128", 320, 512, 32), ("proj TB1600 nx64 H256", 1600, 1024, 64),
    ("proj TB6400 nx64 H512", 6400, 2048, 64),
    ("dW TB320 H128", 512, 128, 320), ("dW TB1600 H256", 1024, 256, 1600),
    ("dW TB6400 H512", 2048, 512, 6400),
]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    n = threads.usable_cores()
    before = threads.blas_threads()
    rows = []
    for what, m, nn, k in SHAPES:
        t1, tn = time_gemm(m, nn, k, 1), time_gemm(m, nn, k, n)
        f = 2 * m * nn * k
        rows.append((what, f"{m}x{nn}x{k}", f / 1e6, t1 * 1e6, tn * 1e6, f / t1 / 1e9, f / tn / 1e9,
                     tn / t1, threads.threads_for(m, nn, k)))
    c1, cn = ceiling(1), ceiling(n)
    threads.set_blas_threads(before)
    head = ["shape", "m x n x k", "MFLOP", "1 thread us", f"{n} threads us", "1t GFLOP/s",
            f"{n}t GFLOP/s", f"{n}t / 1t time", "policy threads"]
    fmt = ["{}", "{}", "{:.1f}", "{:.1f}", "{:.1f}", "{:.1f}", "{:.1f}", "{:.2f}", "{}"]
    if a.markdown:
        print("| " + " | ".join(head) + " |\n|" + "---|" * 2 + "---:|" * (len(head) - 2))
    for r in rows:
        cells = [f.format(v) for f, v in zip(fmt, r)]
        print(("| " + " | ".join(cells) + " |") if a.markdown else "  ".join(f"{c:>14}" for c in cells))
    print(f"\nceiling (2048^3 sgemm): {c1:.0f} GFLOP/s on 1 thread, {cn:.0f} on {n}; "
          f"policy: {threads.describe()}")


if __name__ == "__main__":
    main()
