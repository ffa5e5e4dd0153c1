"""Both directions of a bidirectional layer in one kernel call (seqkit.layers.pairs):
used where the cell pairs and a step is small, equal to two sweeps (the conformance
kit's test_paired_directions checks every gradient), and through composed models."""
import numpy as np
import pytest

import seqkit
from seqkit.layers import pairs
from seqkit.testing import gradcheck


def test_used_only_where_it_pays_and_the_cell_pairs():
    assert pairs.supported(seqkit.LSTM(20, 64, bidirectional=True), B=8)
    assert not pairs.supported(seqkit.LSTM(20, 64), B=8)                         # one direction
    assert pairs.supported(seqkit.GRU(20, 64, bidirectional=True), B=8)
    assert not pairs.supported(seqkit.RNN(20, 64, bidirectional=True), B=8)      # its kernels don't
    assert not pairs.supported(seqkit.LSTM(64, 512, bidirectional=True), B=64)   # a big step


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("layers", [1, 2])
def test_finite_differences_through_the_paired_kernel(cell, layers, monkeypatch):
    calls = []
    monkeypatch.setattr(pairs, "forward", lambda *a, f=pairs.forward: calls.append(1) or f(*a))
    rng = np.random.default_rng(0)
    layer = seqkit.Recurrent(cell, 3, 4, num_layers=layers, bidirectional=True, dtype="float64", seed=2)
    x = rng.standard_normal((6, 3, 3))
    lengths = np.array([6, 2, 4])
    w = rng.standard_normal((6, 3, 8)) * (np.arange(6)[:, None] < lengths)[..., None]

    def loss():
        y, state = layer.forward(x, lengths)
        h, c = (state, None) if cell == "gru" else state
        return float((y * w).sum() + (h ** 2).sum() + (0 if c is None else c.sum()))

    layer.zero_grad()
    y, state = layer.forward(x, lengths)
    h, c = (state, None) if cell == "gru" else state
    layer.backward(w, 2 * h if c is None else (2 * h, np.ones_like(c)))
    errors = gradcheck(loss, layer.params, layer.grads())
    assert calls and max(errors.values()) < 1e-6, errors
