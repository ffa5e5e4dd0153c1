"""CupyBackend: CuPy arrays on an NVIDIA GPU, cuBLAS GEMMs and fused gate kernels.

This module imports without CuPy: ``unavailable_reason()`` tries the import
and looks for a device, keeping the error text, and the kernel modules
(``rnn``, ``gru``, ``lstm``, which import CuPy at their top) are loaded only
when the backend is instantiated, i.e. after it was found usable.
"""
from __future__ import annotations

import numpy as np

from seqkit.backend import Backend


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

        from . import gru, lstm, rnn

        self._cp, self._cupyx = cupy, cupyx
        self._rnn, self._gru, self._lstm = rnn, gru, lstm

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

    # -- kernels ------------------------------------------------------------
    def rnn_forward(self, params, x, lengths, state0, nonlinearity="tanh"):
        return self._rnn.rnn_forward(params, x, lengths, state0, nonlinearity=nonlinearity)

    def rnn_backward(self, cache, da, d_state_n):
        return self._rnn.rnn_backward(cache, da, d_state_n)

    def gru_forward(self, params, x, lengths, state0):
        return self._gru.gru_forward(params, x, lengths, state0)

    def gru_backward(self, cache, da, d_state_n):
        return self._gru.gru_backward(cache, da, d_state_n)

    def lstm_forward(self, params, x, lengths, state0):
        return self._lstm.lstm_forward(params, x, lengths, state0)

    def lstm_backward(self, cache, da, d_state_n):
        return self._lstm.lstm_backward(cache, da, d_state_n)
