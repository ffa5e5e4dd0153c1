"""The vanilla RNN cell on the GPU. The formulas are ``seqkit_numpy.rnn``'s (the
spec): z<t> = W_ax x<t> + W_aa a<t-1> + b_a, a<t> = g(z<t>), g = tanh or relu.

Per step and direction: one cuBLAS GEMM (W_aa a<t-1>, written straight into
a<t>'s rows) and one fused kernel (+ W_ax x<t> + b_a, then g); backward one
fused kernel (dz<t>) and one GEMM (da_next = W_aa^T dz<t>). The input
projections and the weight gradients are one GEMM each outside the loop.
"""
from __future__ import annotations

from typing import NamedTuple

import cupy as cp

from seqkit.kernels import LengthOrder, initial_gradient, input_projection, kernel_params, weight_gradients

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
    """``seqkit_numpy.rnn.rnn_forward`` on device arrays (the kernel contract)."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    x = cp.asarray(x)
    T, B, _ = x.shape
    W_ax, W_aa, b_ih, b_hh = kernel_params(params, x.dtype, cp)
    n_a = W_aa.shape[0]
    order = LengthOrder(lengths, T, cp)
    x, xW = input_projection(x, W_ax, b_ih + b_hh, order)

    # zeros, so padded steps already hold the zero output the contract asks for
    a_all = cp.zeros((T + 1, B, n_a), dtype=x.dtype)
    a_all[0] = order.sort(cp.asarray(state0[0], dtype=x.dtype), axis=0)
    # one transposing copy per call, so no GEMM in the loop has to make one
    W_aa_T = cp.ascontiguousarray(W_aa.T)
    step = _forward_tanh if nonlinearity == "tanh" else _forward_relu
    for t, n in enumerate(order.n_active):
        if n == 0:        # every example has ended (max(lengths) < T)
            break
        a_next = a_all[t + 1, :n]   # prefix rows of a C-contiguous block: contiguous
        cp.matmul(a_all[t, :n], W_aa_T, out=a_next)
        step(xW[t, :n], a_next)

    cache = RNNCache(x, a_all, (W_ax, W_aa, b_ih, b_hh), order, nonlinearity)
    return order.unsort(a_all[1:], axis=1), (order.last(a_all),), cache


def rnn_backward(cache: RNNCache, da, d_state_n):
    """``seqkit_numpy.rnn.rnn_backward`` on device arrays (the kernel contract)."""
    x, a_all, (W_ax, W_aa, _, _), order, nonlinearity = cache
    T, B, _ = x.shape
    step = _backward_tanh if nonlinearity == "tanh" else _backward_relu

    # padded rows of dz stay 0, so they add nothing to the weight gradients
    da = order.sort(cp.asarray(da, dtype=x.dtype), axis=1)
    da_next = initial_gradient(d_state_n[0], a_all[0], order)
    dz_all = cp.zeros((T, B, a_all.shape[2]), dtype=x.dtype)
    for t in range(T - 1, -1, -1):
        n = order.n_active[t]
        if n == 0:
            continue
        dz = dz_all[t, :n]
        step(da[t, :n], da_next[:n], a_all[t + 1, :n], dz)
        # rows past n are finished examples: their gradient waits unchanged
        cp.matmul(dz, W_aa, out=da_next[:n])

    dW_ax, dW_aa, db_a, dx = weight_gradients(dz_all, x, a_all[:-1], W_ax)
    dparams = {"W_ih": dW_ax, "W_hh": dW_aa, "b_ih": db_a, "b_hh": db_a.copy()}
    return order.unsort(dx, axis=1), (order.unsort(da_next, axis=0),), dparams
