"""Time of one training step's embedding work against the vocabulary size V.

Usage (from the repository root):

    python bench/optim_speed.py                 # V in 2,500 ... 80,000, E 100, ~300 rows touched
    python bench/optim_speed.py --markdown

Per V: an Embedding (V, 100) float32, a batch of 32 x 14 ids drawn from the
first 2,000 ids (a few hundred distinct rows, as a word-level batch touches),
then backward (scatter-add), ``clip_grad_norm`` (max norm 5), the optimizer's
step and ``zero_grad``, each timed, medians of ``--reps`` steps. Optimizers:
``adam`` (dense, torch.optim.Adam's update of all V rows), ``sparse-adam`` (lazy,
the touched rows only) and ``before``: the previous code path (a fresh V x E
array of zeros per backward, the float64 copy in the norm, Adam with
temporaries), rebuilt here for comparison.
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from seqkit import Embedding
from seqkit.optim import clip_grad_norm, make_optimizer


def old_clip(grads, max_norm):
    total = sum(float(np.dot(g64, g64)) for g in grads.values()
                for g64 in [g.astype(np.float64, copy=False).ravel()])
    norm = math.sqrt(total)
    coef = max_norm / (norm + 1e-6)
    if coef < 1:
        for g in grads.values():
            g *= coef
    return norm


class OldAdam:
    def __init__(self, params, lr, b1=0.9, b2=0.999, eps=1e-8):
        self.params, self.lr, self.b, self.eps, self.t = params, lr, (b1, b2), eps, 0
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}

    def step(self, grads):
        self.t += 1
        (b1, b2) = self.b
        for k, p in self.params.items():
            g, m, v = grads[k], self.m[k], self.v[k]
            m += (1 - b1) * (g - m)
            v *= b2
            v += (1 - b2) * g * g
            p -= self.lr / (1 - b1 ** self.t) * m / (np.sqrt(v) / math.sqrt(1 - b2 ** self.t) + self.eps)


def run(V, E, opt_name, reps, rng):
    emb = Embedding(V, E, seed=0)
    params = {"weight": emb.params["weight"]}
    opt = OldAdam(params, 1e-3) if opt_name == "before" else make_optimizer(opt_name, params, 1e-3)
    times = {"backward": [], "clip": [], "step": [], "zero_grad": []}
    for r in range(reps + 2):
        ids = rng.integers(0, 2000, (14, 32))
        y, backprop = emb.begin_update(ids)
        dy = rng.standard_normal(y.shape).astype(np.float32)
        t0 = time.perf_counter()
        if opt_name == "before":
            dW = np.zeros_like(params["weight"])
            np.add.at(dW, ids.reshape(-1), dy.reshape(-1, E))
            grads = {"weight": dW}
        else:
            backprop(dy)
            grads = {"weight": emb.grads()["weight"]}
        t1 = time.perf_counter()
        (old_clip if opt_name == "before" else clip_grad_norm)(grads, 5.0)
        t2 = time.perf_counter()
        opt.step(grads)
        t3 = time.perf_counter()
        if opt_name != "before":
            emb.zero_grad()
        else:
            del dW, grads
        t4 = time.perf_counter()
        if r >= 2:
            for k, a, b in (("backward", t0, t1), ("clip", t1, t2), ("step", t2, t3), ("zero_grad", t3, t4)):
                times[k].append((b - a) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}, len(np.unique(ids))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2500, 5000, 10_000, 20_000, 40_000, 80_000])
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--markdown", action="store_true")
    a = p.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for V in a.sizes:
        for name in ("before", "adam", "sparse-adam"):
            t, touched = run(V, a.dim, name, a.reps, rng)
            rows.append((V, name, touched, t))
    head = ["V", "optimizer", "rows touched", "backward ms", "clip ms", "step ms", "zero_grad ms", "total ms"]
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * 2 + "---:|" * (len(head) - 2))
    else:
        print("  ".join(f"{h:>12}" for h in head))
    for V, name, touched, t in rows:
        cells = [f"{V:,}", name, str(touched)]
        cells += [f"{t[k]:.3f}" for k in ("backward", "clip", "step", "zero_grad")]
        cells.append(f"{sum(t.values()):.3f}")
        print(("| " + " | ".join(cells) + " |") if a.markdown else "  ".join(f"{c:>12}" for c in cells))


if __name__ == "__main__":
    main()
