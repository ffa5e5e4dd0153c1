"""Both directions of a bidirectional layer in one kernel call.

A bidirectional layer sweeps x forwards and sweeps each example reversed; the two
sweeps are independent and have the same lengths. A cell whose kernels declare
``pairs`` (``seqkit.cells.Cell``) takes both at once:

    parameters   stacked (2, ...): [forward's, backward's]
    batch        rows interleaved: 2b is example b forwards, 2b+1 example b reversed
    lengths      each example's twice

Both copies of an example have its length, and the kernels' length sort is stable,
so the two stay side by side: step t's running rows are still a prefix of the batch,
every elementwise operation of a step covers both directions in one call, and the
recurrent GEMM is one batched call over both directions' weights
(``seqkit.kernels.by_direction``). Why: with small batches and widths each of the
dozen array operations of a step costs more in calls than in arithmetic, twice a
step for a bidirectional layer (the DNA tagger's BiLSTM 64 in batches of 8,
docs/performance.md). Results and gradients equal the two separate sweeps. The NumPy
LSTM and GRU pair; the vanilla RNN's step has too few calls to gain.
"""
from __future__ import annotations

import numpy as np

#: use paired kernels where a cell has them (tests switch it off to compare)
ENABLED = True
#: pair only while a step's gates (B x G x H per direction) are at most this many
#: numbers: where calls, not arithmetic, are the cost. Measured (bench/pairs_speed.py,
#: LSTM forward + BPTT, paired / separate, three runs): B 8, H 64: 0.77-0.90; B 16,
#: H 200: 0.83-1.08; B 16, H 256: 0.96-0.99; B 64, H 64: 0.93-1.23; B 64, H 512:
#: 1.03-1.06 (the strided batched GEMMs lose there). Whole epochs gain more (dna-tag
#: 0.80, NER 0.94): their small layers pair too
MAX_GATES = 16_384


def supported(layer, B: int) -> bool:
    return (ENABLED and layer.num_directions == 2
            and B * layer.cell_type.gates * layer.hidden_size <= MAX_GATES
            and layer.cell_type.pairs.get(layer.backend.name, False))


def _rows(xp, f, b):
    """(B, ...) and (B, ...) -> (2B, ...), rows interleaved f0, b0, f1, b1, ..."""
    return xp.stack([f, b], axis=1).reshape((2 * f.shape[0],) + f.shape[1:])


def _steps(xp, f, b):
    """(T, B, n) twice -> (T, 2B, n), the batch rows interleaved."""
    return xp.stack([f, b], axis=2).reshape(f.shape[0], 2 * f.shape[1], *f.shape[2:])


def forward(layer, k, x, lengths, rev, h0):
    """Layer ``k`` of ``layer`` over x (T, B, n), both directions in one kernel call.
    Returns y (T, B, 2H), the two directions' final states and the cache."""
    xp, be = layer.xp, layer.backend
    params = {name: xp.stack([f, b]) for (name, f), b in
              zip(layer._kernel_params(k, "").items(), layer._kernel_params(k, "_reverse").values())}
    s0 = tuple(_rows(xp, h[2 * k], h[2 * k + 1]) for h in h0)
    a, s_n, cache = be.cell_forward(layer.cell, params, _steps(xp, x, x[rev]), np.repeat(lengths, 2),
                                    s0, **layer.options)
    y = xp.concatenate([a[:, 0::2], a[:, 1::2][rev]], axis=2)
    return y, tuple(s[0::2] for s in s_n), tuple(s[1::2] for s in s_n), cache


def backward(layer, cache, dy, rev, d_fwd, d_bwd):
    """BPTT of ``forward``: dx (T, B, n), the two directions' initial-state gradients
    and parameter gradients. d_fwd / d_bwd: each direction's final-state gradients
    (a tuple, None entries for none)."""
    xp, be, H = layer.xp, layer.backend, layer.hidden_size
    da = _steps(xp, dy[:, :, :H], dy[:, :, H:][rev])
    d_n = tuple(None if f is None and b is None else
                _rows(xp, xp.zeros_like(b) if f is None else f, xp.zeros_like(f) if b is None else b)
                for f, b in zip(d_fwd, d_bwd))
    dx, d_s0, dparams = be.cell_backward(layer.cell, cache, da, d_n)
    dx = dx[:, 0::2] + dx[:, 1::2][rev]
    return (dx, tuple(s[0::2] for s in d_s0), tuple(s[1::2] for s in d_s0),
            {name: g[0] for name, g in dparams.items()}, {name: g[1] for name, g in dparams.items()})
