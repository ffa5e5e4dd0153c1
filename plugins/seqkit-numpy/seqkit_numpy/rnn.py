"""The vanilla RNN cell: forward over time and backpropagation through time.

Notation (the lecture's, for one example; the code works on a batch):

    z<t> = W_ax x<t> + W_aa a<t-1> + b_a
    a<t> = g(z<t>)                      g = tanh (or relu)

with W_ax = W_ih (n_a, n_x), W_aa = W_hh (n_a, n_a), b_a = b_ih + b_hh.
BPTT, with da_next the gradient reaching a<t> from step t+1:

    dz<t>    = (da<t> + da_next) * g'(z<t>)     tanh' = 1 - a<t>**2, relu' = [a<t> > 0]
    da_next  = W_aa^T dz<t>                      (what flows on to a<t-1>)
    dW_ax = sum_t dz<t> x<t>^T,  dW_aa = sum_t dz<t> a<t-1>^T,  db_a = sum_t dz<t>

Speed: the input projections W_ax x<t> + b_a of all steps are one GEMM before
the loop; only W_aa a<t-1> is inside it. Backward keeps every dz<t> and forms
the weight gradients as one GEMM each after the sweep.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from seqkit.kernels import LengthOrder, initial_gradient, input_projection, read_only, weight_gradients
from seqkit.threads import gemm

from ._common import sweep_array, transposed


class RNNCache(NamedTuple):
    """What backward needs. Batch axes are in ``order``'s sorted order."""

    x: np.ndarray        # (T, B, n_x) the inputs
    a_all: np.ndarray    # (T+1, B, n_a) a_all[0] = a<0>, a_all[t+1] = a<t> (0 when padded)
    params: dict
    order: LengthOrder
    nonlinearity: str


def rnn_forward(params, x, lengths, state0, nonlinearity="tanh"):
    """Run the RNN over T steps.

    x : (T, B, n_x) float32/float64; state0 : ``(a0,)`` with a0 (B, n_a).
    Returns ``a`` (T, B, n_a, read-only, zeros at padded steps), ``(a_n,)``
    with a_n (B, n_a) each example's state after its last valid step, and the
    cache. Every array keeps x's dtype.
    """
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    T, B, _ = x.shape
    W_ax, W_aa = params["W_ih"], params["W_hh"]
    n_a = W_aa.shape[0]
    order = LengthOrder(lengths, T)

    # W_ax x<t> + b_a for every step at once: one big GEMM instead of T small ones
    x, xW = input_projection(x, W_ax, params["b_ih"] + params["b_hh"], order)

    # padded steps read 0: the zero output the contract asks for
    a_all = sweep_array(order, (T + 1, B, n_a), x.dtype)
    a_all[0] = order.sort(state0[0], axis=0)
    W_aa_T = transposed(W_aa)
    with gemm(B, n_a, n_a):  # the per-step GEMM's threads (seqkit.threads)
        for t, n in enumerate(order.n_active):
            a_next = a_all[t + 1, :n]
            np.matmul(a_all[t, :n], W_aa_T, out=a_next)
            a_next += xW[t, :n]
            if nonlinearity == "tanh":
                np.tanh(a_next, out=a_next)
            else:
                np.maximum(a_next, 0, out=a_next)

    a = read_only(order.unsort(a_all[1:], axis=1))
    cache = RNNCache(x, a_all, params, order, nonlinearity)
    return a, (order.last(a_all),), cache


def rnn_backward(cache: RNNCache, da, d_state_n):
    """Backpropagation through time for ``rnn_forward``.

    da : (T, B, n_a) gradient w.r.t. ``a`` (padded steps ignored);
    d_state_n : ``(da_n,)``, da_n (B, n_a) or None.
    Returns dx (T, B, n_x), ``(da0,)`` and dparams (W_ih, W_hh, b_ih, b_hh),
    all in the forward's dtype.
    """
    x, a_all, params, order, nonlinearity = cache
    T, B, _ = x.shape
    n_a = a_all.shape[2]
    W_ax, W_aa = params["W_ih"], params["W_hh"]

    # 1. g'(z<t>) for all steps at once, from the saved outputs a<t>
    a = a_all[1:]
    if nonlinearity == "tanh":
        g_prime = np.multiply(a, a)
        np.subtract(1, g_prime, out=g_prime)
    else:
        g_prime = (a > 0).astype(a.dtype)

    # 2. the sweep backwards in time; padded rows of dz stay 0, so they add
    #    nothing to the weight gradients below
    da = order.sort(da, axis=1)
    da_next = initial_gradient(d_state_n[0], a_all[0], order)
    dz_all = sweep_array(order, (T, B, n_a), x.dtype)
    with gemm(B, n_a, n_a):
        for t in range(T - 1, -1, -1):
            n = order.n_active[t]
            dz = dz_all[t, :n]
            np.add(da[t, :n], da_next[:n], out=dz)
            dz *= g_prime[t, :n]
            # rows past n are finished examples: their gradient waits unchanged
            np.matmul(dz, W_aa, out=da_next[:n])

    # 3. every step's contribution to the weights and inputs, one GEMM each
    dW_ax, dW_aa, db_a, dx = weight_gradients(dz_all, x, a_all[:-1], W_ax)
    dparams = {"W_ih": dW_ax, "W_hh": dW_aa, "b_ih": db_a, "b_hh": db_a.copy()}
    return order.unsort(dx, axis=1), (order.unsort(da_next, axis=0),), dparams
