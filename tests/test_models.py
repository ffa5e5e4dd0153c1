"""Composed models: every core layer type survives a JSON round trip of its
config, and a many-to-one composition's gradients check out."""
from __future__ import annotations

import json

import numpy as np

from seqkit import (
    CRF,
    CharEncoder,
    ComposedModel,
    Dense,
    Dropout,
    Embedding,
    Example,
    Input,
    Kind,
    LastStep,
    Recurrent,
    SigmoidHead,
    build_model,
    chain,
    concatenate,
)
from seqkit.data import collate
from seqkit.testing import gradcheck
from seqkit.train import forward_loss

rng = np.random.default_rng(0)


def tagged_examples(n=3):
    out = []
    for L in (4, 2, 3)[:n]:
        x = {"words": rng.integers(0, 6, L), "dense": rng.standard_normal((L, 2)),
             "chars": [rng.integers(0, 5, rng.integers(1, 4)) for _ in range(L)]}
        out.append(Example(x, rng.integers(0, 3, L)))
    return out


def tagger(dtype="float64"):
    kw = {"dtype": dtype}
    body = chain(concatenate(chain(Input("words", **kw), Embedding(6, 3, **kw)), Input("dense", **kw),
                             CharEncoder("chars", 5, 2, 2, cell="gru", **kw)),
                 Dropout(0.2, **kw), Recurrent("rnn", 9, 3, bidirectional=True, nonlinearity="relu", **kw),
                 Dense(6, 3, **kw))
    return ComposedModel("many-to-many", body, CRF(3, **kw))


def test_config_round_trip_rebuilds_the_same_model():
    model = tagger()
    config = json.loads(json.dumps(model.config()))  # plain JSON, no code
    again = build_model(config, dtype="float64")
    assert again.config() == model.config()
    assert {k: v.shape for k, v in again.params().items()} == {k: v.shape for k, v in model.params().items()}
    again.load_state_dict(model.state_dict())
    batch = collate(tagged_examples(), Kind.MANY_TO_MANY)
    for m in (model, again):
        m.eval()
    np.testing.assert_array_equal(model.predict(batch)[0], again.predict(batch)[0])


def test_many_to_one_composition_with_a_sigmoid_head_gradients():
    kw = {"dtype": "float64"}
    body = chain(Input("x", **kw), Embedding(5, 3, **kw), Recurrent("lstm", 3, 2, bidirectional=True, **kw),
                 LastStep(2, **kw), Dense(4, 3, **kw))
    model = ComposedModel("many-to-one", body, SigmoidHead(3, **kw))
    examples = [Example(rng.integers(0, 5, L), rng.integers(0, 2, 3)) for L in (3, 1, 4)]
    batch = collate(examples, Kind.MANY_TO_ONE)
    model.zero_grad()
    forward_loss(model, batch)
    errors = gradcheck(lambda: forward_loss(model, batch, backward=False)[0], model.params(),
                       model.grads(), max_entries=None)
    assert max(errors.values()) < 1e-6, errors
