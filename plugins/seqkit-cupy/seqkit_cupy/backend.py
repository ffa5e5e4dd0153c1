"""CupyBackend: CuPy arrays on an NVIDIA GPU; the cells' kernels, registered as ``CELLS``.

This module imports without CuPy: ``unavailable_reason()`` tries the import and
looks for a device, keeping the error text. The kernel modules (``rnn``,
``gru``, ``lstm``) import CuPy at their top, so each registered kernel is a thin
wrapper that imports its module on the first call, which only a usable backend
makes.
"""
from __future__ import annotations

import importlib

import numpy as np

from seqkit.backend import Backend
from seqkit.cells import Cell


def _one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (CuPy's import errors span several)."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


class CupyBackend(Backend):
    """CuPy on the current CUDA device."""

    name = "cupy"
    install_hint = "pip install 'seqkit-cupy[cuda12]' (or [cuda13]) on a machine with an NVIDIA GPU"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            import cupy
        except Exception as e:  # ImportError, or a CUDA library failing to load
            return _one_line(e)
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # CUDARuntimeError: no driver, no device, ...
            return _one_line(e)
        if count < 1:
            return "no CUDA device: cupy.cuda.runtime.getDeviceCount() returned 0"
        return None

    def __init__(self):
        import cupy
        import cupyx

        self._cp, self._cupyx = cupy, cupyx

    @property
    def xp(self):
        return self._cp

    @property
    def device(self) -> str:
        dev_id = self._cp.cuda.Device().id
        name = self._cp.cuda.runtime.getDeviceProperties(dev_id)["name"]
        if isinstance(name, bytes):
            name = name.decode(errors="replace")
        return f"cuda:{dev_id} ({name})"

    # -- arrays -------------------------------------------------------------
    def to_numpy(self, a) -> np.ndarray:
        return self._cp.asnumpy(a)   # also accepts NumPy arrays and lists

    def rng(self, seed: int):
        # cupy.random.Generator has random(size, dtype) and integers(low,
        # high, size); note integers(size=None) gives a 0-d device array
        return self._cp.random.default_rng(seed)

    def scatter_add(self, target, indices, values) -> None:
        # atomicAdd, so repeated indices accumulate (float32 and float64)
        cp = self._cp
        self._cupyx.scatter_add(target, cp.asarray(indices),
                                cp.asarray(values, dtype=target.dtype))

    def synchronize(self) -> None:
        self._cp.cuda.get_current_stream().synchronize()

    # -- data-parallel training: NCCL on the GPU, MPI only to hand out its id ------
    def select_device(self, local_rank: int) -> None:
        # one GPU per rank: NCCL refuses two ranks of one communicator on one device
        self._cp.cuda.Device(local_rank % self._cp.cuda.runtime.getDeviceCount()).use()

    def allreduce_sum(self, comm, buf) -> None:
        from cupy.cuda import nccl

        communicators = self.__dict__.setdefault("_nccl", {})
        key = id(comm)
        if key not in communicators:
            uid = np.zeros(128, dtype=np.int64)  # NCCL_UNIQUE_ID_BYTES
            if comm.Get_rank() == 0:
                uid[:] = nccl.get_unique_id()
            comm.Bcast(uid, root=0)
            communicators[key] = nccl.NcclCommunicator(comm.Get_size(),
                                                       tuple(int(v) for v in uid), comm.Get_rank())
        kinds = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64}
        stream = self._cp.cuda.get_current_stream()
        communicators[key].allReduce(buf.data.ptr, buf.data.ptr, buf.size, kinds[str(buf.dtype)],
                                     nccl.NCCL_SUM, stream.ptr)
        stream.synchronize()


def _lazy(cell: str, which: str):
    """``seqkit_cupy.<cell>.<cell>_<which>``, its module imported on the first call.
    The module is looked up on every call (a dict hit, next to a GPU launch)
    rather than kept, so a re-imported module (the CPU test swaps in a CuPy
    stand-in and back) is always the one that runs."""
    name = f"{cell}_{which}"

    def kernel(*args, **kwargs):
        return getattr(importlib.import_module(f"{__package__}.{cell}"), name)(*args, **kwargs)

    kernel.__name__ = kernel.__qualname__ = name
    kernel.__doc__ = f"The CuPy kernel {__package__}.{cell}.{name}, imported on the first call."
    return kernel


def _cell(name: str, gates: int, **declaration) -> Cell:
    return Cell(name, gates, "cupy", _lazy(name, "forward"), _lazy(name, "backward"), **declaration)


CELLS = [
    _cell("rnn", 1, options={"nonlinearity": ("tanh", "relu")},
          description="the course's vanilla cell: a<t> = g(W_aa a<t-1> + W_ax x<t> + b_a)"),
    _cell("gru", 3, description="gated recurrent unit (gates r, z, n)"),
    _cell("lstm", 4, states=("a", "c"), description="long short-term memory (gates i, f, g, o)"),
]
