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

from seqkit.kernels import (
    LengthOrder,
    by_direction,
    initial_gradient,
    input_projection,
    pairs_of,
    read_only,
    weight_gradients,
)
from seqkit.threads import gemm

from ._common import sweep_array


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
    """Row order [g, i, f, o] of PyTorch's [i, f, g, o]: the forward's three
    sigmoid gates become one block (one ufunc call each). Row j of the
    reordered W is row order[j]. The backward needs no reordering: its
    gradients come out in PyTorch's order, where the three blocks scaled by
    dc (i, f, g) are adjacent too."""
    return np.r_[2 * n_a:3 * n_a, 0:2 * n_a, 3 * n_a:4 * n_a]


def lstm_forward(params, x, lengths, state0):
    """Run the LSTM over T steps.

    x : (T, B, n_x) float32/float64; state0 : ``(a0, c0)``, each (B, n_a).
    Returns ``a`` (T, B, n_a, read-only, zeros at padded steps), ``(a_n, c_n)``
    and the cache. Every array keeps x's dtype. With parameters stacked (n_dir, ...),
    row b of the batch is direction b % n_dir's (``seqkit.layers.pairs``).
    """
    T, B, _ = x.shape
    W_ih, W_hh = params["W_ih"], params["W_hh"]
    n_a, n_dir = W_hh.shape[-1], pairs_of(W_hh)
    H, H2, H3 = n_a, 2 * n_a, 3 * n_a
    order = LengthOrder(lengths, T)

    # sigmoid(v) = 1 / (1 + exp(-v)), with the sigmoid rows negated: np.exp costs
    # ~40 % less than np.tanh, more than the add and reciprocal it brings (the
    # forward ran 3-8 % faster than with sigmoid = tanh(v/2)/2 + 1/2). And
    # tanh(v) = 2 sigmoid(2v) - 1, so with g's rows times -2 one contiguous
    # sigmoid pass covers all four gates: ufuncs on a block of a row (a strided
    # view) cost up to twice as much an element (the forward ran 0.89-0.94 of
    # its time in an A/B). Reordering the rows copies the weights anyway, so the
    # scaling is free.
    order_g = _gate_order(n_a)
    W_hh_s, W_ih_s = W_hh[..., order_g, :], W_ih[..., order_g, :]
    b = (params["b_ih"] + params["b_hh"])[..., order_g]
    for M in (W_hh_s.swapaxes(-1, -2), W_ih_s.swapaxes(-1, -2), b):   # gates on the last axis
        M[..., :H] *= -2
        np.negative(M[..., H:], out=M[..., H:])
    # BLAS reads the transposed view about as fast as a contiguous copy, and
    # the copy (a transpose, ~3 ms at n_a 512) cost more than it saved
    W_hh_T = W_hh_s.swapaxes(-1, -2)
    x, xW = input_projection(x, W_ih_s, b, order)

    # the gates are formed in place in xW: the per-step GEMM writes a small
    # buffer that stays in cache, and no second (T, B, 4 n_a) array is made
    # (a fresh one costs page faults besides its pass; the forward ran 2-10 %
    # faster in an A/B)
    gates = xW
    a_all = sweep_array(order, (T + 1, B, n_a), x.dtype)
    c_all = sweep_array(order, (T + 1, B, n_a), x.dtype)
    a_all[0] = order.sort(state0[0], axis=0)
    c_all[0] = order.sort(state0[1], axis=0)
    tanh_c = sweep_array(order, (T, B, n_a), x.dtype)
    ig_buf = np.empty((B, n_a), dtype=x.dtype)
    aW_buf = np.empty((B, 4 * n_a), dtype=x.dtype)
    if n_dir > 1:  # the rows of every step by direction, as views made once (not per step)
        a_dir = a_all.reshape(T + 1, B // n_dir, n_dir, n_a).swapaxes(1, 2)
        aW_dir = by_direction(aW_buf, n_dir)
    # gemm: the per-step GEMM's threads (seqkit.threads). exp(-v) overflows to
    # inf for v < -88 (float32), and 1 / (1 + inf) = 0 is the right sigmoid.
    with gemm(B // n_dir, 4 * n_a, n_a), np.errstate(over="ignore"):
        for t, n in enumerate(order.n_active):
            if n < B:
                gates[t, n:] = 0    # padded rows: zeros, as a_all's and c_all's
            G, aW = gates[t, :n], aW_buf[:n]
            if n_dir == 1:
                np.matmul(a_all[t, :n], W_hh_T, out=aW)
            else:                   # every direction's rows against its own W_hh, one call
                np.matmul(a_dir[t, :, :n // n_dir], W_hh_T, out=aW_dir[:, :n // n_dir])
            G += aW
            np.exp(G, out=G)
            G += 1
            np.reciprocal(G, out=G)
            g = G[:, :H]
            g *= 2
            g -= 1
            i, f, o = G[:, H:H2], G[:, H2:H3], G[:, H3:]
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
    """The factors that turn dc (blocks i, f, g) or da (block o) into the
    pre-activation gradients, F (k, B, 4, n_a) in PyTorch's gate order (so
    that the gradients need no reordering), and P (k, B, n_a), which carries
    da from a<t> into c<t>, for k steps at once (see the notation).
    ``gates`` is in the forward's order g, i, f, o."""
    H = tanh_c.shape[-1]
    G4 = gates.reshape(*gates.shape[:2], 4, H)
    g, i, o = G4[:, :, 0], G4[:, :, 1], G4[:, :, 3]
    F4 = F.reshape(G4.shape)
    for s, ds in ((G4[:, :, 1:3], F4[:, :, 0:2]), (o, F4[:, :, 3])):
        np.subtract(1, s, out=ds)
        ds *= s                             # sigmoid' = s (1 - s) for i, f, o
    F4[:, :, 0] *= g                        # di_pre = dc * g * sigmoid'
    F4[:, :, 1] *= c_prev                   # df_pre = dc * c<t-1> * sigmoid'
    np.multiply(g, g, out=F4[:, :, 2])
    np.subtract(1, F4[:, :, 2], out=F4[:, :, 2])
    F4[:, :, 2] *= i                        # dg_pre = dc * i * tanh'
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
    W_ih, W_hh = params["W_ih"], params["W_hh"]
    n_dir = pairs_of(W_hh)

    # 1. the local derivatives are formed a chunk of K steps at a time, just
    #    before the sweep reaches them: small arrays make one chunk of all T
    #    steps (ufunc calls per step, ~1.4 us each, would dominate), big ones
    #    chunks of a few steps that are still in cache when the sweep reads
    #    them (a pass over all steps at once runs at memory speed, ~25% of
    #    backward at B 64, T 100, H 256).
    K = max(1, min(T, _CHUNK_BYTES // (B * 4 * n_a * x.itemsize)))
    F_buf = np.empty((K, B, 4 * n_a), dtype=x.dtype)
    P_buf = np.empty((K, B, n_a), dtype=x.dtype)

    # 2. the sweep; D holds the pre-activation gradients [i, f, g, o] of each
    #    step, in W's own row order. Padded rows stay 0.
    da = order.sort(da, axis=1)
    da_next = initial_gradient(d_state_n[0], a_all[0], order)
    dc_next = initial_gradient(d_state_n[1], c_all[0], order)
    D = sweep_array(order, (T, B, 4 * n_a), x.dtype)
    D4 = D.reshape(T, B, 4, n_a)
    if n_dir > 1:
        D_dir = D.reshape(T, B // n_dir, n_dir, 4 * n_a).swapaxes(1, 2)
        da_dir = by_direction(da_next, n_dir)
    da_buf = np.empty((B, n_a), dtype=x.dtype)
    tmp_buf = np.empty((B, n_a), dtype=x.dtype)
    with gemm(B // n_dir, 4 * n_a, n_a):
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
                # i, f, g are adjacent blocks, all scaled by dc: one broadcast multiply
                np.multiply(dc[:, None, :], F4[k, :n, :3], out=D4[t, :n, :3])
                np.multiply(da_t, F4[k, :n, 3], out=D4[t, :n, 3])
                dc *= gates[t, :n, 2 * H:3 * H]     # f (the forward's order g, i, f, o)
                if n_dir == 1:
                    np.matmul(D[t, :n], W_hh, out=da_next[:n])
                else:
                    np.matmul(D_dir[t, :, :n // n_dir], W_hh, out=da_dir[:, :n // n_dir])

    # 3. weights and inputs, one GEMM each over all steps
    dW_ih, dW_hh, db, dx = weight_gradients(D, x, a_all[:-1], W_ih)
    dparams = {"W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db, "b_hh": db.copy()}
    d_state0 = (order.unsort(da_next, axis=0), order.unsort(dc_next, axis=0))
    return order.unsort(dx, axis=1), d_state0, dparams
