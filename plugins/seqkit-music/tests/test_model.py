"""music-poly's model: finite-difference gradients (float64) through the input
dropout, the GRU, the deep output (ReLU) and the skip path, dropout masks fixed."""
from __future__ import annotations

import numpy as np
import pytest
from seqkit_music.layers import Activation
from seqkit_music.poly import MusicPoly

from seqkit import Example, SeqkitError
from seqkit.data import collate
from seqkit.examples import Kind
from seqkit.models.build import build
from seqkit.testing import gradcheck
from seqkit.train import forward_loss


@pytest.mark.parametrize("options", [{}, {"input_dropout": 0.3, "output_hidden": 7}])
def test_poly_model_gradients_match_finite_differences(options):
    task = MusicPoly()
    dims = task.dims({"input_dropout": options.get("input_dropout", 0.0),
                      "output_hidden": options.get("output_hidden", 0)})
    model = task.build_model(dims, {"cell": "gru", "hidden": 5, "dropout": 0.25},
                             "numpy", "float64", 3)
    rng = np.random.default_rng(0)
    examples = []
    for T in (6, 4):
        roll = (rng.random((T, 88)) < 0.05).astype(np.float64)
        x = np.concatenate([np.zeros((1, 88)), roll[:-1]])
        x[:, :20] = rng.random((T, 20))   # dense inputs, so ReLUs sit away from their kink
        examples.append(Example(x, roll, meta={}))
    batch = collate(examples, Kind.ONE_TO_MANY, None)
    model.train()

    def loss():
        model.seed_dropout(11)      # the same masks at every evaluation
        return forward_loss(model, batch, "sum", backward=False)[0]

    model.seed_dropout(11)
    model.zero_grad()
    forward_loss(model, batch, "sum")
    params = model.params()
    errors = gradcheck(loss, params, model.grads(), max_entries=30)
    assert len(errors) >= (8 if options else 6)
    assert max(errors.values()) < 1e-6, errors
    # the model's config rebuilds the same layers (what a checkpoint does)
    rebuilt = build(model.body.config(), "numpy", "float64")
    assert rebuilt.config() == model.body.config()
    kinds = str(model.body.config())
    assert ("music_activation" in kinds) == bool(options)


def test_activation_derivatives_and_bad_name():
    x = np.array([-2.0, -0.5, 0.5, 3.0])
    for fn, d in (("relu", (x > 0) * 1.0), ("tanh", 1 - np.tanh(x) ** 2)):
        layer = Activation(fn, "numpy", "float64")
        y, back = layer.begin_update(x)
        assert np.allclose(back(np.ones_like(x)), d)
    with pytest.raises(SeqkitError, match="activation must be one of"):
        Activation("sigmoid")
