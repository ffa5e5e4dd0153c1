"""Ragged batches without masks: sort the batch by length once.

With the examples in order of decreasing length, the examples still running
at step t are a prefix of the batch, rows ``[:n_t]`` where ``n_t`` counts the
lengths greater than t. Each cell then computes step t on that prefix only:
the rows past it are simply not touched, so a finished example carries its
state through the padded steps for free (forward), and the gradient flowing
into its last valid step passes through them unchanged (backward). This is
exactly PyTorch's packed-sequence semantics, and costs nothing when all the
lengths are equal (the order is then the identity and nothing is copied).
"""
from __future__ import annotations

import numpy as np


class LengthOrder:
    """The batch sorted by decreasing length, and the way back.

    lengths : (B,) int64 on the host, ``1 <= lengths[b] <= T``.
    ``n_active[t]`` (Python ints, for cheap slicing) is how many examples are
    still running at step t, so step t works on rows ``[:n_active[t]]``.
    """

    def __init__(self, lengths, T: int):
        lengths = np.asarray(lengths, dtype=np.int64)
        if lengths.ndim != 1 or lengths.size == 0:
            raise ValueError(f"lengths must be a non-empty 1-D array, got shape {lengths.shape}")
        if lengths.min() < 1 or lengths.max() > T:
            raise ValueError(
                f"lengths must lie in [1, T={T}], got {lengths.min()}..{lengths.max()}"
            )
        B = lengths.size
        # stable, so equal lengths keep their order and sorted input stays put
        order = np.argsort(-lengths, kind="stable")
        self.identity = bool(np.array_equal(order, np.arange(B)))
        self.order = order
        self.inverse = np.argsort(order)
        self.lengths = lengths[order]
        self.n_active = np.count_nonzero(
            self.lengths[None, :] > np.arange(T)[:, None], axis=1
        ).tolist()

    def sort(self, arr, axis: int):
        """``arr`` with its batch axis in sorted order (no copy if already sorted)."""
        return arr if self.identity else np.take(arr, self.order, axis=axis)

    def unsort(self, arr, axis: int):
        """``arr`` with its batch axis back in the caller's order."""
        return arr if self.identity else np.take(arr, self.inverse, axis=axis)

    def last(self, states):
        """Each example's state after its last valid step, in the caller's order.

        states : (T+1, B, n_a) in sorted order, ``states[t]`` the state before
        step t, so the state after step ``lengths[b] - 1`` is ``states[lengths[b]]``.
        """
        B = self.lengths.size
        return self.unsort(states[self.lengths, np.arange(B)], axis=0)


def initial_gradient(d_state, like, order: LengthOrder):
    """A fresh, writable (B, n_a) buffer holding d_state in sorted order (zeros if None)."""
    if d_state is None:
        return np.zeros_like(like)
    return np.array(order.sort(d_state, axis=0), dtype=like.dtype, copy=True)


def read_only(a):
    """Outputs may be views of the cache: make them read-only so that an
    in-place edit by the caller fails loudly instead of corrupting backward."""
    a = a.view()
    a.flags.writeable = False
    return a


def transposed(W, block: int = 64):
    """A C-contiguous copy of W.T, for the recurrent GEMM ``a_prev @ W.T``.

    BLAS runs that GEMM faster on a contiguous W.T than on the transposed
    view, but ``np.ascontiguousarray(W.T)`` hits cache conflicts on large W
    (about 10x slower than this); copying in blocks of rows stays in cache.
    """
    out = np.empty((W.shape[1], W.shape[0]), dtype=W.dtype)
    for i in range(0, W.shape[0], block):
        out[:, i:i + block] = W[i:i + block].T
    return out
