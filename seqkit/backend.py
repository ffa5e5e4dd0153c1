"""The array-backend interface: what every backend plugin implements.

A backend owns an array module ``xp`` (NumPy, CuPy, ...) and the recurrent
kernels: for one layer in one direction, a full sweep over time of a cell.
Everything above the kernels (layers, models, losses, optimizers) is written
against ``xp`` and this class only, so it runs unchanged on every backend.

Kernel contract (the same for every cell and every backend)
------------------------------------------------------------
Shapes: T time steps, B examples, n_x input features, n_a hidden units,
G gates (rnn 1, gru 3, lstm 4).

params : dict of backend arrays, PyTorch's layout and gate order
    ``W_ih`` (G*n_a, n_x)   the lecture's W_ax, one block per gate
    ``W_hh`` (G*n_a, n_a)   the lecture's W_aa
    ``b_ih`` (G*n_a,), ``b_hh`` (G*n_a,)   b_a = b_ih + b_hh
x : (T, B, n_x) backend array, float32 or float64 (params have the same dtype)
lengths : (B,) NumPy int64 on the host, 1 <= lengths[b] <= T.
    Step t of example b is valid when t < lengths[b]. Padded steps carry the
    state through unchanged, output zeros and receive no gradient (the
    semantics of PyTorch's packed sequences).
state0 : tuple of (B, n_a) arrays: ``(a0,)`` for rnn and gru, ``(a0, c0)`` for lstm.

``<cell>_forward(params, x, lengths, state0, ...) -> (a, state_n, cache)``
    a : (T, B, n_a) every hidden state, zeros at padded steps
    state_n : tuple like state0, each example's state at its last valid step
    cache : opaque object that only the same backend's backward reads
``<cell>_backward(cache, da, d_state_n) -> (dx, d_state0, dparams)``
    da : (T, B, n_a) gradient of the loss w.r.t. ``a`` (padded steps ignored)
    d_state_n : tuple like state_n; entries may be None (no gradient)
    dx : (T, B, n_x); d_state0 : tuple like state0; dparams : dict like params
"""
from __future__ import annotations

import contextlib
import importlib
from typing import Any, ClassVar

import numpy as np

from .errors import SeqkitError

CELLS = ("rnn", "gru", "lstm")
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


class Backend:
    """Base class of every array backend. Subclass it in a plugin and register
    the subclass with ``register_backends``.

    About fifteen methods: identity (``name``, ``xp``, ``device``,
    ``unavailable_reason``), arrays (``asarray``, ``to_numpy``, ``rng``,
    ``scatter_add``, ``synchronize``) and three paired kernels
    (``rnn_*``, ``gru_*``, ``lstm_*``).
    """

    name: ClassVar[str] = ""
    #: how to get this backend when it is unavailable, shown in errors
    install_hint: ClassVar[str] = ""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """None when usable here, else one line saying why not (the import
        error kept). Called before the backend is instantiated."""
        return None

    @property
    def xp(self) -> Any:
        """The array module (``numpy``, ``cupy``)."""
        raise NotImplementedError

    @property
    def device(self) -> str:
        return "cpu"

    # -- arrays -------------------------------------------------------------
    def asarray(self, a, dtype=None):
        """A backend array from anything array-like (NumPy included)."""
        return self.xp.asarray(a, dtype=dtype)

    def to_numpy(self, a) -> np.ndarray:
        return np.asarray(a)

    def rng(self, seed: int):
        """A seeded generator of backend arrays with at least ``random(size,
        dtype)`` (uniform [0, 1)) and ``integers(low, high, size)``."""
        return self.xp.random.default_rng(seed)

    def scatter_add(self, target, indices, values) -> None:
        """``target[indices[i]] += values[i]``, repeated indices accumulating:
        the backward of a row gather (Embedding)."""
        self.xp.add.at(target, indices, values)

    def synchronize(self) -> None:
        """Wait for queued device work (benchmarks call it before timing)."""

    # -- kernels: see the module docstring for the contract -----------------
    def rnn_forward(self, params, x, lengths, state0, nonlinearity="tanh"):
        raise NotImplementedError

    def rnn_backward(self, cache, da, d_state_n):
        raise NotImplementedError

    def gru_forward(self, params, x, lengths, state0):
        raise NotImplementedError

    def gru_backward(self, cache, da, d_state_n):
        raise NotImplementedError

    def lstm_forward(self, params, x, lengths, state0):
        raise NotImplementedError

    def lstm_backward(self, cache, da, d_state_n):
        raise NotImplementedError

    # -- dispatch by cell name (not part of what a plugin implements) -------
    def cell_forward(self, cell, params, x, lengths, state0, nonlinearity="tanh"):
        if cell == "rnn":
            return self.rnn_forward(params, x, lengths, state0, nonlinearity=nonlinearity)
        return getattr(self, f"{cell}_forward")(params, x, lengths, state0)

    def cell_backward(self, cell, cache, da, d_state_n):
        return getattr(self, f"{cell}_backward")(cache, da, d_state_n)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} on {self.device}>"


def array_module(a) -> Any:
    """The array module an array belongs to: ``cupy`` for a CuPy array, else
    ``numpy``. CuPy is imported only when the array already comes from it."""
    if type(a).__module__.split(".")[0] == "cupy":
        return importlib.import_module("cupy")
    return np


def to_host(a) -> np.ndarray:
    """A NumPy array from a NumPy or CuPy array (or anything array-like)."""
    return a.get() if array_module(a) is not np else np.asarray(a)


class BackendError(SeqkitError):
    """An unknown or unavailable backend (a user mistake, one line)."""


_instances: dict[str, Backend] = {}
_current: list[str] = []
DEFAULT_BACKEND = "numpy"


def _registry() -> dict[str, type[Backend]]:
    from .plugins import registry

    return registry().backends


def available_backends() -> dict[str, str | None]:
    """Every installed backend name mapped to None (usable) or the reason it is not."""
    return {name: cls.unavailable_reason() for name, cls in sorted(_registry().items())}


def get_backend(name: str | Backend | None = None) -> Backend:
    """The backend called ``name`` (default: the innermost ``use_backend``, else
    ``numpy``), instantiated once. Unknown or unavailable names raise
    ``BackendError`` with a one-line message listing what is installed."""
    if isinstance(name, Backend):
        return name
    if name is None:
        name = _current[-1] if _current else DEFAULT_BACKEND
    if name in _instances:
        return _instances[name]
    backends = _registry()
    if not backends:
        raise BackendError(
            "no backend is installed: install one, e.g. `pip install -e plugins/seqkit-numpy` "
            "(check SEQKIT_LOAD_PLUGINS / SEQKIT_DISABLE_PLUGINS)"
        )
    if name not in backends:
        raise BackendError(
            f"unknown backend {name!r}; installed: {', '.join(sorted(backends))}"
        )
    cls = backends[name]
    reason = cls.unavailable_reason()
    if reason:
        hint = f" ({cls.install_hint})" if cls.install_hint else ""
        raise BackendError(f"backend {name!r} is unavailable: {reason}{hint}")
    _instances[name] = cls()
    return _instances[name]


@contextlib.contextmanager
def use_backend(name: str):
    """Make ``name`` the default backend inside a ``with`` block."""
    get_backend(name)  # fail early, at the with statement
    _current.append(name)
    try:
        yield get_backend(name)
    finally:
        _current.pop()
