"""The GRU cell on the GPU. The formulas, gate order (r, z, n) and notation are
``seqkit_numpy.gru``'s (the spec); a<t> = n + z * (a<t-1> - n).

Per step and direction: one cuBLAS GEMM (W_hh a<t-1>) and one fused kernel for
all the gate arithmetic; backward one fused kernel and one GEMM (W_hh^T
[dr, dz, dhn]). Backward keeps da_next as two parts, ``rec`` = W_hh^T [dr, dz,
dhn] (written by the GEMM) and ``zg`` = z * da (written by the kernel), which
the next step's kernel adds: so there is no separate add after the GEMM.
"""
from __future__ import annotations

from typing import NamedTuple

import cupy as cp

from seqkit.kernels import LengthOrder, initial_gradient, input_projection, kernel_params

from ._common import PREAMBLE

# Over the (n, n_a) elements of step t. xw: W_ih x<t> + b_ih (+ b_hr, b_hz
# folded in), gh: W_hh a<t-1> (no bias), both raw (n, 3 n_a); gates raw (n, 3 n_a).
_forward = cp.ElementwiseKernel(
    "raw T xw, raw T gh, raw T b_hn, T a_prev",
    "raw T gates, T hn, T a_next",
    """
    const ptrdiff_t H = b_hn.size(), j = sk_gate0(i, H, 3);   // j: gate r of element i
    const T r = sk_sigmoid(xw[j] + gh[j]);
    const T z = sk_sigmoid(xw[j + H] + gh[j + H]);
    const T h = gh[j + 2 * H] + b_hn[i % H];        // W_hn a_prev + b_hn: r scales the bias too
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
    const ptrdiff_t H = gates.shape()[1] / 3, j = sk_gate0(i, H, 3);
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
    "seqkit_gru_backward", preamble=PREAMBLE)


class GRUCache(NamedTuple):
    """What backward needs. Batch axes are in ``order``'s sorted order."""

    x: cp.ndarray        # (T, B, n_x) the inputs
    a_all: cp.ndarray    # (T+1, B, n_a) a_all[0] = a<0>, a_all[t+1] = a<t> (0 when padded)
    gates: cp.ndarray    # (T, B, 3*n_a) the activations r<t>, z<t>, n<t>
    hn: cp.ndarray       # (T, B, n_a) W_hn a<t-1> + b_hn
    params: tuple        # W_ih, W_hh, b_ih, b_hh in x's dtype
    order: LengthOrder


def gru_forward(params, x, lengths, state0):
    """``seqkit_numpy.gru.gru_forward`` on device arrays (the kernel contract)."""
    x = cp.asarray(x)
    T, B, _ = x.shape
    W_ih, W_hh, b_ih, b_hh = kernel_params(params, x.dtype, cp)
    n_a = W_hh.shape[1]
    H2 = 2 * n_a
    order = LengthOrder(lengths, T, cp)

    # b_hr and b_hz fold into the input projection, b_hn cannot (r multiplies it)
    bias = b_ih.copy()
    bias[:H2] += b_hh[:H2]
    x, xW = input_projection(x, W_ih, bias, order)
    b_hn = cp.ascontiguousarray(b_hh[H2:])

    a_all = cp.zeros((T + 1, B, n_a), dtype=x.dtype)
    a_all[0] = order.sort(cp.asarray(state0[0], dtype=x.dtype), axis=0)
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

    cache = GRUCache(x, a_all, gates, hn_all, (W_ih, W_hh, b_ih, b_hh), order)
    return order.unsort(a_all[1:], axis=1), (order.last(a_all),), cache


def gru_backward(cache: GRUCache, da, d_state_n):
    """``seqkit_numpy.gru.gru_backward`` on device arrays (the kernel contract)."""
    x, a_all, gates, hn_all, (W_ih, W_hh, _, _), order = cache
    T, B, n_x = x.shape
    n_a = a_all.shape[2]
    H2, H3 = 2 * n_a, 3 * n_a

    # D_h holds [dr_pre, dz_pre, dhn] per step, W_hh's row order, so the
    # recurrent GEMM reads a contiguous block; D_n holds dn_pre. Padded rows
    # stay 0. zg starts as d_state_n (rec 0): a row's first step in this
    # sweep, its last valid step, then sees exactly d_state_n.
    da = order.sort(cp.asarray(da, dtype=x.dtype), axis=1)
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

    # W_hh sees [dr, dz, dhn], W_ih [dr, dz | dn]: r scales W_hn a_prev + b_hn
    # but not W_in x + b_in. One GEMM per gate group over all steps.
    Dh2, Dn2 = D_h.reshape(T * B, H3), D_n.reshape(T * B, n_a)
    D_rz, x2 = Dh2[:, :H2], x.reshape(T * B, n_x)
    dx = D_rz @ W_ih[:H2]
    dx += Dn2 @ W_ih[H2:]
    sum_h = Dh2.sum(axis=0)
    dparams = {
        "W_ih": cp.concatenate([D_rz.T @ x2, Dn2.T @ x2]),
        "W_hh": Dh2.T @ a_all[:-1].reshape(T * B, n_a),
        "b_ih": cp.concatenate([sum_h[:H2], Dn2.sum(axis=0)]),
        "b_hh": sum_h,
    }
    return order.unsort(dx.reshape(T, B, n_x), axis=1), (order.unsort(da0, axis=0),), dparams
