"""A fair kernel benchmark: seqkit's recurrent layers and torch's, forward + BPTT, each
timed alone in its own process, with the GFLOP/s of every point beside the machine's
GEMM ceiling measured in the same run.

Usage (from the repository root):

    python bench/kernel_fair.py                    # the grid below, all cells
    python bench/kernel_fair.py --cells lstm --markdown
    python bench/kernel_fair.py --ragged           # lengths uniform in [T/2, T]; torch packed
    python bench/kernel_fair.py --threads 1        # seqkit --threads and torch.set_num_threads
    python bench/kernel_fair.py --rounds 3         # every point 3 times, the order alternating

Why processes: ``bench/rnn_speed.py`` alternates seqkit and torch call by call in one
process, so OpenBLAS's threads are still spinning from seqkit's last GEMM while torch
runs (and torch's OpenMP threads while seqkit runs). Here every (contender, point)
is a fresh process that builds the layer, warms up, then times calls until ~``--target``
seconds have passed (at least 5); the median is reported. This host's speed drifts by
10-30 % (at times 2x) within minutes, so ``--rounds R`` runs every point R times, seqkit
first in odd rounds and torch first in even ones; the table then gives each contender's
median time and the median of the R per-round ratios, with their range. Float32, dense input
n_x = 64, zero initial state; both compute dx and every weight gradient (seqkit's
backward gets random dy and d_state, torch's loss is ``(y*dy).sum() + (h_n*dh).sum()``).

GEMM work of forward + BPTT: ``2 T B G H (3 n_x + 3 H)`` flops (input projection,
T recurrent GEMMs forward and backward, dW_ih, dW_hh, dx; G gates). ``GFLOP/s`` is
that over the measured time; ``% ceiling`` compares it with a 2048^3 sgemm on the
same threads, timed in its own process before and after the grid (the better of
the two is the ceiling).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

N_X = 64
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
GRID = [(16, 100, 256), (64, 25, 256), (64, 100, 512), (16, 25, 512), (64, 25, 64)]


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", nargs="+", default=["rnn", "gru", "lstm"], choices=list(GATES))
    p.add_argument("--ragged", action="store_true")
    p.add_argument("--threads", default=None, help="seqkit --threads and torch threads (default: each's own)")
    p.add_argument("--target", type=float, default=1.0, help="seconds of timed calls per point")
    p.add_argument("--rounds", type=int, default=1, help="runs of every point, alternating who goes first")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--child", nargs=5, metavar=("WHO", "CELL", "B", "T", "H"), help=argparse.SUPPRESS)
    p.add_argument("--ceiling-child", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def flops(cell, B, T, H, n_x=N_X):
    return 2 * T * B * GATES[cell] * H * (3 * n_x + 3 * H)


def _lengths(B, T, ragged):
    import numpy as np
    if not ragged:
        return None
    lengths = np.random.default_rng(2).integers(T // 2, T + 1, B)
    lengths[0] = T
    return lengths


def _time(fn, target):
    fn()
    fn()
    times, start = [], time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < target:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 2000:
            break
    return statistics.median(times), len(times)


def child_seqkit(cell, B, T, H, args):
    import numpy as np

    import seqkit
    from seqkit import memory, threads
    threads.configure(args.threads)
    memory.configure()  # as the command line does (SEQKIT_MALLOC=default: glibc's own policy)
    layer = {"rnn": seqkit.RNN, "gru": seqkit.GRU, "lstm": seqkit.LSTM}[cell](N_X, H, seed=0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((T, B, N_X), dtype=np.float32)
    dy = rng.standard_normal((T, B, H), dtype=np.float32)
    ds = [rng.standard_normal((1, B, H), dtype=np.float32) for _ in range(2 if cell == "lstm" else 1)]
    d_state = tuple(ds) if cell == "lstm" else ds[0]
    lengths = _lengths(B, T, args.ragged)

    def fb():
        layer.zero_grad()
        layer.forward(x, lengths)
        layer.backward(dy, d_state)
    return _time(fb, args.target)


def child_torch(cell, B, T, H, args):
    import numpy as np
    import torch
    if args.threads and args.threads != "auto":
        torch.set_num_threads(int(args.threads))
    cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell]
    m = cls(N_X, H)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((T, B, N_X), dtype=np.float32)).requires_grad_(True)
    dy = torch.from_numpy(rng.standard_normal((T, B, H), dtype=np.float32))
    ds = [torch.from_numpy(rng.standard_normal((1, B, H), dtype=np.float32))
          for _ in range(2 if cell == "lstm" else 1)]
    lengths = _lengths(B, T, args.ragged)

    def fb():
        m.zero_grad(set_to_none=True)
        x.grad = None
        if lengths is None:
            y, h_n = m(x)
        else:
            packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.from_numpy(lengths),
                                                             enforce_sorted=False)
            y, h_n = m(packed)
            y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, total_length=T)
        h_n = h_n if cell == "lstm" else (h_n,)
        loss = (y * dy).sum() + sum((h * d).sum() for h, d in zip(h_n, ds))
        loss.backward()
    return _time(fb, args.target)


def child_ceiling(args):
    import numpy as np

    from seqkit import threads
    threads.configure(args.threads)
    n = threads.fixed_threads() or threads.usable_cores()
    threads.set_blas_threads(n)
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    out = np.empty_like(a)
    t, _ = _time(lambda: np.matmul(a, a, out=out), 1.0)
    return 2 * 2048 ** 3 / t / 1e9, n


def spawn(extra, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--target", str(args.target)] + extra
    cmd += (["--ragged"] if args.ragged else []) + (["--threads", args.threads] if args.threads else [])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{' '.join(extra)} failed: {out.stderr.strip()[-800:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    args = _parse()
    if args.child:
        who, cell, B, T, H = args.child
        fn = child_seqkit if who == "seqkit" else child_torch
        t, n = fn(cell, int(B), int(T), int(H), args)
        print(json.dumps({"t": t, "n": n}))
        return 0
    if args.ceiling_child:
        g, n = child_ceiling(args)
        print(json.dumps({"gflops": g, "threads": n}))
        return 0
    if args.rounds < 1:
        sys.exit(f"--rounds must be at least 1, not {args.rounds}")
    load0 = os.getloadavg()
    c0 = spawn(["--ceiling-child"], args)
    whos = ["seqkit"] + ([] if args.no_torch else ["torch"])
    rows = []
    for cell in args.cells:
        for B, T, H in GRID:
            r = {"cell": cell, "B": B, "T": T, "H": H, "ratios": []}
            runs = {w: [] for w in whos}
            for k in range(args.rounds):
                for who in (whos if k % 2 == 0 else whos[::-1]):
                    res = spawn(["--child", who, cell, str(B), str(T), str(H)], args)
                    runs[who].append(res["t"])
                if "torch" in runs:
                    r["ratios"].append(runs["seqkit"][-1] / runs["torch"][-1])
            for who in whos:
                r[who] = statistics.median(runs[who])
            rows.append(r)
            times = ("  ".join(f"{w} " + " / ".join(f"{t * 1e3:.2f}" for t in runs[w]) + " ms"
                               for w in whos))
            print(f"  {cell} B {B} T {T} H {H}: {times}", file=sys.stderr)
    c1 = spawn(["--ceiling-child"], args)
    ceiling = max(c0["gflops"], c1["gflops"])
    load1 = os.getloadavg()
    print(f"load average {load0[0]:.2f} at the start, {load1[0]:.2f} at the end; GEMM ceiling "
          f"{ceiling:.0f} GFLOP/s (2048^3 sgemm, {c0['threads']} threads; {c0['gflops']:.0f} before, "
          f"{c1['gflops']:.0f} after); {'ragged' if args.ragged else 'equal'} lengths"
          + (f"; {args.rounds} rounds, medians" if args.rounds > 1 else ""))
    head = ["cell", "B", "T", "H", "seqkit ms", "seqkit GFLOP/s", "% ceiling"]
    if "torch" in whos:
        head += ["torch ms", "torch GFLOP/s", "torch % ceiling", "seqkit/torch"]
        if args.rounds > 1:
            head += ["range"]
    body = []
    for r in rows:
        f = flops(r["cell"], r["B"], r["T"], r["H"])
        line = [r["cell"], r["B"], r["T"], r["H"], f"{r['seqkit'] * 1e3:.2f}",
                f"{f / r['seqkit'] / 1e9:.0f}", f"{100 * f / r['seqkit'] / 1e9 / ceiling:.0f}"]
        if "torch" in whos:
            line += [f"{r['torch'] * 1e3:.2f}", f"{f / r['torch'] / 1e9:.0f}",
                     f"{100 * f / r['torch'] / 1e9 / ceiling:.0f}", f"{statistics.median(r['ratios']):.2f}"]
            if args.rounds > 1:
                line += [f"{min(r['ratios']):.2f}-{max(r['ratios']):.2f}"]
        body.append([str(c) for c in line])
    from tables import print_table  # beside this file

    print_table(head, body, args.markdown)
    if "torch" in whos:
        print("\nmedian seqkit/torch over the grid: " + ", ".join(
            f"{c} {statistics.median(statistics.median(r['ratios']) for r in rows if r['cell'] == c):.2f}"
            for c in args.cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
