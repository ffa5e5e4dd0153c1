"""The vanilla RNN cell on the GPU: forward over time and BPTT.

Notation (the lecture's, for one example; the code works on a batch):

    z<t> = W_ax x<t> + W_aa a<t-1> + b_a
    a<t> = g(z<t>)                      g = tanh (or relu)

with W_ax = W_ih (n_a, n_x), W_aa = W_hh (n_a, n_a), b_a = b_ih + b_hh.
BPTT, with da_next the gradient reaching a<t> from step t+1:

    dz<t>    = (da<t> + da_next) * g'(z<t>)     tanh' = 1 - a<t>**2, relu' = [a<t> > 0]
    da_next  = W_aa^T dz<t>                      (what flows on to a<t-1>)
    dW_ax = sum_t dz<t> x<t>^T,  dW_aa = sum_t dz<t> a<t-1>^T,  db_a = sum_t dz<t>

The same formulas as ``seqkit_numpy.rnn`` (the spec). Per step and direction:
one cuBLAS GEMM (W_aa a<t-1>, written straight into a<t>'s rows) and one
fused kernel (+ W_ax x<t> + b_a, then g). The input projections of all steps
are one GEMM before the loop; the weight gradients one GEMM each after it.
"""
from __future__ import annotations

from typing import NamedTuple

import cupy as cp

from ._common import LengthOrder, as_device, initial_gradient, kernel_params

# a holds W_aa a<t-1> (the GEMM's output) and becomes a<t> in place
_forward_tanh = cp.ElementwiseKernel(
    "T xw", "T a", "a = tanh(a + xw)", "seqkit_rnn_tanh_forward")
# written so that NaN propagates as in np.maximum (NaN < 0 is false)
_forward_relu = cp.ElementwiseKernel(
    "T xw", "T a", "const T v = a + xw; a = v < T(0) ? T(0) : v;", "seqkit_rnn_relu_forward")

# dz = (da<t> + da_next) * g'(z<t>), g' read off the saved output a<t>
_backward_tanh = cp.ElementwiseKernel(
    "T da, T da_next, T a", "T dz", "dz = (da + da_next) * (T(1) - a * a)",
    "seqkit_rnn_tanh_backward")
_backward_relu = cp.ElementwiseKernel(
    "T da, T da_next, T a", "T dz", "dz = a > T(0) ? da + da_next : T(0)",
    "seqkit_rnn_relu_backward")


class RNNCache(NamedTuple):
    """What backward needs. Batch axes are in ``order``'s sorted order."""

    x: cp.ndarray        # (T, B, n_x) the inputs
    a_all: cp.ndarray    # (T+1, B, n_a) a_all[0] = a<0>, a_all[t+1] = a<t> (0 when padded)
    params: tuple        # W_ax, W_aa, b_ih, b_hh in x's dtype
    order: LengthOrder
    nonlinearity: str


def rnn_forward(params, x, lengths, state0, nonlinearity="tanh"):
    """Run the RNN over T steps.

    x : (T, B, n_x) float32/float64 device array; state0 : ``(a0,)``, a0 (B, n_a).
    Returns ``a`` (T, B, n_a, zeros at padded steps), ``(a_n,)`` with a_n
    (B, n_a) each example's state after its last valid step, and the cache.
    Every array keeps x's dtype.
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    x = cp.asarray(x)
    T, B, n_x = x.shape
    W_ax, W_aa, b_ih, b_hh = kernel_params(params, x.dtype)
    n_a = W_aa.shape[0]
    order = LengthOrder(lengths, T)
    x = order.sort(x, axis=1)

    # W_ax x<t> + b_a for every step at once: one big GEMM instead of T small ones
    xW = (x.reshape(T * B, n_x) @ W_ax.T).reshape(T, B, n_a)
    xW += b_ih + b_hh

    # zeros, so padded steps already hold the zero output the contract asks for
    a_all = cp.zeros((T + 1, B, n_a), dtype=x.dtype)
    a_all[0] = order.sort(as_device(state0[0], x.dtype), axis=0)
    # one transposing copy per call, so no GEMM in the loop has to make one
    W_aa_T = cp.ascontiguousarray(W_aa.T)
    step = _forward_tanh if nonlinearity == "tanh" else _forward_relu
    for t, n in enumerate(order.n_active):
        if n == 0:        # every example has ended (max(lengths) < T)
            break
        a_next = a_all[t + 1, :n]   # prefix rows of a C-contiguous block: contiguous
        cp.matmul(a_all[t, :n], W_aa_T, out=a_next)
        step(xW[t, :n], a_next)

    a = order.unsort(a_all[1:], axis=1)
    cache = RNNCache(x, a_all, (W_ax, W_aa, b_ih, b_hh), order, nonlinearity)
    return a, (order.last(a_all),), cache


def rnn_backward(cache: RNNCache, da, d_state_n):
    """Backpropagation through time for ``rnn_forward``.

    da : (T, B, n_a) gradient w.r.t. ``a`` (padded steps ignored);
    d_state_n : ``(da_n,)``, da_n (B, n_a) or None.
    Returns dx (T, B, n_x), ``(da0,)`` and dparams (W_ih, W_hh, b_ih, b_hh),
    all in the forward's dtype.
    """
    x, a_all, (W_ax, W_aa, _, _), order, nonlinearity = cache
    T, B, n_x = x.shape
    n_a = a_all.shape[2]
    step = _backward_tanh if nonlinearity == "tanh" else _backward_relu

    # the sweep backwards in time; padded rows of dz stay 0, so they add
    # nothing to the weight gradients below
    da = order.sort(as_device(da, x.dtype), axis=1)
    da_next = initial_gradient(d_state_n[0], a_all[0], order)
    dz_all = cp.zeros((T, B, n_a), dtype=x.dtype)
    for t in range(T - 1, -1, -1):
        n = order.n_active[t]
        if n == 0:
            continue
        dz = dz_all[t, :n]
        step(da[t, :n], da_next[:n], a_all[t + 1, :n], dz)
        # rows past n are finished examples: their gradient waits unchanged
        cp.matmul(dz, W_aa, out=da_next[:n])

    # every step's contribution to the weights and inputs in one GEMM each
    dz2 = dz_all.reshape(T * B, n_a)
    dW_ax = dz2.T @ x.reshape(T * B, n_x)
    dW_aa = dz2.T @ a_all[:-1].reshape(T * B, n_a)
    db_a = dz2.sum(axis=0)
    dx = (dz2 @ W_ax).reshape(T, B, n_x)

    dparams = {"W_ih": dW_ax, "W_hh": dW_aa, "b_ih": db_a, "b_hh": db_a.copy()}
    return order.unsort(dx, axis=1), (order.unsort(da_next, axis=0),), dparams
