"""Both directions of a bidirectional layer in one kernel call (``seqkit.layers.pairs``)
against the two sweeps a layer, alternating in one process.

Usage (from the repository root):

    python bench/pairs_speed.py                      # a bidirectional LSTM's forward + BPTT, a grid
    python bench/pairs_speed.py --cell rnn           # the same for another cell that pairs
    python bench/pairs_speed.py --task dna-tag --data PATH --limit 8 --epochs 4
                                                     # whole training epochs of a task's model

The grid ignores ``pairs.MAX_GATES`` (it times both ways at every point, which is how the
limit was chosen); a task's epochs run as ``seqkit train`` would, the limit included.
Medians; each round starts with the other contender.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

GRID = [(8, 500, 20, 64, False), (16, 40, 160, 200, True), (16, 100, 64, 256, False),
        (64, 25, 64, 64, False), (64, 100, 64, 512, False)]


def layer_grid(cell, rounds, calls):
    import seqkit
    from seqkit.layers import pairs

    print("| B | T | n_x | H | ragged | paired ms | separate ms | paired / separate |\n|"
          + "---:|" * 8)
    if not seqkit.get_cell(cell).pairs.get("numpy"):
        print(f"cell {cell!r} does not pair directions on numpy: both columns time two sweeps",
              file=sys.stderr)
    limit = pairs.MAX_GATES
    pairs.MAX_GATES = float("inf")
    try:
        for B, T, n_x, H, ragged in GRID:
            rng = np.random.default_rng(0)
            x = rng.standard_normal((T, B, n_x)).astype(np.float32)
            dy = rng.standard_normal((T, B, 2 * H)).astype(np.float32)
            lengths = rng.integers(T // 2, T + 1, B) if ragged else None
            if ragged:
                lengths[0] = T
            layer = seqkit.Recurrent(cell, n_x, H, bidirectional=True, seed=1)
            times = {True: [], False: []}
            for r in range(rounds):
                for on in ((True, False) if r % 2 == 0 else (False, True)):
                    pairs.ENABLED = on
                    for _ in range(calls):
                        t0 = time.perf_counter()
                        layer.zero_grad()
                        layer.forward(x, lengths)
                        layer.backward(dy)
                        times[on].append(time.perf_counter() - t0)
            p, s = statistics.median(times[True]), statistics.median(times[False])
            print(f"| {B} | {T} | {n_x} | {H} | {'yes' if ragged else 'no'} | {p * 1e3:.1f} | "
                  f"{s * 1e3:.1f} | {p / s:.2f} |")
    finally:
        pairs.MAX_GATES, pairs.ENABLED = limit, True


def task_epochs(args):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import train_speed

    from seqkit.layers import pairs

    targs = train_speed._parse(["--task", args.task, "--data", args.data]
                               + (["--limit", str(args.limit)] if args.limit else []))
    runs = {on: train_speed.seqkit_run(targs)[:2] for on in (True, False)}
    times, losses = {True: [], False: []}, {}
    try:
        for e in range(args.epochs):
            for on in ((True, False) if e % 2 == 0 else (False, True)):
                pairs.ENABLED = on
                run, train = runs[on]
                dt, losses[on] = train_speed.seqkit_epoch(run, train, e, "auto")
                times[on].append(dt)
    finally:
        pairs.ENABLED = True
    p, s = statistics.median(times[True]), statistics.median(times[False])
    print(f"{args.task}: median epoch paired {p:.3f} s, separate {s:.3f} s, paired / separate "
          f"{p / s:.2f}; last losses {losses[True]:.6f} / {losses[False]:.6f}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cell", default="lstm")
    p.add_argument("--task")
    p.add_argument("--data")
    p.add_argument("--limit", type=int)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--calls", type=int, default=8, help="timed calls per contender and round")
    args = p.parse_args()
    from seqkit import memory, threads
    threads.configure(None)
    memory.configure()
    if args.task:
        task_epochs(args)
    else:
        layer_grid(args.cell, args.rounds, args.calls)


if __name__ == "__main__":
    main()
