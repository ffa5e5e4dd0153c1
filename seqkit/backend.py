"""The array-backend interface: what every backend plugin implements.

A backend owns an array module ``xp`` (NumPy, CuPy, ...) and a few array
services. Everything above it (layers, heads, models, optimizers) is written
against ``xp`` and this class only, so it runs unchanged on every backend. The
recurrent sweeps themselves are cells' kernels (``seqkit.cells``), registered
per backend through the ``register_cells`` hook; ``cell_forward`` and
``cell_backward`` find them.

Kernel contract (the same for every cell and every backend)
------------------------------------------------------------
Shapes: T time steps, B examples, n_x input features, n_a hidden units,
G gates (rnn 1, gru 3, lstm 4, declared by the cell).

params : dict of backend arrays, PyTorch's layout and gate order
    ``W_ih`` (G*n_a, n_x)   the lecture's W_ax, one block per gate
    ``W_hh`` (G*n_a, n_a)   the lecture's W_aa
    ``b_ih`` (G*n_a,), ``b_hh`` (G*n_a,)   b_a = b_ih + b_hh
x : (T, B, n_x) backend array, float32 or float64 (params have the same dtype)
lengths : (B,) NumPy int64 on the host, 1 <= lengths[b] <= T.
    Step t of example b is valid when t < lengths[b]. Padded steps carry the
    state through unchanged, output zeros and receive no gradient (the
    semantics of PyTorch's packed sequences).
state0 : tuple of (B, n_a) arrays, one per state the cell declares:
    ``(a0,)`` for rnn and gru, ``(a0, c0)`` for lstm.

``forward(params, x, lengths, state0, **options) -> (a, state_n, cache)``
    a : (T, B, n_a) every hidden state, zeros at padded steps (read-only on NumPy)
    state_n : tuple like state0, each example's state at its last valid step
    cache : opaque object that only the same kernel's backward reads
``backward(cache, da, d_state_n) -> (dx, d_state0, dparams)``
    da : (T, B, n_a) gradient of the loss w.r.t. ``a`` (padded steps ignored)
    d_state_n : tuple like state_n; entries may be None (no gradient)
    dx : (T, B, n_x); d_state0 : tuple like state0; dparams : dict like params

``seqkit.kernels`` holds what kernels share besides their arithmetic (the
length ordering, the input projection and weight-gradient GEMMs).
"""
from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import numpy as np

from .arrays import array_module, to_host
from .cells import get_cell
from .errors import SeqkitError
from .plugins import registry

__all__ = ["Backend", "BackendError", "available_backends", "get_backend", "use_backend",
           "array_module", "to_host", "DEFAULT_BACKEND"]


class Backend:
    """Base class of every array backend. Subclass it in a plugin and register
    the subclass with ``register_backends``.

    Ten members: identity (``name``, ``xp``, ``device``, ``unavailable_reason``,
    ``install_hint``), arrays (``asarray``, ``to_numpy``, ``rng``,
    ``scatter_add``, ``synchronize``). ``cell_forward``/``cell_backward``
    dispatch to the kernels cells registered for this backend. Two more have
    defaults and matter only to device backends in distributed training:
    ``select_device`` and ``allreduce_sum``.
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

    # -- data-parallel training (seqkit.distributed) ------------------------------
    def select_device(self, local_rank: int) -> None:
        """Called on each rank of a distributed run before its model is built, with
        the rank's index on its machine: a multi-device backend picks a device by it.
        A CPU backend has nothing to pick."""

    def allreduce_sum(self, comm, buf) -> None:
        """Sum the 1-D array ``buf`` over the ranks of the mpi4py communicator ``comm``,
        in place, every rank receiving the same result. This default passes host
        memory to MPI; a device backend overrides it (CuPy: NCCL, on the GPU)."""
        from mpi4py import MPI

        if isinstance(buf, np.ndarray):
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            return
        host = np.ascontiguousarray(self.to_numpy(buf))
        comm.Allreduce(MPI.IN_PLACE, host, op=MPI.SUM)
        buf[...] = self.asarray(host)

    # -- kernels: registered by cells, see the module docstring --------------
    def cell_forward(self, cell: str, params, x, lengths, state0, **options):
        forward, _ = get_cell(cell).kernels_for(self.name)
        return forward(params, x, lengths, state0, **options)

    def cell_backward(self, cell: str, cache, da, d_state_n):
        _, backward = get_cell(cell).kernels_for(self.name)
        return backward(cache, da, d_state_n)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} on {self.device}>"


class BackendError(SeqkitError):
    """An unknown or unavailable backend (a user mistake, one line)."""


_current: list[str] = []
DEFAULT_BACKEND = "numpy"


def _registry() -> dict[str, type[Backend]]:
    return registry().backends


def available_backends() -> dict[str, str | None]:
    """Every installed backend name mapped to None (usable) or the reason it is not."""
    return {name: _reason(cls) for name, cls in sorted(_registry().items())}


def _reason(cls) -> str | None:
    """``cls.unavailable_reason()``; a plugin whose check itself raises is unavailable,
    with that error as the reason (one line)."""
    try:
        return cls.unavailable_reason()
    except Exception as e:  # third-party code
        return f"its unavailable_reason() failed: {type(e).__name__}: {' '.join(str(e).split())}"


def get_backend(name: str | Backend | None = None) -> Backend:
    """The backend called ``name`` (default: the innermost ``use_backend``, else
    ``numpy``), instantiated once. Unknown or unavailable names raise
    ``BackendError`` with a one-line message listing what is installed."""
    if isinstance(name, Backend):
        return name
    if name is None:
        name = _current[-1] if _current else DEFAULT_BACKEND
    instances = registry().backend_instances
    if name in instances:
        return instances[name]
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
    reason = _reason(cls)
    if reason:
        hint = f" ({cls.install_hint})" if cls.install_hint else ""
        raise BackendError(f"backend {name!r} is unavailable: {reason}{hint}")
    try:
        instances[name] = cls()
    except Exception as e:  # third-party code
        raise BackendError(f"backend {name!r} failed to start: {type(e).__name__}: "
                           f"{' '.join(str(e).split())}") from e
    return instances[name]


@contextlib.contextmanager
def use_backend(name: str):
    """Make ``name`` the default backend inside a ``with`` block."""
    get_backend(name)  # fail early, at the with statement
    _current.append(name)
    try:
        yield get_backend(name)
    finally:
        _current.pop()
