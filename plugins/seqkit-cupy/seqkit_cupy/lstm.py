"""The LSTM cell on the GPU. The formulas and notation are ``seqkit_numpy.lstm``'s
(the spec): c<t> = f * c<t-1> + i * g, a<t> = o * tanh(c<t>).

Unlike the NumPy backend, which reorders the gate rows to [g, i, f, o] so that
whole-array ufuncs cover three gates at once, the fused kernels handle each
gate by itself, so the gates stay in PyTorch's order i, f, g, o and nothing is
reordered. Per step and direction: one cuBLAS GEMM (W_hh a<t-1>, resp. W_hh^T
[di, df, dg, do]) and one fused kernel for all the gate and cell-state
arithmetic.
"""
from __future__ import annotations

from typing import NamedTuple

import cupy as cp

from seqkit.kernels import LengthOrder, initial_gradient, input_projection, kernel_params, weight_gradients

from ._common import PREAMBLE

# Over the (n, n_a) elements of step t. xw: W_ih x<t> + b_ih + b_hh, gh:
# W_hh a<t-1>, both raw (n, 4 n_a); gates raw (n, 4 n_a) gets the activations.
# (No variable may be called i: that is the kernel's element index.)
_forward = cp.ElementwiseKernel(
    "raw T xw, raw T gh, T c_prev",
    "raw T gates, T c_next, T tanh_c, T a_next",
    """
    const ptrdiff_t H = gates.shape()[1] / 4, j = sk_gate0(i, H, 4);   // j: the input gate of element i
    const T gi = sk_sigmoid(xw[j] + gh[j]);
    const T gf = sk_sigmoid(xw[j + H] + gh[j + H]);
    const T gg = tanh(xw[j + 2 * H] + gh[j + 2 * H]);
    const T go = sk_sigmoid(xw[j + 3 * H] + gh[j + 3 * H]);
    const T c = gf * c_prev + gi * gg;
    const T tc = tanh(c);
    gates[j] = gi;
    gates[j + H] = gf;
    gates[j + 2 * H] = gg;
    gates[j + 3 * H] = go;
    c_next = c;
    tanh_c = tc;
    a_next = go * tc;
    """,
    "seqkit_lstm_forward", preamble=PREAMBLE)

# da_in: upstream da<t>; da_next: W_hh^T D<t+1> (the previous GEMM's output);
# dc: dL/dc<t> from step t+1 on entry, overwritten with dc * f for step t-1.
# dgates raw (n, 4 n_a) gets the pre-activation gradients [di, df, dg, do].
_backward = cp.ElementwiseKernel(
    "T da_in, T da_next, raw T gates, T c_prev, T tanh_c",
    "raw T dgates, T dc",
    """
    const ptrdiff_t H = gates.shape()[1] / 4, j = sk_gate0(i, H, 4);
    const T gi = gates[j], gf = gates[j + H], gg = gates[j + 2 * H], go = gates[j + 3 * H];
    const T da = da_in + da_next;                   // dL/da<t>
    const T dct = dc + da * go * (T(1) - tanh_c * tanh_c);   // dL/dc<t>
    dgates[j] = dct * gg * gi * (T(1) - gi);
    dgates[j + H] = dct * c_prev * gf * (T(1) - gf);
    dgates[j + 2 * H] = dct * gi * (T(1) - gg * gg);
    dgates[j + 3 * H] = da * tanh_c * go * (T(1) - go);
    dc = dct * gf;
    """,
    "seqkit_lstm_backward", preamble=PREAMBLE)


class LSTMCache(NamedTuple):
    """What backward needs. Batch axes are in ``order``'s sorted order."""

    x: cp.ndarray        # (T, B, n_x) the inputs
    a_all: cp.ndarray    # (T+1, B, n_a) a_all[0] = a<0>, a_all[t+1] = a<t> (0 when padded)
    c_all: cp.ndarray    # (T+1, B, n_a) the same for the cell state c
    gates: cp.ndarray    # (T, B, 4*n_a) the activations i, f, g, o (PyTorch's order)
    tanh_c: cp.ndarray   # (T, B, n_a) tanh(c<t>)
    params: tuple        # W_ih, W_hh, b_ih, b_hh in x's dtype
    order: LengthOrder


def lstm_forward(params, x, lengths, state0):
    """``seqkit_numpy.lstm.lstm_forward`` on device arrays (the kernel contract)."""
    x = cp.asarray(x)
    T, B, _ = x.shape
    W_ih, W_hh, b_ih, b_hh = kernel_params(params, x.dtype, cp)
    n_a = W_hh.shape[1]
    order = LengthOrder(lengths, T, cp)
    x, xW = input_projection(x, W_ih, b_ih + b_hh, order)

    a_all = cp.zeros((T + 1, B, n_a), dtype=x.dtype)
    c_all = cp.zeros((T + 1, B, n_a), dtype=x.dtype)
    a_all[0] = order.sort(cp.asarray(state0[0], dtype=x.dtype), axis=0)
    c_all[0] = order.sort(cp.asarray(state0[1], dtype=x.dtype), axis=0)
    gates = cp.zeros((T, B, 4 * n_a), dtype=x.dtype)
    tanh_c = cp.zeros((T, B, n_a), dtype=x.dtype)
    gh_buf = cp.empty((B, 4 * n_a), dtype=x.dtype)
    W_hh_T = cp.ascontiguousarray(W_hh.T)   # once per call, not a copy per step
    for t, n in enumerate(order.n_active):
        if n == 0:        # every example has ended (max(lengths) < T)
            break
        gh = gh_buf[:n]
        cp.matmul(a_all[t, :n], W_hh_T, out=gh)
        _forward(xW[t, :n], gh, c_all[t, :n],
                 gates[t, :n], c_all[t + 1, :n], tanh_c[t, :n], a_all[t + 1, :n])

    cache = LSTMCache(x, a_all, c_all, gates, tanh_c, (W_ih, W_hh, b_ih, b_hh), order)
    return order.unsort(a_all[1:], axis=1), (order.last(a_all), order.last(c_all)), cache


def lstm_backward(cache: LSTMCache, da, d_state_n):
    """``seqkit_numpy.lstm.lstm_backward`` on device arrays (the kernel contract)."""
    x, a_all, c_all, gates, tanh_c, (W_ih, W_hh, _, _), order = cache
    T, B, _ = x.shape

    # D holds the pre-activation gradients [i, f, g, o] of each step, W_hh's
    # row order, so the recurrent GEMM reads a contiguous block. Padded rows
    # stay 0; finished rows of da_next and dc_next wait unchanged.
    da = order.sort(cp.asarray(da, dtype=x.dtype), axis=1)
    da_next = initial_gradient(d_state_n[0], a_all[0], order)
    dc_next = initial_gradient(d_state_n[1], c_all[0], order)
    D = cp.zeros((T, B, gates.shape[2]), dtype=x.dtype)
    for t in range(T - 1, -1, -1):
        n = order.n_active[t]
        if n == 0:
            continue
        _backward(da[t, :n], da_next[:n], gates[t, :n], c_all[t, :n], tanh_c[t, :n],
                  D[t, :n], dc_next[:n])
        cp.matmul(D[t, :n], W_hh, out=da_next[:n])

    # both biases get the same gradient, the sum of the pre-activation gradients
    dW_ih, dW_hh, db, dx = weight_gradients(D, x, a_all[:-1], W_ih)
    dparams = {"W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db, "b_hh": db.copy()}
    d_state0 = (order.unsort(da_next, axis=0), order.unsort(dc_next, axis=0))
    return order.unsort(dx, axis=1), d_state0, dparams
