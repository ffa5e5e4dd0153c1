"""A naive per-time-step RNN/GRU/LSTM, forward and BPTT, as the course notebooks write it.

This is the *reference for speed*, not for semantics: one small GEMM per gate
per step (``z = W_ax @ x_t + W_aa @ a_prev + b``), and in backward every
weight gradient accumulated per step as an outer product (``dW_ax += dz_t @ x_t.T``).
Column layout as in the course: a step's activations are (n_a, B).

Parameters use PyTorch's layout and names (what ``seqkit.RNN(...).params``
holds), every sequence has full length, the initial state is zero. ``xp`` is
the array module (NumPy, or CuPy for the GPU benchmark).
"""
from __future__ import annotations

import numpy as np

GATE_NAMES = {"rnn": ("a",), "gru": ("r", "z", "n"), "lstm": ("i", "f", "g", "o")}


def _sigmoid(xp, v):
    return 1.0 / (1.0 + xp.exp(-v))


def _split(params, k, sfx):
    """Per-gate views (W_i, W_h, b_i, b_h) of layer k, direction sfx."""
    W_ih, W_hh = params[f"weight_ih_l{k}{sfx}"], params[f"weight_hh_l{k}{sfx}"]
    b_ih, b_hh = params[f"bias_ih_l{k}{sfx}"], params[f"bias_hh_l{k}{sfx}"]
    H = W_hh.shape[1]
    return [(W_ih[j * H:(j + 1) * H], W_hh[j * H:(j + 1) * H],
             b_ih[j * H:(j + 1) * H, None], b_hh[j * H:(j + 1) * H, None])
            for j in range(W_ih.shape[0] // H)]


def cell_forward(cell, W, x, xp=np):
    """One layer, one direction. x (T, B, n_x). Returns a (T, B, H), caches, state_n."""
    T, B, _ = x.shape
    H = W[0][1].shape[1]
    a_prev = xp.zeros((H, B), x.dtype)
    c_prev = xp.zeros((H, B), x.dtype)
    outs, caches = [], []
    for t in range(T):
        xt = x[t].T
        if cell == "rnn":
            Wi, Wh, bi, bh = W[0]
            a = xp.tanh(Wi @ xt + Wh @ a_prev + bi + bh)
            caches.append((xt, a_prev, a))
        elif cell == "gru":
            (Wir, Whr, bir, bhr), (Wiz, Whz, biz, bhz), (Win, Whn, bin_, bhn) = W
            r = _sigmoid(xp, Wir @ xt + Whr @ a_prev + bir + bhr)
            z = _sigmoid(xp, Wiz @ xt + Whz @ a_prev + biz + bhz)
            hn = Whn @ a_prev + bhn
            n = xp.tanh(Win @ xt + bin_ + r * hn)
            a = (1 - z) * n + z * a_prev
            caches.append((xt, a_prev, r, z, hn, n))
        else:
            i, f, g, o = (Wi @ xt + Wh @ a_prev + bi + bh for Wi, Wh, bi, bh in W)
            i, f, g, o = _sigmoid(xp, i), _sigmoid(xp, f), xp.tanh(g), _sigmoid(xp, o)
            c = f * c_prev + i * g
            tc = xp.tanh(c)
            a = o * tc
            caches.append((xt, a_prev, c_prev, i, f, g, o, tc))
            c_prev = c
        outs.append(a.T)
        a_prev = a
    return xp.stack(outs), caches, (a_prev.T, c_prev.T)


def cell_backward(cell, W, caches, dy, d_state, xp=np):
    """BPTT of ``cell_forward``. dy (T, B, H); d_state (da_n, dc_n), (B, H) each.
    Returns dx (T, B, n_x), (da0, dc0) and per-gate grads [(dW_i, dW_h, db_i, db_h)]."""
    grads = [[xp.zeros_like(w) for w in gate] for gate in W]
    da_next, dc_next = d_state[0].T.copy(), d_state[1].T.copy()
    dxs = []
    for t in reversed(range(len(caches))):
        xt, a_prev = caches[t][:2]
        da = dy[t].T + da_next
        if cell == "rnn":
            a = caches[t][2]
            d_pre = [da * (1 - a * a)]
            d_h = d_pre                              # what W_hh sees
            da_next = 0
        elif cell == "gru":
            r, z, hn, n = caches[t][2:]
            dn = da * (1 - z) * (1 - n * n)
            dz = da * (a_prev - n) * z * (1 - z)
            dhn = dn * r
            dr = dn * hn * r * (1 - r)
            d_pre, d_h = [dr, dz, dn], [dr, dz, dhn]
            da_next = da * z
        else:
            c_prev, i, f, g, o, tc = caches[t][2:]
            dc = dc_next + da * o * (1 - tc * tc)
            d_pre = [dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                     dc * i * (1 - g * g), da * tc * o * (1 - o)]
            d_h = d_pre
            dc_next = dc * f
            da_next = 0
        dx = 0
        for (Wi, Wh, _, _), gr, di, dh in zip(W, grads, d_pre, d_h, strict=True):
            gr[0] += di @ xt.T                       # per-step outer products
            gr[1] += dh @ a_prev.T
            gr[2] += di.sum(axis=1, keepdims=True)
            gr[3] += dh.sum(axis=1, keepdims=True)
            dx = dx + Wi.T @ di
            da_next = da_next + Wh.T @ dh
        dxs.append(dx.T)
    return xp.stack(dxs[::-1]), (da_next.T, dc_next.T), grads


def stack_forward_backward(cell, params, x, dy, d_state, num_layers=1, bidirectional=False,
                           xp=np):
    """Forward and BPTT through a stack (full lengths, zero initial state).

    dy (T, B, D*H); d_state (dh_n, dc_n) each (L*D, B, H) (dc_n ignored unless lstm).
    Returns y, (h_n, c_n), dx and the gradients keyed like ``params``.
    """
    D = 2 if bidirectional else 1
    sfxs = ("", "_reverse")[:D]
    inp, runs, h_n, c_n = x, [], [], []
    for k in range(num_layers):
        outs = []
        for d, sfx in enumerate(sfxs):
            W = _split(params, k, sfx)
            a, caches, (h, c) = cell_forward(cell, W, inp[::-1] if d else inp, xp)
            outs.append(a[::-1] if d else a)
            runs.append((W, caches))
            h_n.append(h)
            c_n.append(c)
        inp = xp.concatenate(outs, axis=2) if D == 2 else outs[0]
    y = inp
    grads = {}
    H = params["weight_hh_l0"].shape[1]
    for k in reversed(range(num_layers)):
        dx = 0
        for d, sfx in enumerate(sfxs):
            i = k * D + d
            W, caches = runs[i]
            da = dy[:, :, d * H:(d + 1) * H]
            dc_n = d_state[1][i] if cell == "lstm" else xp.zeros_like(d_state[0][i])
            dx_d, _, g = cell_backward(cell, W, caches, da[::-1] if d else da,
                                       (d_state[0][i], dc_n), xp)
            dx = dx + (dx_d[::-1] if d else dx_d)
            for j, name in enumerate(("weight_ih", "weight_hh", "bias_ih", "bias_hh")):
                grads[f"{name}_l{k}{sfx}"] = xp.concatenate([gate[j] for gate in g]).reshape(
                    params[f"{name}_l{k}{sfx}"].shape)
        dy = dx
    return y, (xp.stack(h_n), xp.stack(c_n)), dy, grads


def per_example_forward_backward(cell, params, x, dy, d_state, num_layers=1,
                                 bidirectional=False, xp=np):
    """The Dinosaurus Island / min-char-rnn way: one example at a time, so every
    product is a matrix-vector product and every weight gradient a sum of outer
    products ``dz<t> x<t>^T``. Returns the gradients summed over the examples."""
    grads = {}
    for b in range(x.shape[1]):
        one = slice(b, b + 1)
        ds = tuple(None if d is None else d[:, one] for d in d_state)
        _, _, _, g = stack_forward_backward(cell, params, x[:, one], dy[:, one], ds,
                                            num_layers, bidirectional, xp)
        for k, v in g.items():
            grads[k] = grads[k] + v if k in grads else v
    return grads
