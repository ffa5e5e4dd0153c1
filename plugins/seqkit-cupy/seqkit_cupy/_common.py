"""What the three cells share: the length sort and the kernels' device helpers.

Ragged batches work as in the NumPy backend (``seqkit_numpy._common``): sort
the batch by decreasing length once, so the examples still running at step t
are the prefix ``[:n_t]``; each step touches only that prefix, which carries a
finished example's state (forward) and gradient (backward) through its padded
steps unchanged. ``n_t`` comes from the host lengths, computed once per call,
so the time loops slice with Python ints and never copy between host and device.

The fused step kernels (``cupy.ElementwiseKernel``, one launch per step and
direction, templated on ``T`` = float or double) run over the (n_t, n_a)
elements of a step; a wide per-step array such as the gates, (n_t, G*n_a),
is passed ``raw`` and indexed by hand: element (row, col) of gate k is
``row * G*n_a + k*n_a + col``, and raw indexing honours strides, so this is
right for any layout (every such array here is C-contiguous anyway).
"""
from __future__ import annotations

import cupy as cp
import numpy as np

#: device helpers every kernel gets. sigmoid as 0.5 tanh(v/2) + 0.5, as the
#: NumPy backend computes it: no overflow for large |v|, one transcendental.
PREAMBLE = r"""
template <typename T> __device__ __forceinline__ T sk_sigmoid(const T v) {
    return T(0.5) * tanh(T(0.5) * v) + T(0.5);
}
"""


class LengthOrder:
    """The batch sorted by decreasing length, and the way back (device index arrays).

    lengths : (B,) int64 on the host (a device array is accepted and copied
    back once), ``1 <= lengths[b] <= T``. ``n_active[t]`` (Python ints) is how
    many examples are still running at step t.
    """

    def __init__(self, lengths, T: int):
        lengths = np.asarray(cp.asnumpy(lengths), dtype=np.int64)
        if lengths.ndim != 1 or lengths.size == 0:
            raise ValueError(f"lengths must be a non-empty 1-D array, got shape {lengths.shape}")
        if lengths.min() < 1 or lengths.max() > T:
            raise ValueError(f"lengths must lie in [1, T={T}], got {lengths.min()}..{lengths.max()}")
        B = lengths.size
        # stable, so equal lengths keep their order and sorted input stays put
        order = np.argsort(-lengths, kind="stable")
        self.identity = bool(np.array_equal(order, np.arange(B)))
        self.lengths = lengths[order]
        self.n_active = np.count_nonzero(
            self.lengths[None, :] > np.arange(T)[:, None], axis=1
        ).tolist()
        # the only host->device copies of a call: three small index arrays
        self.order = cp.asarray(order)
        self.inverse = cp.asarray(np.argsort(order))
        self._last = (cp.asarray(self.lengths), cp.arange(B))

    def sort(self, arr, axis: int):
        """``arr`` with its batch axis in sorted order (no copy if already sorted)."""
        return arr if self.identity else cp.take(arr, self.order, axis=axis)

    def unsort(self, arr, axis: int):
        """``arr`` with its batch axis back in the caller's order."""
        return arr if self.identity else cp.take(arr, self.inverse, axis=axis)

    def last(self, states):
        """Each example's state after its last valid step, in the caller's order.
        states : (T+1, B, n_a) sorted, ``states[t]`` the state before step t."""
        return self.unsort(states[self._last], axis=0)


def as_device(a, dtype):
    """``a`` as a device array of ``dtype`` (no copy when it already is one):
    the kernels are typed by T and refuse mixed float32/float64 arguments."""
    return cp.asarray(a, dtype=dtype)


def initial_gradient(d_state, like, order: LengthOrder):
    """A fresh, C-contiguous (B, n_a) buffer holding d_state in sorted order
    (zeros if None): the sweep writes it in place and GEMMs write into its rows."""
    if d_state is None:
        return cp.zeros_like(like)
    d = order.sort(cp.asarray(d_state), axis=0)
    return cp.array(d, dtype=like.dtype, order="C", copy=True)


def kernel_params(params, dtype):
    """The four kernel parameters as device arrays of the input's dtype."""
    return tuple(as_device(params[k], dtype) for k in ("W_ih", "W_hh", "b_ih", "b_hh"))
