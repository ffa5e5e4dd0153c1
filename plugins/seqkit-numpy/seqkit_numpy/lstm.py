"""The LSTM cell: forward over time and backpropagation through time.

Notation (PyTorch's gate names and order i, f, g, o, for one example; the
code works on a batch). The lecture's Gamma_u, Gamma_f, c~, Gamma_o are i, f, g, o:

    [i, f, g, o]<t> = W_ih x<t> + W_hh a<t-1> + b_ih + b_hh        (pre-activations)
    i, f, o = sigmoid(.),  g = tanh(.)
    c<t> = f * c<t-1> + i * g
    a<t> = o * tanh(c<t>)

BPTT, with da = da<t> + da_next and tc = tanh(c<t>):

    dc     = dc_next + da * o * (1 - tc**2)
    di_pre = dc * g * i * (1 - i)          df_pre = dc * c<t-1> * f * (1 - f)
    dg_pre = dc * i * (1 - g**2)           do_pre = da * tc * o * (1 - o)
    dc_next = dc * f                       (what flows on to c<t-1>)
    da_next = W_hh^T [di_pre, df_pre, dg_pre, do_pre]

Both biases get the same gradient, the sum of the pre-activation gradients.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from seqkit.kernels import LengthOrder, initial_gradient, input_projection, read_only, weight_gradients
from seqkit.threads import gemm

from ._common import transposed


class LSTMCache(NamedTuple):
    """What backward needs. Batch axes are in ``order``'s sorted order."""

    x: np.ndarray        # (T, B, n_x) the inputs
    a_all: np.ndarray    # (T+1, B, n_a) a_all[0] = a<0>, a_all[t+1] = a<t> (0 when padded)
    c_all: np.ndarray    # (T+1, B, n_a) the same for the cell state c
    gates: np.ndarray    # (T, B, 4*n_a) the activations g, i, f, o (this order!)
    tanh_c: np.ndarray   # (T, B, n_a) tanh(c<t>)
    params: dict
    order: LengthOrder


# the local derivatives of this many bytes of steps are formed at once (an L2
# cache's worth, roughly: 64 KiB and 1 MiB were both slower; see lstm_backward)
_CHUNK_BYTES = 256 * 1024


def _gate_order(n_a):
    """Row order [g, i, f, o] of PyTorch's [i, f, g, o]: the three sigmoid gates
    become one block for the forward, and the three gates that backward
    scales by dc (g, i, f) another. Row j of the reordered W is row order[j]."""
    return np.r_[2 * n_a:3 * n_a, 0:2 * n_a, 3 * n_a:4 * n_a]


def lstm_forward(params, x, lengths, state0):
    """Run the LSTM over T steps.

    x : (T, B, n_x) float32/float64; state0 : ``(a0, c0)``, each (B, n_a).
    Returns ``a`` (T, B, n_a, read-only, zeros at padded steps), ``(a_n, c_n)``
    and the cache. Every array keeps x's dtype.
    """
    T, B, _ = x.shape
    W_ih, W_hh = params["W_ih"], params["W_hh"]
    n_a = W_hh.shape[1]
    H, H2, H3 = n_a, 2 * n_a, 3 * n_a
    order = LengthOrder(lengths, T)

    # sigmoid(v) = 0.5 * tanh(v / 2) + 0.5, so with the sigmoid rows pre-scaled
    # by 1/2 one tanh call serves all four gates. Reordering the rows copies
    # the weights anyway, so the scaling is free.
    order_g = _gate_order(n_a)
    W_hh_s, W_ih_s = W_hh[order_g], W_ih[order_g]
    b = (params["b_ih"] + params["b_hh"])[order_g]
    for M in (W_hh_s[H:], W_ih_s[H:], b[H:]):
        M *= 0.5
    W_hh_T = transposed(W_hh_s)
    x, xW = input_projection(x, W_ih_s, b, order)

    # zeros only where some step is padded: otherwise every entry gets written,
    # and np.zeros on these sizes costs a full extra pass over memory
    new = np.empty if order.n_active[-1] == B else np.zeros
    a_all, c_all = new((T + 1, B, n_a), dtype=x.dtype), new((T + 1, B, n_a), dtype=x.dtype)
    a_all[0] = order.sort(state0[0], axis=0)
    c_all[0] = order.sort(state0[1], axis=0)
    gates = new((T, B, 4 * n_a), dtype=x.dtype)
    tanh_c = new((T, B, n_a), dtype=x.dtype)
    ig_buf = np.empty((B, n_a), dtype=x.dtype)
    with gemm(B, 4 * n_a, n_a):  # the per-step GEMM's threads (seqkit.threads)
        for t, n in enumerate(order.n_active):
            G = gates[t, :n]
            np.matmul(a_all[t, :n], W_hh_T, out=G)
            G += xW[t, :n]
            np.tanh(G, out=G)
            ifo = G[:, H:]
            ifo *= 0.5
            ifo += 0.5
            g, i, f, o = G[:, :H], G[:, H:H2], G[:, H2:H3], G[:, H3:]
            c_next, ig = c_all[t + 1, :n], ig_buf[:n]
            np.multiply(f, c_all[t, :n], out=c_next)
            np.multiply(i, g, out=ig)
            c_next += ig
            tc = tanh_c[t, :n]
            np.tanh(c_next, out=tc)
            np.multiply(o, tc, out=a_all[t + 1, :n])

    a = read_only(order.unsort(a_all[1:], axis=1))
    cache = LSTMCache(x, a_all, c_all, gates, tanh_c, params, order)
    return a, (order.last(a_all), order.last(c_all)), cache


def _local_derivatives(gates, c_prev, tanh_c, F, P):
    """The factors that turn dc (blocks g, i, f) or da (block o) into the
    pre-activation gradients, F (k, B, 4, n_a), and P (k, B, n_a), which
    carries da from a<t> into c<t>, for k steps at once (see the notation)."""
    H = tanh_c.shape[-1]
    G4 = gates.reshape(*gates.shape[:2], 4, H)
    g, i, o = G4[:, :, 0], G4[:, :, 1], G4[:, :, 3]
    F4 = F.reshape(G4.shape)
    np.subtract(1, gates[..., H:], out=F[..., H:])
    F[..., H:] *= gates[..., H:]            # sigmoid' = s (1 - s) for i, f, o
    np.multiply(g, g, out=F4[:, :, 0])
    np.subtract(1, F4[:, :, 0], out=F4[:, :, 0])
    F4[:, :, 0] *= i                        # dg_pre = dc * i * tanh'
    F4[:, :, 1] *= g                        # di_pre = dc * g * sigmoid'
    F4[:, :, 2] *= c_prev                   # df_pre = dc * c<t-1> * sigmoid'
    F4[:, :, 3] *= tanh_c                   # do_pre = da * tanh(c) * sigmoid'
    np.multiply(tanh_c, tanh_c, out=P)
    np.subtract(1, P, out=P)
    P *= o
    return F4, P


def lstm_backward(cache: LSTMCache, da, d_state_n):
    """Backpropagation through time for ``lstm_forward``.

    da : (T, B, n_a) gradient w.r.t. ``a`` (padded steps ignored);
    d_state_n : ``(da_n, dc_n)``, each (B, n_a) or None.
    Returns dx (T, B, n_x), ``(da0, dc0)`` and dparams (W_ih, W_hh, b_ih,
    b_hh), all in the forward's dtype.
    """
    x, a_all, c_all, gates, tanh_c, params, order = cache
    T, B, _ = x.shape
    n_a = a_all.shape[2]
    H = n_a
    order_g = _gate_order(n_a)
    W_ih, W_hh = params["W_ih"][order_g], params["W_hh"][order_g]   # the forward's gate order

    # 1. the local derivatives are formed a chunk of K steps at a time, just
    #    before the sweep reaches them: small arrays make one chunk of all T
    #    steps (ufunc calls per step, ~1.4 us each, would dominate), big ones
    #    chunks of a few steps that are still in cache when the sweep reads
    #    them (a pass over all steps at once runs at memory speed, ~25% of
    #    backward at B 64, T 100, H 256).
    K = max(1, min(T, _CHUNK_BYTES // (B * 4 * n_a * x.itemsize)))
    F_buf = np.empty((K, B, 4 * n_a), dtype=x.dtype)
    P_buf = np.empty((K, B, n_a), dtype=x.dtype)

    # 2. the sweep; D holds the pre-activation gradients [g, i, f, o] of each
    #    step, in the reordered W's row order. Padded rows stay 0 (np.empty
    #    when there are none: np.zeros costs a pass over D).
    da = order.sort(da, axis=1)
    da_next = initial_gradient(d_state_n[0], a_all[0], order)
    dc_next = initial_gradient(d_state_n[1], c_all[0], order)
    D = (np.empty if order.n_active[-1] == B else np.zeros)((T, B, 4 * n_a), dtype=x.dtype)
    D4 = D.reshape(T, B, 4, n_a)
    da_buf = np.empty((B, n_a), dtype=x.dtype)
    tmp_buf = np.empty((B, n_a), dtype=x.dtype)
    with gemm(B, 4 * n_a, n_a):
        for t1 in range(T, 0, -K):
            t0 = max(t1 - K, 0)
            F4, P = _local_derivatives(gates[t0:t1], c_all[t0:t1], tanh_c[t0:t1],
                                       F_buf[:t1 - t0], P_buf[:t1 - t0])
            for t in range(t1 - 1, t0 - 1, -1):
                n, k = order.n_active[t], t - t0
                da_t, dc, tmp = da_buf[:n], dc_next[:n], tmp_buf[:n]
                np.add(da[t, :n], da_next[:n], out=da_t)
                np.multiply(da_t, P[k, :n], out=tmp)
                dc += tmp                           # dc is now dL/dc<t>
                # g, i, f are adjacent blocks, all scaled by dc: one broadcast multiply
                np.multiply(dc[:, None, :], F4[k, :n, :3], out=D4[t, :n, :3])
                np.multiply(da_t, F4[k, :n, 3], out=D4[t, :n, 3])
                dc *= gates[t, :n, 2 * H:3 * H]     # f
                np.matmul(D[t, :n], W_hh, out=da_next[:n])

    # 3. weights and inputs, one GEMM each over all steps, rows put back in
    #    PyTorch's gate order
    dW_ih_g, dW_hh_g, db_g, dx = weight_gradients(D, x, a_all[:-1], W_ih)
    dW_ih, dW_hh, db = np.empty_like(dW_ih_g), np.empty_like(dW_hh_g), np.empty_like(db_g)
    dW_ih[order_g], dW_hh[order_g], db[order_g] = dW_ih_g, dW_hh_g, db_g
    dparams = {"W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db, "b_hh": db.copy()}
    d_state0 = (order.unsort(da_next, axis=0), order.unsort(dc_next, axis=0))
    return order.unsort(dx, axis=1), d_state0, dparams
