"""bench/torch_twin.py builds the PyTorch model bench/train_speed.py times seqkit against.
A speed ratio means something only if both sides compute the same thing: here the twin's
loss and every parameter's gradient equal seqkit's, layer kinds and heads alike, and one
whole training epoch (batches, truncated BPTT windows, Adam, clipping) ends at the same
weights."""
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from seqkit import CRF, CharEncoder, ComposedModel, Dense, Dropout, Embedding, Input, Recurrent
from seqkit.data import Batch
from seqkit.heads import SigmoidHead, SoftmaxHead
from seqkit.layers.combinators import Chain, Concatenate
from seqkit.train import TrainConfig, forward_loss

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import torch_twin  # noqa: E402

rng = np.random.default_rng(0)
T, B = 6, 4
LENGTHS = np.array([6, 3, 5, 1])


def mask():
    return (np.arange(T)[:, None] < LENGTHS[None, :]).astype(np.float32)


def tagger(head="crf"):
    """Word and case embeddings, a character BiLSTM, a stacked BiLSTM, a dense layer."""
    body = Chain(Concatenate(Chain(Input("words"), Embedding(11, 5, seed=1)),
                             Chain(Input("case"), Embedding(3, 2, seed=2)),
                             CharEncoder("chars", 9, 3, 4, seed=3)),
                 Dropout(0.0), Recurrent("lstm", 15, 6, num_layers=2, bidirectional=True, seed=4),
                 Dense(12, 5, seed=5))
    return ComposedModel("many-to-many", body,
                         CRF(5, allowed=ALLOWED, seed=6) if head == "crf" else SoftmaxHead(5))


ALLOWED = rng.random((5, 5)) > 0.3
np.fill_diagonal(ALLOWED, True)


def tagger_batch():
    """Gold paths through allowed transitions only; padded steps' labels are anything."""
    chars = rng.integers(0, 9, (T, B, 4))
    sub = rng.integers(1, 5, (T, B)) * mask().astype(np.int64)
    inputs = {"words": rng.integers(0, 11, (T, B)), "case": rng.integers(0, 3, (T, B)), "chars": chars}
    y = rng.integers(0, 5, (T, B))
    for b in range(B):
        for t in range(1, LENGTHS[b]):
            y[t, b] = rng.choice(np.flatnonzero(ALLOWED[y[t - 1, b]]))
    return Batch(inputs, LENGTHS, y, mask(), sublengths={"chars": sub})


def roll_model(cell):
    """A dense input frame through a recurrent layer, beside the frame itself, to sigmoids."""
    body = Chain(Input("x"), Concatenate(Chain(Recurrent(cell, 7, 5, seed=1)), Input("x")),
                 Dense(12, 7, seed=2))
    return ComposedModel("one-to-many", body, SigmoidHead(7))


def roll_batch():
    x = (rng.random((T, B, 7)) < 0.3).astype(np.float32)
    return Batch({"x": x}, LENGTHS, (rng.random((T, B, 7)) < 0.3).astype(np.float32), mask())


def assert_same(model, batch, reduction="sum"):
    run = types.SimpleNamespace(model=model, config=TrainConfig(reduction=reduction), task=None, bos_id=None)
    twin = torch_twin.twin(run)
    model.train()
    model.zero_grad()
    loss = forward_loss(model, batch, reduction)[0]
    t_loss = twin.loss(batch)
    t_loss.backward()
    assert t_loss.item() == pytest.approx(loss, rel=1e-5)
    grads = model.grads()
    seen = set()
    for name, p in twin.net.named_parameters():
        name = name.replace("__", ".")
        np.testing.assert_allclose(p.grad.numpy(), grads[name], rtol=1e-4, atol=1e-6, err_msg=name)
        seen.add(name)
    assert seen == set(grads)  # every seqkit parameter has its twin, and no other


@pytest.mark.parametrize("head", ["crf", "softmax"])
def test_tagger_twin_has_seqkits_loss_and_gradients(head):
    assert_same(tagger(head), tagger_batch())


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
def test_piano_roll_twin_has_seqkits_loss_and_gradients(cell):
    assert_same(roll_model(cell), roll_batch(), reduction="mean")


def test_a_layer_without_twin_is_named():
    class Odd(Dense):
        type_name = "odd"
    model = ComposedModel("many-to-many", Chain(Input("x"), Odd(3, 2)), SoftmaxHead(2))
    run = types.SimpleNamespace(model=model, config=TrainConfig(), task=None, bos_id=None)
    with pytest.raises(torch_twin.NotMirrored, match="'odd'"):
        torch_twin.twin(run)


def test_one_epoch_with_truncated_bptt_ends_at_seqkits_weights():
    """The chars task's default model on 48 names, windows of 4 steps (the state carried
    into the next window), Adam, clipping: seqkit's epoch and the twin's end together."""
    from seqkit.cli.train import fresh_run
    from seqkit.plugins import load_plugins
    from seqkit.run import get_task
    from seqkit.train import train_epoch

    load_plugins()
    run, splits = fresh_run(get_task("chars"), "dinos",
                            {"hidden": 8, "embed_dim": 4, "batch_size": 16, "bptt": 4, "lr": 0.05,
                             "clip_norm": 0.5})
    train = run.encode(splits["train"])[:48]
    twin = torch_twin.twin(run)
    _, t_loss = twin.epoch(train, 0)
    stats = train_epoch(run.model, run.optimizer, train, run.config, 0, run.bos_id,
                        show_progress=False, task=run.task)
    assert t_loss == pytest.approx(stats["loss"], rel=1e-4)
    state = run.model.state_dict()
    for name, p in twin.net.named_parameters():
        np.testing.assert_allclose(p.detach().numpy(), state[name.replace("__", ".")], rtol=1e-3,
                                   atol=1e-4, err_msg=name)


def test_many_to_one_twin_has_seqkits_loss_and_gradients():
    from seqkit import LastStep
    body = Chain(Input("x"), Recurrent("gru", 7, 5, bidirectional=True, seed=1), LastStep(2),
                 Dense(10, 3, seed=2))
    x = rng.standard_normal((T, B, 7)).astype(np.float32)
    batch = Batch({"x": x}, LENGTHS, rng.integers(0, 3, B), np.ones(B, np.float32))
    assert_same(ComposedModel("many-to-one", body, SoftmaxHead(3)), batch)
