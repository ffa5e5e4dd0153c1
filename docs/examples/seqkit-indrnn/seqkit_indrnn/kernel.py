"""The independently recurrent network (IndRNN, Li et al. 2018): forward over time and BPTT.

Notation (the lecture's, for one example; the code works on a batch):

    z<t> = W_ax x<t> + w_aa * a<t-1> + b_a        (* elementwise: each unit sees only itself)
    a<t> = g(z<t>)                                 g = relu (the paper's) or tanh

W_ax is ``W_ih`` (n_a, n_x) and b_a = b_ih + b_hh as for the vanilla cell. The
recurrent weight w_aa is a vector (n_a,): the kernel contract hands every cell a
square ``W_hh`` (n_a, n_a), so the IndRNN reads its diagonal and leaves the rest
alone (their gradient is zero: only weight decay moves them).

BPTT, with da_next the gradient reaching a<t> from step t+1:

    dz<t>    = (da<t> + da_next) * g'(z<t>)       relu' = [a<t> > 0], tanh' = 1 - a<t>**2
    da_next  = w_aa * dz<t>                        (what flows on to a<t-1>: no matrix product)
    dW_ax = sum_t dz<t> x<t>^T,   dw_aa = sum_t dz<t> * a<t-1>,   db_a = sum_t dz<t>

The input projection of all steps is one GEMM before the loop
(``seqkit.kernels.input_projection``); inside it only elementwise work remains,
on the rows of the examples still running (``seqkit.kernels.LengthOrder``), so
padded steps carry the state, output zeros and get no gradient.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from seqkit.kernels import LengthOrder, initial_gradient, input_projection, kernel_params, read_only


class IndRNNCache(NamedTuple):
    """What backward needs. Batch axes are in ``order``'s sorted order."""

    x: np.ndarray        # (T, B, n_x) the inputs
    a_all: np.ndarray    # (T+1, B, n_a) a_all[0] = a<0>, a_all[t+1] = a<t> (0 when padded)
    W_ih: np.ndarray     # (n_a, n_x) in x's dtype
    w: np.ndarray        # (n_a,) w_aa, the diagonal of W_hh
    order: LengthOrder
    nonlinearity: str


def indrnn_forward(params, x, lengths, state0, nonlinearity="relu"):
    """Run the IndRNN over T steps.

    x : (T, B, n_x) float32/float64; state0 : ``(a0,)`` with a0 (B, n_a).
    Returns ``a`` (T, B, n_a, read-only, zeros at padded steps), ``(a_n,)`` (each
    example's state after its last valid step) and the cache, all in x's dtype.
    """
    if nonlinearity not in ("relu", "tanh"):
        raise ValueError(f"nonlinearity must be 'relu' or 'tanh', got {nonlinearity!r}")
    T, B, _ = x.shape
    W_ih, W_hh, b_ih, b_hh = kernel_params(params, x.dtype)
    w = np.diagonal(W_hh).copy()
    order = LengthOrder(lengths, T)
    x, xW = input_projection(x, W_ih, b_ih + b_hh, order)   # W_ax x<t> + b_a, all steps

    a_all = np.zeros((T + 1, B, w.shape[0]), dtype=x.dtype)
    a_all[0] = order.sort(np.asarray(state0[0]), axis=0)
    for t, n in enumerate(order.n_active):                 # rows [:n] still run at step t
        z = a_all[t + 1, :n]
        np.multiply(a_all[t, :n], w, out=z)
        z += xW[t, :n]
        if nonlinearity == "relu":
            np.maximum(z, 0, out=z)
        else:
            np.tanh(z, out=z)

    a = read_only(order.unsort(a_all[1:], axis=1))
    return a, (order.last(a_all),), IndRNNCache(x, a_all, W_ih, w, order, nonlinearity)


def indrnn_backward(cache: IndRNNCache, da, d_state_n):
    """Backpropagation through time for ``indrnn_forward``.

    da : (T, B, n_a) gradient w.r.t. ``a`` (padded steps ignored); d_state_n : ``(da_n,)``,
    da_n (B, n_a) or None. Returns dx (T, B, n_x), ``(da0,)`` and dparams (W_ih, W_hh
    with only its diagonal nonzero, b_ih, b_hh), all in the forward's dtype.
    """
    x, a_all, W_ih, w, order, nonlinearity = cache
    T, B, n_x = x.shape
    n_a = w.shape[0]
    a = a_all[1:]
    g_prime = (a > 0).astype(a.dtype) if nonlinearity == "relu" else 1 - a * a

    da = order.sort(np.asarray(da, dtype=x.dtype), axis=1)
    da_next = initial_gradient(d_state_n[0], a_all[0], order)
    dz_all = np.zeros((T, B, n_a), dtype=x.dtype)         # padded rows stay 0
    for t in range(T - 1, -1, -1):
        n = order.n_active[t]
        dz = dz_all[t, :n]
        np.add(da[t, :n], da_next[:n], out=dz)
        dz *= g_prime[t, :n]
        np.multiply(dz, w, out=da_next[:n])               # rows past n wait, unchanged

    D2 = dz_all.reshape(T * B, n_a)
    dW_ih = D2.T @ x.reshape(T * B, n_x)
    dW_hh = np.zeros((n_a, n_a), dtype=x.dtype)
    np.fill_diagonal(dW_hh, np.einsum("tbh,tbh->h", dz_all, a_all[:-1]))
    db = D2.sum(axis=0)
    dx = (D2 @ W_ih).reshape(T, B, n_x)
    dparams = {"W_ih": dW_ih, "W_hh": dW_hh, "b_ih": db, "b_hh": db.copy()}
    return order.unsort(dx, axis=1), (order.unsort(da_next, axis=0),), dparams
