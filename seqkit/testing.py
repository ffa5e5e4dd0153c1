"""Gradient checking: the public harness every backend and layer is tested with.

``gradcheck`` compares analytic gradients with float64 central differences,
    dL/dθ_i ≈ (L(θ + ε e_i) - L(θ - ε e_i)) / 2ε,
reporting per tensor the relative error ||g_num - g_ana|| / max(||g_num|| + ||g_ana||, tiny).

``recurrent_cases`` and ``check_recurrent`` are the grid (cell x direction x
layers x length pattern) that the test suite and ``seqkit gradcheck`` run.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .arrays import to_host

TINY = 1e-12


def gradcheck(loss: Callable[[], float], wrt: Mapping[str, object], grads: Mapping[str, object],
              *, eps: float = 1e-6, max_entries: int | None = 40, seed: int = 0) -> dict[str, float]:
    """Relative error of each analytic gradient in ``grads`` against central differences.

    loss : recomputes the scalar loss from the current values of ``wrt``
    wrt : name -> float64 array (NumPy or backend), perturbed in place and restored
    grads : name -> analytic gradient, same shapes
    max_entries : check at most this many randomly chosen entries per tensor (None: all)
    """
    rng = np.random.default_rng(seed)
    errors = {}
    for name, value in wrt.items():
        if value.dtype != np.float64:
            raise TypeError(f"gradcheck needs float64, {name} is {value.dtype}")
        flat = value.reshape(-1)  # a view, so perturbing it perturbs the tensor
        n = flat.shape[0]
        picks = np.arange(n) if max_entries is None or n <= max_entries else rng.choice(
            n, max_entries, replace=False)
        analytic = to_host(grads[name]).reshape(-1)[picks]
        numeric = np.empty(len(picks))
        for j, i in enumerate(picks):
            i = int(i)
            old = float(flat[i])
            flat[i] = old + eps
            plus = float(loss())
            flat[i] = old - eps
            minus = float(loss())
            flat[i] = old
            numeric[j] = (plus - minus) / (2 * eps)
        scale = max(np.linalg.norm(numeric) + np.linalg.norm(analytic), TINY)
        errors[name] = float(np.linalg.norm(numeric - analytic) / scale)
    return errors


LENGTH_PATTERNS = ("equal", "ragged", "one")


def lengths_for(pattern: str, T: int, B: int) -> np.ndarray:
    """equal: all T; ragged: T, T-1, ... (>= 2) in an unsorted order; one: ragged
    with a length-1 example in the middle."""
    if pattern == "equal":
        return np.full(B, T, dtype=np.int64)
    lengths = np.roll(np.maximum(T - np.arange(B), 2), 1).astype(np.int64)
    if pattern == "one":
        lengths[B // 2] = 1
    return lengths


@dataclass(frozen=True)
class Case:
    cell: str
    options: tuple          # the cell's option values, as sorted (name, value) pairs
    bidirectional: bool
    num_layers: int
    lengths: str

    @property
    def nonlinearity(self) -> str:
        return dict(self.options).get("nonlinearity", "tanh")

    def __str__(self) -> str:
        cell = "-".join([self.cell, *(str(v) for _, v in self.options)])
        return (f"{cell} {'bi' if self.bidirectional else 'uni'} "
                f"{self.num_layers}-layer {self.lengths}")


def recurrent_cases(cells=None, backend: str | None = None) -> list[Case]:
    """The grid: every registered cell (or ``cells``) with a kernel for ``backend``
    (any, if None) x each combination of its options x uni/bi x 1/2 layers x
    equal/ragged/length-1 lengths."""
    from .cells import cell_types, get_cell

    names = sorted(cell_types()) if cells is None else list(cells)
    cases = []
    for name in names:
        cell = get_cell(name)
        if backend is not None and backend not in cell.kernels:
            continue
        for options in cell.variants():
            for bi, layers, pattern in itertools.product((False, True), (1, 2), LENGTH_PATTERNS):
                cases.append(Case(name, tuple(sorted(options.items())), bi, layers, pattern))
    return cases


def check_recurrent(case: Case, backend=None, T: int = 5, B: int = 3, n_x: int = 3,
                    n_a: int = 4, seed: int = 0, max_entries: int | None = 12) -> dict[str, float]:
    """Build the layer of ``case`` in float64 and gradcheck every parameter, the
    input x and the initial state(s) through loss = Σ y·R + Σ h_n·S (+ Σ c_n·U),
    random R, S, U, so every output and final state is checked."""
    from .layers import Recurrent

    layer = Recurrent(case.cell, n_x, n_a, num_layers=case.num_layers,
                      bidirectional=case.bidirectional, backend=backend, dtype="float64",
                      seed=seed, **dict(case.options))
    be, xp = layer.backend, layer.xp
    rng = np.random.default_rng(seed + 1)
    D = 2 if case.bidirectional else 1
    lengths = lengths_for(case.lengths, T, B)
    n_state = layer.cell_type.n_states
    x = be.asarray(rng.standard_normal((T, B, n_x)))
    h0 = [be.asarray(rng.standard_normal((case.num_layers * D, B, n_a)) * 0.5)
          for _ in range(n_state)]
    R = be.asarray(rng.standard_normal((T, B, D * n_a)))
    S = [be.asarray(rng.standard_normal((case.num_layers * D, B, n_a))) for _ in range(n_state)]

    def run():
        y, state = layer.forward(x, lengths, tuple(h0) if n_state == 2 else h0[0])
        state = state if n_state == 2 else (state,)
        return y, state

    def loss():
        y, state = run()
        return float(xp.sum(y * R) + sum(xp.sum(s * w) for s, w in zip(state, S)))

    run()
    layer.zero_grad()
    dx = layer.backward(R, tuple(S) if n_state == 2 else S[0])
    d0 = layer.d_state0 if n_state == 2 else (layer.d_state0,)
    wrt = dict(layer.params, x=x, **{f"state0[{j}]": h for j, h in enumerate(h0)})
    analytic = dict(layer.grads(), x=dx, **{f"state0[{j}]": g for j, g in enumerate(d0)})
    return gradcheck(loss, wrt, analytic, max_entries=max_entries, seed=seed)


def backend_params():
    """``pytest.param`` per installed backend; an unavailable one is skipped with
    its reason, never dropped silently. With ``SEQKIT_REQUIRE_GPU=1`` (``tox -e gpu``)
    an unavailable backend fails instead, so a GPU run cannot pass vacuously.
    Use with ``@pytest.mark.parametrize``."""
    import os

    import pytest

    from .backend import available_backends

    require = os.environ.get("SEQKIT_REQUIRE_GPU", "") not in ("", "0")
    params = []
    for name, reason in available_backends().items():
        # required: no skip, so the test runs and fails on get_backend's error
        skip = reason is not None and not require
        marks = [pytest.mark.skip(reason=f"backend {name!r} unavailable: {reason}")] if skip else []
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def run_seqkit(*args, env=None, pythonpath=None, input=None):
    """Run the real ``seqkit`` CLI in a fresh process (plugin loading starts clean).
    Returns the ``subprocess.CompletedProcess`` with text stdout and stderr."""
    import os
    import subprocess
    import sys

    full_env = dict(os.environ, **(env or {}))
    if pythonpath:
        full_env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), full_env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "seqkit", *map(str, args)], capture_output=True,
                          text=True, env=full_env, timeout=600, input=input)
