"""The minimal gated unit (MGU, Zhou et al. 2016): forward over time and BPTT.

Notation (PyTorch's layout, for one example; the code works on a batch).
W_ih, W_hh, b_ih, b_hh hold one block per gate in the order f, n:

    f<t> = sigmoid(W_if x<t> + b_if + W_hf a<t-1> + b_hf)            forget gate, the only one
    n<t> = tanh(W_in x<t> + b_in + W_hn (f<t> * a<t-1>) + b_hn)      candidate, the lecture's c~<t>
    a<t> = (1 - f<t>) * a<t-1> + f<t> * n<t>                          = a_prev + f * (n - a_prev)

f plays the GRU's reset gate r (inside the candidate) and its update gate
Gamma_u (in the mix) at once. Both biases b_hh sit outside any product, so
b_ih + b_hh folds into the input projection of all steps (one GEMM before the
loop). BPTT, with da = da<t> + da_next and fa = f * a_prev:

    dn_pre  = da * f * (1 - n**2)                 gradient at tanh's input
    dfa     = W_hn^T dn_pre                        gradient at f * a_prev
    df_pre  = (da * (n - a_prev) + dfa * a_prev) * f * (1 - f)
    da_next = da * (1 - f) + dfa * f + W_hf^T df_pre      (what flows on to a<t-1>)

W_ih's gradient sees [df_pre, dn_pre] against x<t>; W_hh's f block sees
df_pre against a_prev but its n block sees dn_pre against fa (not a_prev):

    dW_ih = sum_t [df_pre; dn_pre] x<t>^T
    dW_hf = sum_t df_pre a_prev^T,   dW_hn = sum_t dn_pre fa^T
    db_ih = db_hh = sum_t [df_pre; dn_pre]

These sums are GEMMs over all steps after the sweep.

Ragged batches (``seqkit.kernels.LengthOrder``): the batch is sorted by
decreasing length, step t works on the prefix of rows still running, so a
finished example carries its state through the padded steps, outputs zeros
there and receives no gradient from them.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from seqkit.kernels import LengthOrder, initial_gradient, input_projection, kernel_params, read_only


class MGUCache(NamedTuple):
    """What backward needs. Batch axes are in ``order``'s sorted order."""

    x: np.ndarray        # (T, B, n_x) the inputs
    a_all: np.ndarray    # (T+1, B, n_a) a_all[0] = a<0>, a_all[t+1] = a<t> (0 when padded)
    gates: np.ndarray    # (T, B, 2*n_a) the activations f<t>, n<t> (0 when padded)
    fa: np.ndarray       # (T, B, n_a) f<t> * a<t-1>, what W_hn multiplies
    W: tuple             # (W_ih, W_hh) in x's dtype
    order: LengthOrder


def _sigmoid_(v):
    """sigmoid(v) in place, as 0.5 * tanh(v / 2) + 0.5 (no overflow for large |v|)."""
    v *= 0.5
    np.tanh(v, out=v)
    v *= 0.5
    v += 0.5


def mgu_forward(params, x, lengths, state0):
    """Run the MGU over T steps.

    x : (T, B, n_x) float32/float64; state0 : ``(a0,)`` with a0 (B, n_a).
    Returns ``a`` (T, B, n_a, read-only, zeros at padded steps), ``(a_n,)``
    (each example's state after its last valid step) and the cache. Every
    array keeps x's dtype.
    """
    T, B, _ = x.shape
    W_ih, W_hh, b_ih, b_hh = kernel_params(params, x.dtype)
    n_a = W_hh.shape[1]
    H = n_a
    order = LengthOrder(lengths, T)

    # W_i x<t> + b_i + b_h for every step and both gates: one GEMM
    x, xW = input_projection(x, W_ih, b_ih + b_hh, order)

    a_all = np.zeros((T + 1, B, n_a), dtype=x.dtype)
    a_all[0] = order.sort(np.asarray(state0[0]), axis=0)
    gates = np.zeros((T, B, 2 * n_a), dtype=x.dtype)
    fa_all = np.zeros((T, B, n_a), dtype=x.dtype)
    W_hf_T = np.ascontiguousarray(W_hh[:H].T)
    W_hn_T = np.ascontiguousarray(W_hh[H:].T)
    buf = np.empty((B, n_a), dtype=x.dtype)
    for t, n in enumerate(order.n_active):
        a_prev, a_next = a_all[t, :n], a_all[t + 1, :n]
        f, c = gates[t, :n, :H], gates[t, :n, H:]
        np.matmul(a_prev, W_hf_T, out=f)
        f += xW[t, :n, :H]
        _sigmoid_(f)
        fa = fa_all[t, :n]
        np.multiply(f, a_prev, out=fa)
        np.matmul(fa, W_hn_T, out=c)
        c += xW[t, :n, H:]
        np.tanh(c, out=c)
        # a<t> = a_prev + f * (n - a_prev)
        d = buf[:n]
        np.subtract(c, a_prev, out=d)
        d *= f
        np.add(a_prev, d, out=a_next)

    a = read_only(order.unsort(a_all[1:], axis=1))
    cache = MGUCache(x, a_all, gates, fa_all, (W_ih, W_hh), order)
    return a, (order.last(a_all),), cache


def mgu_backward(cache: MGUCache, da, d_state_n):
    """Backpropagation through time for ``mgu_forward``.

    da : (T, B, n_a) gradient w.r.t. ``a`` (padded steps ignored);
    d_state_n : ``(da_n,)``, da_n (B, n_a) or None.
    Returns dx (T, B, n_x), ``(da0,)`` and dparams (W_ih, W_hh, b_ih, b_hh),
    all in the forward's dtype.
    """
    x, a_all, gates, fa_all, (W_ih, W_hh), order = cache
    T, B, n_x = x.shape
    n_a = a_all.shape[2]
    H = n_a
    dtype = x.dtype
    W_hf, W_hn = W_hh[:H], W_hh[H:]
    f_all, c_all = gates[..., :H], gates[..., H:]
    a_prev_all = a_all[:-1]

    # local derivatives of every step at once (padded rows: f = n = 0, so 0)
    F_n = f_all * (1 - c_all * c_all)          # d a / d n_pre
    F_f = np.subtract(c_all, a_prev_all)       # d a / d f, direct path
    S_f = f_all * (1 - f_all)                  # sigmoid'
    one_minus_f = 1 - f_all

    # the sweep. D holds [df_pre, dn_pre] per step; padded rows stay 0
    da = order.sort(np.asarray(da, dtype=dtype), axis=1)
    da_next = initial_gradient(d_state_n[0], a_all[0], order)
    D = np.zeros((T, B, 2 * n_a), dtype=dtype)
    g_buf = np.empty((B, n_a), dtype=dtype)
    dfa_buf = np.empty((B, n_a), dtype=dtype)
    tmp_buf = np.empty((B, n_a), dtype=dtype)
    for t in range(T - 1, -1, -1):
        n = order.n_active[t]
        df_pre, dn_pre = D[t, :n, :H], D[t, :n, H:]
        g, dfa, tmp = g_buf[:n], dfa_buf[:n], tmp_buf[:n]
        a_prev, f = a_prev_all[t, :n], f_all[t, :n]
        np.add(da[t, :n], da_next[:n], out=g)
        np.multiply(g, F_n[t, :n], out=dn_pre)
        np.matmul(dn_pre, W_hn, out=dfa)
        # df_pre = (g * (n - a_prev) + dfa * a_prev) * f * (1 - f)
        np.multiply(g, F_f[t, :n], out=df_pre)
        np.multiply(dfa, a_prev, out=tmp)
        df_pre += tmp
        df_pre *= S_f[t, :n]
        # da_next = g * (1 - f) + dfa * f + W_hf^T df_pre
        np.matmul(df_pre, W_hf, out=da_next[:n])
        g *= one_minus_f[t, :n]
        da_next[:n] += g
        dfa *= f
        da_next[:n] += dfa

    # weights and inputs: one GEMM each over all steps
    D2 = D.reshape(T * B, 2 * n_a)
    dW_ih = D2.T @ x.reshape(T * B, n_x)
    dW_hh = np.empty_like(W_hh)
    np.matmul(D2[:, :H].T, a_prev_all.reshape(T * B, n_a), out=dW_hh[:H])
    np.matmul(D2[:, H:].T, fa_all.reshape(T * B, n_a), out=dW_hh[H:])
    db = D2.sum(axis=0)
    dx = (D2 @ W_ih).reshape(T, B, n_x)
    dparams = {"W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db, "b_hh": db.copy()}
    return order.unsort(dx, axis=1), (order.unsort(da_next, axis=0),), dparams
