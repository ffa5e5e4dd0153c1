"""Data-parallel throughput at 1 and N ranks, and the communication share of a step.

Usage (from the repository root; needs ``pip install 'seqkit[mpi]'``):

    python bench/scaling.py                        # chars, 1 and 2 ranks
    python bench/scaling.py --tasks chars ner music-poly dna-classify --steps 30
    python bench/scaling.py --markdown             # the table for docs/distributed.md

For each task's default model (its data from ../shared/data, chars from the bundled
dinosaur names) it launches ``mpiexec -n N`` workers that run the real training
loop (``seqkit.train.train_epoch`` with ``--distributed``'s reducer) over the first
``--steps`` global batches, ``--batch-size`` examples per rank (the task's default
when not given: weak scaling, the global batch grows with N). Each worker times
the whole epoch and the time spent in the step's allreduce, which includes waiting
for the slowest rank. Printed per task and N: global training tokens/s, the speed-up
over 1 rank, the allreduce share of a step, and the measured allreduce time of the
packed gradient buffer alone (median of 50). The machine's load average is printed
with the table: these numbers mean little when other jobs share the cores. Then the
scaling model of docs/distributed.md: the weak-scaling efficiency at 8-64 ranks from
the one-rank step time and the gradient buffer's size on two typical networks.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DATA = {
    "chars": None,  # the bundled sample
    "ner": SHARED / "ner" / "conll2003",
    "music-poly": SHARED / "music" / "boulanger2012" / "jsb_chorales.json.gz",
    "dna-classify": SHARED / "dna" / "uci_splice" / "splice.data.gz",
}


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["chars"], choices=sorted(DATA))
    p.add_argument("--ranks", nargs="+", type=int, default=[1, 2])
    p.add_argument("--steps", type=int, default=40, help="global batches timed per run")
    p.add_argument("--batch-size", type=int, default=None, help="per rank (default: the task's)")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def worker(args) -> None:
    """One rank: the task's default run, ``--steps`` global batches, timed."""
    import numpy as np

    from seqkit import threads
    from seqkit.cli.train import fresh_run
    from seqkit.distributed import Distributed
    from seqkit.run import get_task
    from seqkit.train import train_epoch

    threads.configure()  # SEQKIT_THREADS from the launcher: 1
    name = args.tasks[0]
    task = get_task(name)
    data = DATA[name]
    if data is None:
        import seqkit_text

        data = Path(seqkit_text.__file__).parent / "data" / "dinos.txt"
    run, splits = fresh_run(task, str(data), {"batch_size": args.batch_size} if args.batch_size else {},
                            backend="numpy")
    config, train = run.config, run.encode(splits["train"])

    class Timed(Distributed):
        seconds, calls = 0.0, 0

        def reduce_step(self, *a, **kw):
            t = time.perf_counter()
            Timed.calls += 1
            try:
                return super().reduce_step(*a, **kw)
            finally:
                Timed.seconds += time.perf_counter() - t

    from mpi4py import MPI

    dist = Timed(MPI.COMM_WORLD, timeout=600)
    dist.broadcast_state(run)
    # the first steps' worth of examples, in the epoch's own order
    n = min(len(train), args.steps * config.batch_size * dist.size)
    rng = np.random.default_rng(0)
    subset = [train[i] for i in sorted(rng.permutation(len(train))[:n])]
    train_epoch(run.model, run.optimizer, subset[: config.batch_size * dist.size], config, 0,
                run.bos_id, show_progress=False, task=task, dist=dist)  # warm-up
    Timed.seconds = Timed.calls = 0
    MPI.COMM_WORLD.Barrier()
    start = time.perf_counter()
    stats = train_epoch(run.model, run.optimizer, subset, config, 0, run.bos_id,
                        show_progress=False, task=task, dist=dist)
    elapsed = time.perf_counter() - start
    # the allreduce of the packed buffer alone
    grads = run.model.grads()
    times = []
    for _ in range(50):
        MPI.COMM_WORLD.Barrier()
        t = time.perf_counter()
        dist.reduce_step(grads, 1.0, 1.0, 1.0, None, run.model.backend)
        times.append(time.perf_counter() - t)
    if dist.is_root:
        params = sum(int(p.size) for p in run.model.params().values())
        print(json.dumps({"task": name, "ranks": dist.size, "tokens_per_s": stats["tokens_per_s"],
                          "seconds": elapsed, "allreduce_share": Timed.seconds / elapsed,
                          "allreduce_ms": 1e3 * statistics.median(times), "params": params,
                          "step_ms": 1e3 * (elapsed - Timed.seconds) / max(Timed.calls, 1),
                          "batch_size": config.batch_size}))
    dist.close()


#: networks of the scaling model: (name, bandwidth in bytes/s, latency in s), typical
#: sustained MPI figures (not peaks) for a cluster's interconnect
NETWORKS = [("10 GbE (TCP)", 1.1e9, 50e-6), ("InfiniBand HDR100", 11e9, 2e-6)]
MODEL_RANKS = [8, 16, 32, 64]


def allreduce_seconds(n_bytes: float, ranks: int, bandwidth: float, latency: float) -> float:
    """Rabenseifner's allreduce (reduce-scatter + allgather, what MPICH and Open MPI pick
    for large buffers): 2 log2(N) latencies and 2 (N-1)/N of the buffer over each link."""
    import math

    return 2 * math.log2(ranks) * latency + 2 * (ranks - 1) / ranks * n_bytes / bandwidth


def model_table(rows) -> str:
    """Weak-scaling efficiency E(N) = t_c / (t_c + t_pack + t_allreduce(N)) from the
    measured one-rank step time t_c, the measured one-rank cost of packing and
    unpacking the buffer t_pack, and the float32 gradient buffer of 4 P bytes."""
    lines = ["| task | parameters | t_c (ms) | t_pack (ms) | network | "
             + " | ".join(f"E({n})" for n in MODEL_RANKS) + " |",
             "|---|---:|---:|---:|---|" + "---:|" * len(MODEL_RANKS)]
    for r in rows:
        if r["ranks"] != 1:
            continue
        t_c, t_pack = r["step_ms"] / 1e3, r["allreduce_ms"] / 1e3
        for net, bw, lat in NETWORKS:
            effs = [t_c / (t_c + t_pack + allreduce_seconds(4 * r["params"] + 16, n, bw, lat))
                    for n in MODEL_RANKS]
            lines.append(f"| {r['task']} | {r['params']:,} | {1e3 * t_c:.1f} | {1e3 * t_pack:.2f} | {net} | "
                         + " | ".join(f"{100 * e:.0f} %" for e in effs) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    args = _parse(argv)
    if args.worker:
        return worker(args)
    mpiexec = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable),
                                                            os.environ.get("PATH", "")]))
    if mpiexec is None:
        sys.exit("no mpiexec: pip install 'seqkit[mpi]'")
    # one BLAS thread per rank, fixed (not seqkit's policy): N ranks use N cores
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "SEQKIT_THREADS": "1"}
    rows = []
    for name in args.tasks:
        base = None
        for n in args.ranks:
            cmd = [mpiexec, "-n", str(n), sys.executable, __file__, "--worker", "--tasks", name,
                   "--steps", str(args.steps)]
            if args.batch_size:
                cmd += ["--batch-size", str(args.batch_size)]
            r = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if r.returncode != 0:
                sys.exit(f"{name} at {n} ranks failed:\n{r.stderr[-2000:]}")
            row = json.loads(r.stdout.strip().splitlines()[-1])
            base = base or row["tokens_per_s"]
            row["speedup"] = row["tokens_per_s"] / base
            rows.append(row)
            print(f"{name:13s} ranks {n}  {row['tokens_per_s']:>9,.0f} tok/s  x{row['speedup']:.2f}  "
                  f"allreduce {100 * row['allreduce_share']:4.1f} % of the time, "
                  f"{row['allreduce_ms']:.2f} ms for {row['params']:,} parameters", flush=True)
    load = os.getloadavg()
    if args.markdown:
        print(f"\nload average while measuring: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}\n")
        print("| task | parameters | batch per rank | ranks | tokens/s | speed-up | allreduce share "
              "| allreduce alone (ms) |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            print(f"| {r['task']} | {r['params']:,} | {r['batch_size']} | {r['ranks']} | "
                  f"{r['tokens_per_s']:,.0f} | {r['speedup']:.2f} | {100 * r['allreduce_share']:.1f} % "
                  f"| {r['allreduce_ms']:.2f} |")
        print("\nThe scaling model (weak scaling, the measured one-rank step time t_c):\n")
        print(model_table(rows))
    else:
        print(f"load average: {load[0]:.2f}, {load[1]:.2f}, {load[2]:.2f}")
        print(model_table(rows))


if __name__ == "__main__":
    main()
