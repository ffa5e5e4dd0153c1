"""Speed of seqkit's recurrent layers against PyTorch and a naive per-step reference.

This one alternates seqkit and torch call by call in one process, so one's BLAS/OpenMP
threads may still spin while the other runs: it flatters whoever runs second. For
seqkit/torch ratios use ``bench/kernel_fair.py`` (a process per contender and point).

Usage (from the repository root):

    python bench/rnn_speed.py                  # full grid, plain table
    python bench/rnn_speed.py --markdown       # the table for docs/performance.md
    python bench/rnn_speed.py --quick          # a small subset (smoke test)
    python bench/rnn_speed.py --cells lstm gru --no-naive --threads 2
    python bench/rnn_speed.py --backend cupy --large   # GPU; torch on cuda if available
    python bench/rnn_speed.py --ragged         # ragged lengths; torch on packed sequences
    python bench/rnn_speed.py --check          # naive gradients vs seqkit, once
    python bench/rnn_speed.py --profile lstm   # GEMM / elementwise / Python overhead

Grid: cells rnn (tanh), gru, lstm; B in {16, 64}, T in {25, 100}, H in {64, 256, 512},
n_x = 64, float32, plus a 2-layer bidirectional case (B 64, T 100, H 256) per cell.
Per grid point the contenders (seqkit forward, seqkit forward+BPTT, torch forward+backward,
naive forward+BPTT) run alternately, at least 3 rounds and until each has run ~0.3 s
(capped); the medians are reported. seqkit/torch < 1 means seqkit is faster;
naive/seqkit is the speedup over the per-step reference (bench/naive_rnn.py, batched as in
the "step by step" notebook); per-example/seqkit the speedup over the Dinosaurus Island /
min-char-rnn way, one example at a time with outer products (timed once per point).
torch is optional and runs with as many threads as numpy's BLAS, with
OMP_WAIT_POLICY=PASSIVE unless --omp-active: with active (spinning) waits, torch's
2-thread runs slowed down ~100x on a shared 2-core machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", nargs="+", default=["rnn", "gru", "lstm"],
                   choices=["rnn", "gru", "lstm"])
    p.add_argument("--quick", action="store_true", help="a small subset, for smoke tests")
    p.add_argument("--large", action="store_true", help="add B 256, T 100, H 1024")
    p.add_argument("--ragged", action="store_true",
                   help="ragged lengths (uniform in [T/2, T]) as training batches have; torch "
                        "gets packed sequences; the naive references (full length only) are skipped")
    p.add_argument("--backend", default="numpy", help="seqkit backend (numpy, cupy, ...)")
    p.add_argument("--threads", type=int, help="BLAS and torch threads (default: BLAS's own)")
    p.add_argument("--markdown", action="store_true", help="print the table as markdown")
    p.add_argument("--no-naive", action="store_true", help="skip the slow naive references")
    p.add_argument("--no-per-example", action="store_true",
                   help="skip the per-example (min-char-rnn) reference, the slowest")
    p.add_argument("--no-torch", action="store_true", help="skip torch even if importable")
    p.add_argument("--omp-active", action="store_true",
                   help="leave torch's OpenMP threads spinning (default: OMP_WAIT_POLICY=PASSIVE)")
    p.add_argument("--target", type=float, default=0.3, help="seconds per contender per point")
    p.add_argument("--min-reps", type=int, default=3)
    p.add_argument("--max-reps", type=int, default=30)
    p.add_argument("--check", action="store_true", help="check naive gradients against seqkit")
    p.add_argument("--profile", metavar="CELL", choices=["rnn", "gru", "lstm"])
    return p.parse_args(argv)


ARGS = _parse()
if ARGS.threads:  # must precede the first import of numpy to reach its BLAS
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)
if not ARGS.omp_active:  # spinning OpenMP barriers collapse (100x) when cores are shared
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import tables  # noqa: E402
from naive_rnn import per_example_forward_backward, stack_forward_backward  # noqa: E402

import seqkit  # noqa: E402
from seqkit.backend import get_backend  # noqa: E402
from seqkit.cells import get_cell  # noqa: E402

try:
    import torch
except ImportError:
    torch = None

LAYERS = {"rnn": seqkit.RNN, "gru": seqkit.GRU, "lstm": seqkit.LSTM}
N_X = 64


def blas_threads() -> int:
    if ARGS.threads:
        return ARGS.threads
    try:
        from threadpoolctl import threadpool_info
        n = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        if n:
            return max(n)
    except ImportError:
        pass
    return os.cpu_count() or 1


def grid(args):
    if args.quick:
        points = [(16, 25, 64, 1, False), (16, 25, 256, 1, False), (16, 25, 64, 2, True)]
    else:
        points = [(B, T, H, 1, False) for B in (16, 64) for T in (25, 100) for H in (64, 256, 512)]
        points.append((64, 100, 256, 2, True))
    if args.large:
        points.append((256, 100, 1024, 1, False))
    return [(cell, *pt) for cell in args.cells for pt in points]


def time_alternating(funcs, sync, target, max_reps, min_reps=3):
    """Median seconds per call of each function, run in turn round after round."""
    for f in funcs.values():
        f()                                           # warm-up (allocation, BLAS threads)
    times = {k: [] for k in funcs}
    for rounds in range(1, max_reps + 1):
        for k, f in funcs.items():
            sync()
            t0 = time.perf_counter()
            f()
            sync()
            times[k].append(time.perf_counter() - t0)
        if rounds >= min_reps and all(sum(v) >= target for v in times.values()):
            break
    return {k: statistics.median(v) for k, v in times.items()}


class Case:
    """One grid point: the seqkit layer, its torch twin, the naive reference, shared data."""

    def __init__(self, backend, cell, B, T, H, L, bidir, seed=0, dtype="float32", n_x=N_X,
                 ragged=False):
        self.backend, self.cell, self.L, self.bidir = backend, cell, L, bidir
        self.lengths = None
        if ragged:
            self.lengths = np.random.default_rng(seed + 2).integers(T // 2, T + 1, B)
            self.lengths[0] = T
        D = 2 if bidir else 1
        self.layer = LAYERS[cell](n_x, H, num_layers=L, bidirectional=bidir,
                                  backend=backend, dtype=dtype, seed=seed)
        rng = np.random.default_rng(seed + 1)
        n_state = 2 if cell == "lstm" else 1
        self.np_data = [rng.standard_normal(s).astype(dtype) for s in
                        [(T, B, n_x), (T, B, D * H)] + [(L * D, B, H)] * n_state]
        self.x, self.dy, *ds = [backend.asarray(a) for a in self.np_data]
        self.d_state = tuple(ds) if cell == "lstm" else ds[0]
        self.xp = backend.xp

    def seqkit_forward(self):
        return self.layer.forward(self.x, self.lengths)

    def seqkit_fb(self):
        self.layer.zero_grad()
        self.layer.forward(self.x, self.lengths)
        return self.layer.backward(self.dy, self.d_state)

    def naive_fb(self):
        ds = self.d_state if self.cell == "lstm" else (self.d_state, None)
        return stack_forward_backward(self.cell, self.layer.params, self.x, self.dy, ds,
                                      self.L, self.bidir, xp=self.xp)

    def per_example_fb(self):
        ds = self.d_state if self.cell == "lstm" else (self.d_state, None)
        return per_example_forward_backward(self.cell, self.layer.params, self.x, self.dy, ds,
                                            self.L, self.bidir, xp=self.xp)

    def make_torch(self, device):
        H, L = self.layer.hidden_size, self.L
        cls = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[self.cell]
        m = cls(self.layer.input_size, H, num_layers=L, bidirectional=self.bidir)
        m.load_state_dict({k: torch.from_numpy(v) for k, v in self.layer.state_dict().items()})
        m = m.to(device=device, dtype=torch.float32)
        x, dy, *ds = [torch.from_numpy(a).to(device) for a in self.np_data]
        x.requires_grad_(True)                        # seqkit computes dx too

        def fb():
            m.zero_grad(set_to_none=True)
            x.grad = None
            if self.lengths is None:
                y, h_n = m(x)
            else:
                packed = torch.nn.utils.rnn.pack_padded_sequence(
                    x, torch.from_numpy(self.lengths), enforce_sorted=False)
                y, h_n = m(packed)
                y, _ = torch.nn.utils.rnn.pad_packed_sequence(y, total_length=x.shape[0])
            h_n = h_n if self.cell == "lstm" else (h_n,)
            loss = (y * dy).sum() + sum((h * d).sum() for h, d in zip(h_n, ds, strict=True))
            loss.backward()
        return fb


def run_grid(args, backend):
    sync_b = backend.synchronize
    device = "cuda" if backend.device != "cpu" and torch and torch.cuda.is_available() else "cpu"
    use_torch = torch is not None and not args.no_torch and (device == "cuda"
                                                             or backend.device == "cpu")

    def sync():
        sync_b()
        if use_torch and device == "cuda":
            torch.cuda.synchronize()

    rows = []
    for cell, B, T, H, L, bidir in grid(args):
        case = Case(backend, cell, B, T, H, L, bidir, ragged=args.ragged)
        funcs = {"fwd": case.seqkit_forward, "fb": case.seqkit_fb}
        if use_torch:
            funcs["torch"] = case.make_torch(device)
        if not (args.no_naive or args.ragged):
            funcs["naive"] = case.naive_fb
        t = time_alternating(funcs, sync, args.target, args.max_reps, args.min_reps)
        if not (args.no_naive or args.no_per_example or args.ragged):
            # seconds per call, so one timed call suffices (it runs B times the work of B = 1)
            sync()
            t0 = time.perf_counter()
            case.per_example_fb()
            sync()
            t["per_example"] = time.perf_counter() - t0
        row = dict(cell=cell, B=B, T=T, H=H, L=L, D=2 if bidir else 1, **t)
        rows.append(row)
        print(f"  {cell:4s} B={B:<3d} T={T:<3d} H={H:<4d} L={L} D={row['D']}: "
              + "  ".join(f"{k} {v * 1e3:.2f} ms" for k, v in t.items()), file=sys.stderr)
    return rows, use_torch, device


def fmt_ratio(row, num, den):
    return f"{row[num] / row[den]:.2f}" if num in row and den in row else "-"


def print_table(rows, markdown, torch_label):
    head = ["cell", "B", "T", "H", "layers x dirs", "seqkit fwd ms", "seqkit fwd+bwd ms",
            f"{torch_label} fwd+bwd ms", "seqkit/torch", "naive fwd+bwd ms", "naive/seqkit",
            "per-example ms", "per-example/seqkit"]
    body = [[r["cell"], r["B"], r["T"], r["H"], f"{r['L']}x{r['D']}", f"{r['fwd'] * 1e3:.2f}",
             f"{r['fb'] * 1e3:.2f}", f"{r['torch'] * 1e3:.2f}" if "torch" in r else "-",
             fmt_ratio(r, "fb", "torch"),
             f"{r['naive'] * 1e3:.2f}" if "naive" in r else "-", fmt_ratio(r, "naive", "fb"),
             f"{r['per_example'] * 1e3:.0f}" if "per_example" in r else "-",
             fmt_ratio(r, "per_example", "fb")]
            for r in rows]
    tables.print_table(head, [[str(c) for c in line] for line in body], markdown)


def print_summary(rows, cells):
    targets = {"rnn": 1.0, "gru": 1.0, "lstm": 1.3}
    print("\nMedian over the grid (all points of the cell, incl. the 2-layer bidirectional one):")
    for cell in cells:
        rs = [r for r in rows if r["cell"] == cell]
        if all("torch" in r for r in rs) and rs:
            med = statistics.median(r["fb"] / r["torch"] for r in rs)
            verdict = "MET" if med <= targets[cell] else "NOT MET"
            print(f"  {cell:4s} seqkit/torch = {med:.2f}  (target <= {targets[cell]}, "
                  f"aim <= 0.8): {verdict}")
        for ref in ("naive", "per_example"):
            big = [r[ref] / r["fb"] for r in rs if r["H"] == 512 and ref in r]
            if big:
                print(f"  {cell:4s} {ref}/seqkit at H 512: median {statistics.median(big):.2f}x "
                      f"(min {min(big):.2f}, max {max(big):.2f}, {len(big)} points)")


def check(backend):
    """Naive forward and gradients against seqkit's (float64), once per cell."""
    worst = 0.0
    for cell in ("rnn", "gru", "lstm"):
        for L, bidir in ((1, False), (2, True)):
            case = Case(backend, cell, B=3, T=5, H=6, L=L, bidir=bidir, dtype="float64", n_x=4)
            y, h = case.seqkit_forward()
            dx = case.layer.backward(case.dy, case.d_state)
            yn, (hn, cn), dxn, gn = case.naive_fb()
            states = [(h[0], hn), (h[1], cn)] if cell == "lstm" else [(h, hn)]
            pairs = [(y, yn), (dx, dxn)] + states
            pairs += [(case.layer.grads()[k], gn[k]) for k in case.layer.params]
            ge = case.per_example_fb()
            pairs += [(case.layer.grads()[k], ge[k]) for k in case.layer.params]
            err = max(float(abs(backend.to_numpy(a) - backend.to_numpy(b)).max()) for a, b in pairs)
            worst = max(worst, err)
            print(f"  {cell:4s} layers {L} bidirectional {bidir!s:5s}: max |seqkit - naive| "
                  f"over outputs, dx and {len(case.layer.params)} grads (both references) = {err:.2e}")
    print("naive reference OK" if worst < 1e-8 else "naive reference DISAGREES with seqkit")
    return 0 if worst < 1e-8 else 1


def profile(cell, backend, args, B=64, T=100, H=256):
    """Split seqkit forward+BPTT time into GEMM, elementwise/memory and Python overhead."""
    xp, G = backend.xp, get_cell(cell).gates
    case, tiny = Case(backend, cell, B, T, H, 1, False), Case(backend, cell, 1, T, 1, 1, False,
                                                              n_x=1)

    def r(*shape):
        return backend.asarray(np.random.default_rng(0).random(shape, dtype=np.float32))
    X2, A2, D2 = r(T * B, N_X), r(T * B, H), r(T * B, G * H)
    W_ih, W_hh, a, d = r(G * H, N_X), r(G * H, H), r(B, H), r(B, G * H)
    out_f, out_b = xp.empty((B, G * H), np.float32), xp.empty((B, H), np.float32)

    def gemms():
        """The GEMMs of one forward+BPTT at these shapes, replayed alone."""
        X2 @ W_ih.T                                   # input projection, all steps
        for _ in range(T):
            xp.matmul(a, W_hh.T, out=out_f)           # recurrent, forward
        for _ in range(T):
            xp.matmul(d, W_hh, out=out_b)             # recurrent, backward
        D2.T @ X2, D2.T @ A2, D2 @ W_ih               # dW_ih, dW_hh, dx
    funcs = {"total": case.seqkit_fb, "gemm": gemms, "tiny": tiny.seqkit_fb}
    if torch is not None and backend.device == "cpu":
        funcs["torch"] = case.make_torch("cpu")
    t = time_alternating(funcs, backend.synchronize, max(args.target, 1.0), 50, min_reps=5)
    total, gemm, over = t["total"], t["gemm"], t["tiny"]
    rest = max(total - gemm - over, 0.0)
    print(f"profile {cell}: B {B}, T {T}, H {H}, n_x {N_X}, float32, {blas_threads()} threads; "
          f"seqkit forward+BPTT {total * 1e3:.2f} ms"
          + (f", torch {t['torch'] * 1e3:.2f} ms" if "torch" in t else ""))
    print(f"  GEMM (same shapes replayed alone)      {gemm * 1e3:8.2f} ms  {gemm / total:6.1%}")
    print(f"  elementwise + memory (the remainder)   {rest * 1e3:8.2f} ms  {rest / total:6.1%}")
    print(f"  Python/dispatch overhead (B 1, H 1 run){over * 1e3:8.2f} ms  {over / total:6.1%}"
          f"   ({over / (2 * T) * 1e6:.1f} us per step, fwd and bwd)")


def main():
    backend = get_backend(ARGS.backend)
    n = blas_threads()
    if torch is not None:
        torch.set_num_threads(n)
        torch.set_default_dtype(torch.float32)
    if ARGS.threads:
        try:
            from threadpoolctl import threadpool_limits
            threadpool_limits(ARGS.threads)
        except ImportError:
            pass
    if ARGS.check:
        return check(backend)
    if ARGS.profile:
        return profile(ARGS.profile, backend, ARGS)
    print(f"# seqkit backend {backend.name} on {backend.device}; numpy {np.__version__}; "
          f"{n} BLAS threads; torch {torch.__version__ if torch else 'not installed'}; "
          f"load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    rows, use_torch, device = run_grid(ARGS, backend)
    print(f"# load average at the end {os.getloadavg()[0]:.2f} (1 min), "
          f"{os.getloadavg()[1]:.2f} (5 min)", file=sys.stderr)
    label = f"torch ({device})" if use_torch else "torch"
    print_table(rows, ARGS.markdown, label)
    print_summary(rows, ARGS.cells)
    return 0


if __name__ == "__main__":
    sys.exit(main())
