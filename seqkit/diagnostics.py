"""Diagnostics: where the gradient is in time while training, and whether the
backends agree.

``GradientDiagnostics`` watches the first recurrent layer of a model during
training: for every batch it records ||dL/da<t>|| per time step, the gradient that
backprop passes into the layer's outputs (from the head or the layer above), and
||dL/dx<t>||, what the layer passes on to its inputs after BPTT through W_aa (the
one that carries the lecture's vanishing or exploding gradient: dx<t> = W_axᵀ dz<t>,
and dz<t> collects every later step's loss). Both are norms over the units of
arrays backprop computes anyway, averaged over the valid examples of each step:
a few reductions per batch. It also counts how often gradient clipping fired.

``parity`` runs every registered cell on several backends with the same weights and
inputs and reports the largest absolute and relative differences.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from .arrays import array_module, to_host
from .backend import available_backends, get_backend
from .cells import cell_types
from .errors import SeqkitError
from .layers import Recurrent


def first_recurrent(model) -> Recurrent:
    """The first recurrent layer met walking the model's layers in order."""
    stack = list(reversed(model.roots()))
    while stack:
        layer = stack.pop()
        if isinstance(layer, Recurrent):
            return layer
        stack.extend(reversed(layer.children()))
    raise SeqkitError("--diagnostics needs a model with a recurrent layer")


class GradientDiagnostics:
    """Per-step gradient norms and clipping counts of one epoch at a time.

    ``with diag.watch(model): ...`` wraps the first recurrent layer's ``begin_update``
    (on the instance, undone on exit); ``clipped(norm, grads, config)`` counts one
    update; ``epoch()`` returns the epoch's summary and starts the next one."""

    def __init__(self):
        self._reset()

    def _reset(self):
        self.batches = []   # per batch: Σ_b ||dL/da<t>||, Σ_b ||dL/dx<t>||, valid examples per t
        self.updates = self.clipped_norm = self.clipped_value = 0

    @contextlib.contextmanager
    def watch(self, model):
        layer = first_recurrent(model)
        original = layer.begin_update

        def begin_update(x, ctx):
            y, backprop = original(x, ctx)
            valid, counts = self._valid(ctx.lengths, *y.shape[:2])

            def watched(dy, d_state=None):
                da = self._norms(dy, valid)
                dx = backprop(dy, d_state)
                # summed up in epoch(): per batch only what cannot wait
                self.batches.append((da, self._norms(dx, valid), counts))
                return dx

            return y, watched

        layer.begin_update = begin_update
        try:
            yield self
        finally:
            del layer.begin_update    # the class's method again

    @staticmethod
    def _valid(lengths, T: int, B: int):
        """(T, B) 0/1 float mask of the valid steps (None when every step is valid, the
        common case of equal lengths), and the (T,) count of valid examples per step."""
        lengths = None if lengths is None else np.asarray(to_host(lengths))
        if lengths is None or lengths.min() == T:
            return None, np.full(T, float(B))
        valid = (np.arange(T)[:, None] < lengths[None, :]).astype(np.float64)
        return valid, valid.sum(axis=1)

    @staticmethod
    def _norms(g, valid):
        """Σ_b ||g[t, b]|| over the valid examples: (T,) host. einsum squares and sums
        in one pass without a (T, B, n) temporary; one (T, B) copy to the host."""
        xp = array_module(g)
        per = xp.einsum("tbn,tbn->tb", g, g)
        per = to_host(xp.sqrt(per, out=per))
        return (per if valid is None else per * valid).sum(axis=1)

    def clipped(self, norm: float, grads: dict, config) -> None:
        """Count one update, and whether --clip-norm or --clip-value changed it. Called
        with the gradients before the elementwise clip (the norm clip is already done)."""
        self.updates += 1
        if config.clip_norm and norm + 1e-6 > config.clip_norm:   # clip_grad_norm's test
            self.clipped_norm += 1
        if config.clip_value and any(float(abs(g).max()) > config.clip_value
                                     for g in grads.values() if g.size):
            self.clipped_value += 1

    def epoch(self) -> dict:
        """The epoch's history entries (then the next epoch starts): per step t, the
        mean ||dL/da<t>|| and ||dL/dx<t>|| over the valid examples and their count,
        each as a string of numbers (t = 1, 2, ...; a history value is a number or
        a string), and the share of updates that clipping changed."""
        T = max((len(b[2]) for b in self.batches), default=0)
        sums = np.zeros((3, T))
        for batch in self.batches:
            for k, v in enumerate(batch):
                sums[k, :len(v)] += v
        n = np.maximum(sums[2], 1)
        out = {"grad_da_norm": _numbers(sums[0] / n), "grad_dx_norm": _numbers(sums[1] / n),
               "grad_examples": _numbers(sums[2]),
               "clip_norm_rate": self.clipped_norm / max(self.updates, 1),
               "clip_value_rate": self.clipped_value / max(self.updates, 1)}
        self._reset()
        return out


def _numbers(values) -> str:
    return " ".join(f"{v:.6g}" for v in values)


def per_step(record: dict, key: str = "grad_da_norm") -> np.ndarray:
    """One epoch's per-step values from its history record, (T,) float64 (empty if absent)."""
    return np.array([float(v) for v in str(record.get(key, "")).split()])


def heat_map(epochs: list[dict], key: str = "grad_da_norm") -> np.ndarray:
    """(T, epochs) of one per-step key over the epochs that recorded it, NaN where an
    epoch saw fewer steps."""
    rows = [per_step(e, key) for e in epochs if key in e]
    T = max((len(r) for r in rows), default=0)
    out = np.full((T, len(rows)), np.nan)
    for j, r in enumerate(rows):
        out[:len(r), j] = r
    return out


# -- backend parity --------------------------------------------------------------------------
def parity(backends: list[str], dtype: str = "float64", T: int = 6, B: int = 4, n_x: int = 3,
           n_a: int = 5, seed: int = 0) -> dict:
    """Every registered cell (each option variant) on each available backend in
    ``backends``, with one set of weights, inputs, ragged lengths, initial states and
    upstream gradients: outputs y, final states, dx, d_state0 and every parameter
    gradient, compared with the first available backend.

    Returns {"reference", "skipped": {name: why}, "rows": [{cell, backend, quantity,
    max_abs, max_rel}], ...}; max_rel = max |a - b| / max(max |b|, tiny)."""
    if not backends:
        raise SeqkitError("--backends names no backend")
    installed = available_backends()
    skipped, usable = {}, []
    for name in dict.fromkeys(backends):
        if name not in installed:
            skipped[name] = f"not installed (installed: {', '.join(installed)})"
        elif installed[name] is not None:
            skipped[name] = installed[name]
        else:
            usable.append(name)
    if not usable:
        raise SeqkitError("none of the backends is available: "
                          + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    reference, rows, labels = usable[0], [], []
    for cell_name, cell in sorted(cell_types().items()):
        for options in cell.variants():
            label = "-".join([cell_name, *map(str, options.values())])
            labels.append(label)
            results = {}
            for name in usable:
                if name not in cell.kernels:
                    skipped.setdefault(f"{name}/{cell_name}", f"cell {cell_name!r} has no {name} kernel")
                    continue
                results[name] = _run_cell(cell_name, options, name, dtype, T, B, n_x, n_a, seed)
            for name, got in results.items():
                if name == reference or reference not in results:
                    continue
                for quantity, value in got.items():
                    ref = results[reference][quantity]
                    diff = float(np.max(np.abs(value - ref))) if value.size else 0.0
                    scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-30)
                    rows.append({"cell": label, "backend": name, "quantity": quantity,
                                 "max_abs": diff, "max_rel": diff / scale})
    return {"reference": reference, "skipped": skipped, "rows": rows, "cells": labels, "dtype": dtype,
            "T": T, "B": B, "n_x": n_x, "n_a": n_a}


def _run_cell(cell, options, backend, dtype, T, B, n_x, n_a, seed) -> dict:
    """One forward and BPTT of a one-layer ``Recurrent`` on ``backend``: host arrays."""
    be = get_backend(backend)
    layer = Recurrent(cell, n_x, n_a, backend=be, dtype=dtype, seed=seed, **options)
    rng = np.random.default_rng(seed + 1)
    n_states = layer.cell_type.n_states
    lengths = np.maximum(T - np.arange(B), 1)[rng.permutation(B)]
    x = rng.standard_normal((T, B, n_x))
    h0 = tuple(0.5 * rng.standard_normal((1, B, n_a)) for _ in range(n_states))
    dy = rng.standard_normal((T, B, n_a))
    d_state = tuple(rng.standard_normal((1, B, n_a)) for _ in range(n_states))
    y, state = layer.forward(be.asarray(x, dtype), lengths, h0 if n_states > 1 else h0[0])
    state = state if n_states > 1 else (state,)
    dx = layer.backward(be.asarray(dy, dtype), tuple(be.asarray(s, dtype) for s in d_state))
    d0 = layer.d_state0 if n_states > 1 else (layer.d_state0,)
    out = {"y": y, "dx": dx}
    for j, name in enumerate(layer.cell_type.states):
        out[f"{name}_n"], out[f"d{name}0"] = state[j], d0[j]
    out.update({f"d{k}": g for k, g in layer.grads().items()})
    host = {k: np.asarray(to_host(v), dtype=np.float64) for k, v in out.items()}
    if not all(math.isfinite(float(np.sum(v))) for v in host.values()):
        raise SeqkitError(f"cell {cell!r} on {backend} produced non-finite numbers")
    return host
