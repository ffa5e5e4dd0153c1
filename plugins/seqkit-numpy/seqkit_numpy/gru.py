"""The GRU cell: forward over time and backpropagation through time.

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
not W_in x + b_in.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from seqkit.kernels import LengthOrder, by_direction, initial_gradient, input_projection, pairs_of, read_only
from seqkit.threads import gemm

from ._common import sweep_array, transposed


class GRUCache(NamedTuple):
    """What backward needs. Batch axes are in ``order``'s sorted order."""

    x: np.ndarray        # (T, B, n_x) the inputs
    a_all: np.ndarray    # (T+1, B, n_a) a_all[0] = a<0>, a_all[t+1] = a<t> (0 when padded)
    gates: np.ndarray    # (T, B, 3*n_a) the activations r<t>, z<t>, n<t>
    hn: np.ndarray       # (T, B, n_a) W_hn a<t-1> + b_hn
    params: dict
    order: LengthOrder


def gru_forward(params, x, lengths, state0):
    """Run the GRU over T steps.

    x : (T, B, n_x) float32/float64; state0 : ``(a0,)`` with a0 (B, n_a).
    Returns ``a`` (T, B, n_a, read-only, zeros at padded steps), ``(a_n,)``
    and the cache. Every array keeps x's dtype. With parameters stacked (n_dir, ...),
    row b of the batch is direction b % n_dir's (``seqkit.layers.pairs``).
    """
    T, B, _ = x.shape
    W_ih, W_hh, b_ih, b_hh = params["W_ih"], params["W_hh"], params["b_ih"], params["b_hh"]
    n_a, n_dir = W_hh.shape[-1], pairs_of(W_hh)
    H2 = 2 * n_a
    order = LengthOrder(lengths, T)

    # sigmoid(v) = 1 / (1 + exp(-v)), with the r and z rows negated so that the
    # GEMMs hand over -v: np.exp costs ~40 % less than np.tanh (the LSTM kernel's
    # measurement), and exp(-v) = inf for v < -88 (float32) gives the right 0.
    W_ih_s = W_ih.copy()
    W_ih_s[..., :H2, :] *= -1
    # input projections of all steps in one GEMM; b_hr and b_hz fold in here,
    # b_hn cannot (r multiplies it)
    bias = b_ih.copy()
    bias[..., :H2] += b_hh[..., :H2]
    bias[..., :H2] *= -1
    x, xW = input_projection(x, W_ih_s, bias, order)
    # b_hn of each row's direction (rows alternate directions when paired); unpaired,
    # one row that broadcasts (b_hn[:n] leaves it as it is), as before pairing
    b_hn = b_hh[None, H2:] if n_dir == 1 else np.tile(b_hh[:, H2:], (B // n_dir, 1))

    a_all = sweep_array(order, (T + 1, B, n_a), x.dtype)
    a_all[0] = order.sort(state0[0], axis=0)
    gates = sweep_array(order, (T, B, 3 * n_a), x.dtype)
    hn_all = sweep_array(order, (T, B, n_a), x.dtype)
    gh_buf = np.empty((B, 3 * n_a), dtype=x.dtype)
    # r and z are formed in a contiguous buffer and copied into the cache once:
    # ufuncs on a block of a row (a strided view) cost up to twice as much an element
    rz_buf = np.empty((B, H2), dtype=x.dtype)
    W_hh_T = transposed(W_hh) if n_dir == 1 else np.stack([transposed(W) for W in W_hh])
    W_hh_T[..., :H2] *= -1
    a_dir = a_all.reshape(T + 1, B // n_dir, n_dir, n_a).swapaxes(1, 2)   # rows by direction
    gh_dir = by_direction(gh_buf, n_dir)
    with gemm(B // n_dir, 3 * n_a, n_a), np.errstate(over="ignore"):  # the per-step GEMM's threads
        for t, n in enumerate(order.n_active):
            a_prev, a_next = a_all[t, :n], a_all[t + 1, :n]
            gh = gh_buf[:n]
            if n_dir == 1:
                np.matmul(a_prev, W_hh_T, out=gh)
            else:
                np.matmul(a_dir[t, :, :n // n_dir], W_hh_T, out=gh_dir[:, :n // n_dir])
            rz = rz_buf[:n]
            np.add(xW[t, :n, :H2], gh[:, :H2], out=rz)     # -v
            np.exp(rz, out=rz)
            rz += 1
            np.reciprocal(rz, out=rz)
            gates[t, :n, :H2] = rz
            r, z = rz[:, :n_a], rz[:, n_a:]
            hn = hn_all[t, :n]
            np.add(gh[:, H2:], b_hn[:n], out=hn)
            c = gates[t, :n, H2:]
            np.multiply(r, hn, out=c)
            c += xW[t, :n, H2:]
            np.tanh(c, out=c)
            # a<t> = n + z * (a_prev - n): one multiply fewer than the textbook form
            np.subtract(a_prev, c, out=a_next)
            a_next *= z
            a_next += c

    a = read_only(order.unsort(a_all[1:], axis=1))
    cache = GRUCache(x, a_all, gates, hn_all, params, order)
    return a, (order.last(a_all),), cache


def gru_backward(cache: GRUCache, da, d_state_n):
    """Backpropagation through time for ``gru_forward``.

    da : (T, B, n_a) gradient w.r.t. ``a`` (padded steps ignored);
    d_state_n : ``(da_n,)``, da_n (B, n_a) or None.
    Returns dx (T, B, n_x), ``(da0,)`` and dparams (W_ih, W_hh, b_ih, b_hh),
    all in the forward's dtype.
    """
    x, a_all, gates, hn_all, params, order = cache
    T, B, n_x = x.shape
    n_a = a_all.shape[2]
    H, H2, H3 = n_a, 2 * n_a, 3 * n_a
    W_ih, W_hh = params["W_ih"], params["W_hh"]
    n_dir = pairs_of(W_hh)
    r, z, c = gates[..., :H], gates[..., H:H2], gates[..., H2:]

    # 1. the local derivatives of every step at once (fewer, larger ufunc calls)
    #    (in place where it can be: each fresh (T, B, n_a) array costs page faults)
    one_minus_z = np.subtract(1, z)
    F_n = np.multiply(c, c)
    np.subtract(1, F_n, out=F_n)            # tanh'                ...
    F_n *= one_minus_z                      # ... times d a / d n = 1 - z
    F_z = np.subtract(a_all[:-1], c)        # d a / d z            ...
    F_z *= z
    F_z *= one_minus_z                      # ... times sigmoid' = z (1 - z)
    F_r = np.subtract(1, r)
    F_r *= hn_all                           # dr_pre = dhn * F_r

    # 2. the sweep. D holds [dr_pre, dz_pre, dhn, dn_pre] per step: its first
    #    three blocks are what W_hh sees, in W_hh's row order, so the recurrent
    #    GEMM reads them without a copy. Padded rows stay 0.
    da = order.sort(da, axis=1)
    da_next = initial_gradient(d_state_n[0], a_all[0], order)
    D = sweep_array(order, (T, B, 4 * n_a), x.dtype)
    g_buf = np.empty((B, n_a), dtype=x.dtype)
    D_dir = D.reshape(T, B // n_dir, n_dir, 4 * n_a).swapaxes(1, 2)
    da_dir = by_direction(da_next, n_dir)
    with gemm(B // n_dir, 3 * n_a, n_a):
        for t in range(T - 1, -1, -1):
            n = order.n_active[t]
            d = D[t, :n]
            dr_pre, dz_pre, dhn, dn_pre = d[:, :H], d[:, H:H2], d[:, H2:H3], d[:, H3:]
            g = g_buf[:n]
            np.add(da[t, :n], da_next[:n], out=g)
            np.multiply(g, F_n[t, :n], out=dn_pre)
            np.multiply(g, F_z[t, :n], out=dz_pre)
            np.multiply(dn_pre, r[t, :n], out=dhn)
            np.multiply(dhn, F_r[t, :n], out=dr_pre)
            if n_dir == 1:
                np.matmul(d[:, :H3], W_hh, out=da_next[:n])
            else:
                np.matmul(D_dir[t, :, :n // n_dir, :H3], W_hh, out=da_dir[:, :n // n_dir])
            g *= z[t, :n]
            da_next[:n] += g

    # 3. weights and inputs, one GEMM per gate group over all steps; the rows by
    #    direction, (n_dir, T B / n_dir, ...), so paired directions get their own
    Dq = by_direction(D.reshape(T * B, 4 * n_a), n_dir)
    D_rz, D_n = Dq[..., :H2], Dq[..., H3:]  # the x-side gradients [dr, dz | dn]
    xq = by_direction(x.reshape(T * B, n_x), n_dir)
    W = W_ih.reshape(n_dir, H3, n_x)
    dW_ih = np.empty_like(W)
    dx = np.empty((T * B, n_x), dtype=x.dtype)
    with gemm(H3, n_x + n_a, T * B // n_dir):
        np.matmul(D_rz.swapaxes(1, 2), xq, out=dW_ih[:, :H2])
        np.matmul(D_n.swapaxes(1, 2), xq, out=dW_ih[:, H2:])
        dW_hh = np.matmul(Dq[..., :H3].swapaxes(1, 2), by_direction(a_all[:-1].reshape(T * B, n_a), n_dir))
        dxq = by_direction(dx, n_dir)
        np.matmul(D_rz, W[:, :H2], out=dxq)
        dxq += D_n @ W[:, H2:]
    D_sum = Dq.sum(axis=1)
    dparams = {
        "W_ih": dW_ih,
        "W_hh": dW_hh,
        "b_ih": np.concatenate([D_sum[:, :H2], D_sum[:, H3:]], axis=1),
        "b_hh": D_sum[:, :H3].copy(),
    }
    if n_dir == 1:
        dparams = {k: g[0] for k, g in dparams.items()}
    dx = dx.reshape(T, B, n_x)
    return order.unsort(dx, axis=1), (order.unsort(da_next, axis=0),), dparams
