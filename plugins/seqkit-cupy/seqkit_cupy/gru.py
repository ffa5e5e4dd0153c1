"""The GRU cell on the GPU: forward over time and backpropagation through time.

Notation (PyTorch's gate names, for one example; the code works on a batch).
W_ih, W_hh, b_ih, b_hh hold one block per gate in the order r, z, n:

    r<t> = sigmoid(W_ir x<t> + b_ir + W_hr a<t-1> + b_hr)        reset gate
    z<t> = sigmoid(W_iz x<t> + b_iz + W_hz a<t-1> + b_hz)        update gate
    hn<t> = W_hn a<t-1> + b_hn                                   kept for backward
    n<t> = tanh(W_in x<t> + b_in + r<t> * hn<t>)                 candidate, the lecture's c~<t>
    a<t> = (1 - z<t>) * n<t> + z<t> * a<t-1>                     = n + z * (a_prev - n)

(The lecture's update gate is Gamma_u = 1 - z.) BPTT, with da = da<t> + da_next:

    dn_pre = da * (1 - z) * (1 - n**2)           gradient at tanh's input
    dz_pre = da * (a_prev - n) * z * (1 - z)
    dhn    = dn_pre * r                          gradient at W_hn a_prev + b_hn
    dr_pre = dn_pre * hn * r * (1 - r) = dhn * hn * (1 - r)
    da_next = z * da + W_hh^T [dr_pre, dz_pre, dhn]

W_ih's gradient sees [dr_pre, dz_pre, dn_pre], W_hh's sees [dr_pre, dz_pre, dhn]:
they differ in the n block only, because r multiplies W_hn a_prev + b_hn but
not W_in x + b_in. The same formulas as ``seqkit_numpy.gru`` (the spec).

Per step and direction: one cuBLAS GEMM (W_hh a<t-1>) and one fused kernel
for all the gate arithmetic. Backward keeps da_next as two parts, ``rec`` =
W_hh^T [dr, dz, dhn] (written by the GEMM) and ``zg`` = z * da (written by
the kernel), which the next step's kernel adds: so there is no separate add
after the GEMM.
"""
from __future__ import annotations

from typing import NamedTuple

import cupy as cp

from ._common import PREAMBLE, LengthOrder, as_device, initial_gradient, kernel_params

# Over the (n, n_a) elements of step t. xw: W_ih x<t> + b_ih (+ b_hr, b_hz
# folded in), gh: W_hh a<t-1> (no bias), both raw (n, 3 n_a); gates raw (n, 3 n_a).
_forward = cp.ElementwiseKernel(
    "raw T xw, raw T gh, raw T b_hn, T a_prev",
    "raw T gates, T hn, T a_next",
    """
    const ptrdiff_t H = b_hn.size();
    const ptrdiff_t row = i / H, col = i - row * H;
    const ptrdiff_t j = row * 3 * H + col;          // gate r of this element
    const T r = sk_sigmoid(xw[j] + gh[j]);
    const T z = sk_sigmoid(xw[j + H] + gh[j + H]);
    const T h = gh[j + 2 * H] + b_hn[col];          // W_hn a_prev + b_hn: r scales the bias too
    const T c = tanh(xw[j + 2 * H] + r * h);        // n<t>
    gates[j] = r;
    gates[j + H] = z;
    gates[j + 2 * H] = c;
    hn = h;
    a_next = c + z * (a_prev - c);
    """,
    "seqkit_gru_forward", preamble=PREAMBLE)

# da_in: upstream da<t>; rec, zg: the two parts of da_next (see the docstring),
# zg overwritten in place with z * da for step t-1. dh raw (n, 3 n_a) gets
# [dr_pre, dz_pre, dhn] (W_hh's rows), dn gets dn_pre.
_backward = cp.ElementwiseKernel(
    "T da_in, T rec, raw T gates, T hn, T a_prev",
    "raw T dh, T dn, T zg",
    """
    const ptrdiff_t H = gates.shape()[1] / 3;
    const ptrdiff_t row = i / H, col = i - row * H;
    const ptrdiff_t j = row * 3 * H + col;
    const T da = da_in + rec + zg;                  // dL/da<t>
    const T r = gates[j], z = gates[j + H], c = gates[j + 2 * H];
    const T dn_pre = da * (T(1) - z) * (T(1) - c * c);
    const T dz_pre = da * (a_prev - c) * z * (T(1) - z);
    const T dhn = dn_pre * r;
    dh[j] = dhn * hn * (T(1) - r);                  // dr_pre
    dh[j + H] = dz_pre;
    dh[j + 2 * H] = dhn;
    dn = dn_pre;
    zg = z * da;
    """,
    "seqkit_gru_backward")


class GRUCache(NamedTuple):
    """What backward needs. Batch axes are in ``order``'s sorted order."""

    x: cp.ndarray        # (T, B, n_x) the inputs
    a_all: cp.ndarray    # (T+1, B, n_a) a_all[0] = a<0>, a_all[t+1] = a<t> (0 when padded)
    gates: cp.ndarray    # (T, B, 3*n_a) the activations r<t>, z<t>, n<t>
    hn: cp.ndarray       # (T, B, n_a) W_hn a<t-1> + b_hn
    params: tuple        # W_ih, W_hh, b_ih, b_hh in x's dtype
    order: LengthOrder


def gru_forward(params, x, lengths, state0):
    """Run the GRU over T steps.

    x : (T, B, n_x) float32/float64 device array; state0 : ``(a0,)``, a0 (B, n_a).
    Returns ``a`` (T, B, n_a, zeros at padded steps), ``(a_n,)`` and the
    cache. Every array keeps x's dtype.
    """
    x = cp.asarray(x)
    T, B, n_x = x.shape
    W_ih, W_hh, b_ih, b_hh = kernel_params(params, x.dtype)
    n_a = W_hh.shape[1]
    H2 = 2 * n_a
    order = LengthOrder(lengths, T)
    x = order.sort(x, axis=1)

    # input projections of all steps in one GEMM; b_hr and b_hz fold in here,
    # b_hn cannot (r multiplies it)
    bias = b_ih.copy()
    bias[:H2] += b_hh[:H2]
    xW = (x.reshape(T * B, n_x) @ W_ih.T).reshape(T, B, 3 * n_a)
    xW += bias
    b_hn = cp.ascontiguousarray(b_hh[H2:])

    a_all = cp.zeros((T + 1, B, n_a), dtype=x.dtype)
    a_all[0] = order.sort(as_device(state0[0], x.dtype), axis=0)
    gates = cp.zeros((T, B, 3 * n_a), dtype=x.dtype)
    hn_all = cp.zeros((T, B, n_a), dtype=x.dtype)
    gh_buf = cp.empty((B, 3 * n_a), dtype=x.dtype)
    W_hh_T = cp.ascontiguousarray(W_hh.T)   # once per call, not a copy per step
    for t, n in enumerate(order.n_active):
        if n == 0:        # every example has ended (max(lengths) < T)
            break
        gh = gh_buf[:n]
        cp.matmul(a_all[t, :n], W_hh_T, out=gh)
        _forward(xW[t, :n], gh, b_hn, a_all[t, :n], gates[t, :n], hn_all[t, :n], a_all[t + 1, :n])

    a = order.unsort(a_all[1:], axis=1)
    cache = GRUCache(x, a_all, gates, hn_all, (W_ih, W_hh, b_ih, b_hh), order)
    return a, (order.last(a_all),), cache


def gru_backward(cache: GRUCache, da, d_state_n):
    """Backpropagation through time for ``gru_forward``.

    da : (T, B, n_a) gradient w.r.t. ``a`` (padded steps ignored);
    d_state_n : ``(da_n,)``, da_n (B, n_a) or None.
    Returns dx (T, B, n_x), ``(da0,)`` and dparams (W_ih, W_hh, b_ih, b_hh),
    all in the forward's dtype.
    """
    x, a_all, gates, hn_all, (W_ih, W_hh, _, _), order = cache
    T, B, n_x = x.shape
    n_a = a_all.shape[2]
    H2, H3 = 2 * n_a, 3 * n_a

    # the sweep. D_h holds [dr_pre, dz_pre, dhn] per step, W_hh's row order,
    # so the recurrent GEMM reads a contiguous block; D_n holds dn_pre.
    # Padded rows stay 0. zg starts as d_state_n (rec 0): a row's first step
    # in this sweep, its last valid step, then sees exactly d_state_n.
    da = order.sort(as_device(da, x.dtype), axis=1)
    zg = initial_gradient(d_state_n[0], a_all[0], order)
    rec = cp.zeros_like(zg)
    D_h = cp.zeros((T, B, H3), dtype=x.dtype)
    D_n = cp.zeros((T, B, n_a), dtype=x.dtype)
    for t in range(T - 1, -1, -1):
        n = order.n_active[t]
        if n == 0:
            continue
        _backward(da[t, :n], rec[:n], gates[t, :n], hn_all[t, :n], a_all[t, :n],
                  D_h[t, :n], D_n[t, :n], zg[:n])
        cp.matmul(D_h[t, :n], W_hh, out=rec[:n])
    da0 = rec + zg     # every example is active at t = 0, so both parts are final

    # weights and inputs, one GEMM per gate group over all steps
    Dh2 = D_h.reshape(T * B, H3)
    Dn2 = D_n.reshape(T * B, n_a)
    D_rz = Dh2[:, :H2]                      # the x-side gradients [dr, dz | dn]
    x2 = x.reshape(T * B, n_x)
    dW_ih = cp.empty_like(W_ih)
    dW_ih[:H2] = D_rz.T @ x2
    dW_ih[H2:] = Dn2.T @ x2
    dW_hh = Dh2.T @ a_all[:-1].reshape(T * B, n_a)
    dx = D_rz @ W_ih[:H2]
    dx += Dn2 @ W_ih[H2:]
    sum_h, sum_n = Dh2.sum(axis=0), Dn2.sum(axis=0)
    dparams = {
        "W_ih": dW_ih,
        "W_hh": dW_hh,
        "b_ih": cp.concatenate([sum_h[:H2], sum_n]),
        "b_hh": sum_h,
    }
    dx = dx.reshape(T, B, n_x)
    return order.unsort(dx, axis=1), (order.unsort(da0, axis=0),), dparams
