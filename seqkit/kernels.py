"""The backend toolkit: what every recurrent kernel needs besides its arithmetic.

Written once, against the array module ``xp``, for the NumPy and CuPy plugins
and for third-party kernels alike.

Ragged batches without masks: sort the batch by length once. With the
examples in order of decreasing length, the examples still running at step t
are a prefix of the batch, rows ``[:n_t]`` where ``n_t`` counts the lengths
greater than t. Each step then works on that prefix only: the rows past it are
not touched, so a finished example carries its state through the padded steps
for free (forward), and the gradient flowing into its last valid step passes
through them unchanged (backward). These are PyTorch's packed-sequence
semantics, and they cost nothing when all lengths are equal (the order is then
the identity and nothing is copied).
"""
from __future__ import annotations

import numpy as np

from .arrays import array_module, to_host
from .threads import gemm


class LengthOrder:
    """The batch sorted by decreasing length, and the way back.

    lengths : (B,) ints (host or device), ``1 <= lengths[b] <= T``.
    xp : the array module the kernel computes with; the index arrays live there.
    ``n_active[t]`` (Python ints, for cheap slicing on the host) is how many
    examples are still running at step t, so step t works on rows ``[:n_active[t]]``.
    """

    def __init__(self, lengths, T: int, xp=np):
        lengths = np.asarray(to_host(lengths), dtype=np.int64)
        if lengths.ndim != 1 or lengths.size == 0:
            raise ValueError(f"lengths must be a non-empty 1-D array, got shape {lengths.shape}")
        if lengths.min() < 1 or lengths.max() > T:
            raise ValueError(f"lengths must lie in [1, T={T}], got {lengths.min()}..{lengths.max()}")
        B = lengths.size
        # stable, so equal lengths keep their order and sorted input stays put
        order = np.argsort(-lengths, kind="stable")
        self.xp = xp
        self.identity = bool(np.array_equal(order, np.arange(B)))
        self.lengths = lengths[order]
        self.n_active = np.count_nonzero(self.lengths[None, :] > np.arange(T)[:, None],
                                         axis=1).tolist()
        # the only host->device copies of a kernel call: three small index arrays
        self.order = xp.asarray(order)
        self.inverse = xp.asarray(np.argsort(order))
        self._last = (xp.asarray(self.lengths), xp.arange(B))

    def sort(self, arr, axis: int):
        """``arr`` with its batch axis in sorted order (no copy if already sorted)."""
        return arr if self.identity else self.xp.take(arr, self.order, axis=axis)

    def unsort(self, arr, axis: int):
        """``arr`` with its batch axis back in the caller's order."""
        return arr if self.identity else self.xp.take(arr, self.inverse, axis=axis)

    def last(self, states):
        """Each example's state after its last valid step, in the caller's order.

        states : (T+1, B, n_a) in sorted order, ``states[t]`` the state before
        step t, so the state after step ``lengths[b] - 1`` is ``states[lengths[b]]``.
        """
        return self.unsort(states[self._last], axis=0)


def initial_gradient(d_state, like, order: LengthOrder):
    """A fresh, writable, C-contiguous (B, n_a) buffer holding d_state in sorted
    order (zeros if None): the sweep writes it in place and GEMMs write into its rows."""
    xp = order.xp
    if d_state is None:
        return xp.zeros_like(like)
    d = order.sort(xp.asarray(d_state), axis=0)
    return xp.array(d, dtype=like.dtype, order="C", copy=True)


def read_only(a):
    """Outputs may be views of the cache: make a NumPy one read-only so that an
    in-place edit by the caller fails loudly instead of corrupting backward.
    (Device arrays have no such flag; they are returned as they are.)"""
    if array_module(a) is not np:
        return a
    a = a.view()
    a.flags.writeable = False
    return a


def kernel_params(params, dtype, xp=np):
    """``(W_ih, W_hh, b_ih, b_hh)`` as arrays of the input's dtype (no copy when
    they already are): typed kernels refuse mixed float32/float64 arguments."""
    return tuple(xp.asarray(params[k], dtype=dtype) for k in ("W_ih", "W_hh", "b_ih", "b_hh"))


def pairs_of(W) -> int:
    """How many directions' parameters W stacks: 1 for a (rows, cols) matrix, P for
    (P, rows, cols) (both directions of a bidirectional layer, ``seqkit.layers.pairs``)."""
    return W.shape[0] if W.ndim == 3 else 1


def by_direction(a, P: int):
    """The rows of ``a`` (N, n), interleaved by direction (row i belongs to direction
    i % P), as a (P, N / P, n) view: one batched GEMM covers every direction."""
    return a.reshape(-1, P, a.shape[-1]).swapaxes(0, 1)


def input_projection(x, W_ih, bias, order: LengthOrder):
    """``W_ih x<t> + bias`` for every step at once, in sorted batch order: one big
    GEMM before the time loop instead of T small ones inside it.

    x : (T, B, n_x) in the caller's order -> (x sorted, xW (T, B, G*n_a)).
    Stacked W_ih (P, G*n_a, n_x) and bias (P, G*n_a): the rows are P directions'."""
    T, B, n_x = x.shape
    x = order.sort(x, axis=1)
    xp, P, GH = order.xp, pairs_of(W_ih), W_ih.shape[-2]
    # the bias as one more column of the GEMM, [x<t>, 1] [W_ih, bias]^T: one pass over
    # the (T, B, G*n_a) result fewer (0.82-0.95 of the time in an A/B)
    x1 = xp.empty((T * B, n_x + 1), dtype=x.dtype)
    x1[:, :n_x] = x.reshape(T * B, n_x)
    x1[:, n_x] = 1
    W1 = xp.concatenate([W_ih, bias[..., None].astype(W_ih.dtype, copy=False)], axis=-1)
    with gemm(T * B, GH, n_x, xp):  # the BLAS threads it is worth (seqkit.threads)
        if P == 1:
            xW = x1 @ W1.T
        else:
            xW = xp.empty((T * B, GH), dtype=x.dtype)
            xp.matmul(by_direction(x1, P), W1.swapaxes(1, 2), out=by_direction(xW, P))
    return x, xW.reshape(T, B, GH)


def weight_gradients(D, x, a_prev, W_ih):
    """Every step's contribution to the weights and inputs, one GEMM each after
    the sweep (not one per step inside it).

    D : (T, B, G*n_a) the pre-activation gradients; x : (T, B, n_x) and
    a_prev : (T, B, n_a) (a<t-1> of each step), all in sorted order.
    Returns dW_ih, dW_hh, db (the sum over steps) and dx (T, B, n_x); stacked
    (P, ...) weight and bias gradients for a stacked W_ih (P, G*n_a, n_x)."""
    T, B, GH = D.shape
    n_x, n_a = x.shape[2], a_prev.shape[2]
    xp, P = array_module(D), pairs_of(W_ih)
    D2, x2, a2 = D.reshape(T * B, GH), x.reshape(T * B, n_x), a_prev.reshape(T * B, n_a)
    with gemm(GH, n_x + n_a, T * B // P, xp):  # threads for the biggest GEMMs of BPTT
        if P == 1:
            dW_ih, dW_hh, dx = D2.T @ x2, D2.T @ a2, D2 @ W_ih
        else:
            Dp = by_direction(D2, P)
            dW_ih = xp.matmul(Dp.swapaxes(1, 2), by_direction(x2, P))
            dW_hh = xp.matmul(Dp.swapaxes(1, 2), by_direction(a2, P))
            dx = xp.empty((T * B, n_x), dtype=D.dtype)
            xp.matmul(Dp, W_ih, out=by_direction(dx, P))
    db = D2.sum(axis=0) if P == 1 else by_direction(D2, P).sum(axis=1)
    return dW_ih, dW_hh, db, dx.reshape(T, B, n_x)
