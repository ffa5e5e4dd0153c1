"""Whole models: every part's gradient (embedding, stack, dense head, each loss with
masks, dropout with a fixed mask) for every task kind, against finite differences."""
import numpy as np
import pytest

from seqkit import SeqkitError
from seqkit.data import Batch, bucketed_batches, collate, time_chunks
from seqkit.losses import sigmoid_binary_cross_entropy, softmax_cross_entropy
from seqkit.models import ModelSpec, SequenceModel
from seqkit.sampling import next_token_distribution
from seqkit.tasks import Example, Kind, check_examples
from seqkit.testing import backend_params, gradcheck
from seqkit.train import forward_loss

BACKENDS = backend_params()
rng = np.random.default_rng(0)


def token_examples(kind, n_in, n_y, head, lengths):
    out = []
    for L in lengths:
        x = rng.integers(0, n_in, L)
        if kind == Kind.MANY_TO_ONE:
            y = rng.integers(0, n_y) if head == "softmax" else rng.integers(0, 2, n_y)
        elif kind == Kind.ENCODER_DECODER:
            y = rng.integers(0, n_y, max(1, L - 1))
        else:
            y = rng.integers(0, n_y, L) if head == "softmax" else rng.integers(0, 2, (L, n_y))
        out.append(Example(x, y))
    return out


SPECS = [
    # kind, input, head, cell, bidirectional, layers
    ("many-to-many", "tokens", "softmax", "lstm", True, 2),
    ("many-to-many", "dense", "sigmoid", "gru", False, 1),
    ("many-to-one", "tokens", "softmax", "gru", True, 1),
    ("many-to-one", "dense", "sigmoid", "lstm", True, 2),
    ("one-to-many", "tokens", "softmax", "rnn", False, 2),
    ("encoder-decoder", "tokens", "softmax", "lstm", False, 1),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind,input_,head,cell,bi,layers", SPECS)
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_model_gradients(backend, kind, input_, head, cell, bi, layers, reduction):
    n_in, n_y = 5, 4
    spec = ModelSpec(kind=kind, n_in=n_in, n_y=n_y, input=input_, head=head, cell=cell,
                     hidden=3, layers=layers, bidirectional=bi, embed_dim=3, dropout=0.3,
                     n_in_decoder=n_y + 1)
    model = SequenceModel(spec, backend=backend, dtype="float64", seed=1)
    examples = token_examples(Kind(kind), n_in, n_y, head, [4, 1, 3])  # ragged, with T_x = 1
    if input_ == "dense":
        examples = [Example(rng.standard_normal((len(e.x), n_in)), e.y) for e in examples]
    batch = collate(examples, Kind(kind), bos_id=n_y)
    if input_ == "dense":
        batch.x = batch.x.astype(np.float64)
    check_examples(Kind(kind), head, examples, {"n_y": n_y})

    def loss():
        model.seed_dropout(3)  # the same dropout masks on every evaluation
        return forward_loss(model, batch, reduction, backward=False)[0]

    model.zero_grad()
    model.seed_dropout(3)
    forward_loss(model, batch, reduction)
    grads = model.grads()
    errors = gradcheck(loss, model.params(), grads, max_entries=10)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("loss_fn,targets", [
    (softmax_cross_entropy, lambda: rng.integers(0, 4, (3, 2))),
    (sigmoid_binary_cross_entropy, lambda: rng.integers(0, 2, (3, 2, 4))),
])
def test_losses_ignore_padded_steps(loss_fn, targets):
    z = rng.standard_normal((3, 2, 4))
    y = targets()
    mask = np.array([[1, 1], [1, 0], [0, 0]], dtype=float)
    loss, dz, n = loss_fn(z, y, mask, 2, np)
    assert n == 3 and np.all(dz[~mask.astype(bool)] == 0)
    z2 = z.copy()
    z2[2] += 100.0  # padded logits can be anything
    assert loss_fn(z2, y, mask, 2, np)[0] == pytest.approx(loss)
    errors = gradcheck(lambda: loss_fn(z, y, mask, 2, np)[0], {"z": z}, {"z": dz}, max_entries=None)
    assert errors["z"] < 1e-7


def test_loss_is_summed_over_time_steps():
    z = np.zeros((5, 1, 3))  # uniform predictions: log 3 nats per step
    loss, _, _ = softmax_cross_entropy(z, np.zeros((5, 1), int), np.ones((5, 1)), 1, np)
    assert loss == pytest.approx(5 * np.log(3))
    loss, _, _ = softmax_cross_entropy(z, np.zeros((5, 1), int), np.ones((5, 1)), 1, np, "mean")
    assert loss == pytest.approx(np.log(3))


def test_label_layout_is_checked_before_training():
    bad = [Example(np.array([1, 2, 3]), np.array([0, 1]))]
    with pytest.raises(SeqkitError, match=r"do not fit the many-to-many task .* \(expected \(3,\)\)"):
        check_examples(Kind.MANY_TO_MANY, "softmax", bad, {"n_y": 3})
    with pytest.raises(SeqkitError, match=r"label ids must be in \[0, 2\)"):
        check_examples(Kind.MANY_TO_ONE, "softmax", [Example(np.array([1]), 5)], {"n_y": 2})
    with pytest.raises(SeqkitError, match="bidirectional"):
        ModelSpec(kind="one-to-many", n_in=3, n_y=3, bidirectional=True)


def test_bucketed_batches_cover_every_example_once_and_pad_little():
    examples = [Example(np.zeros(L, int), np.zeros(L, int)) for L in rng.integers(1, 50, 500)]
    batches = bucketed_batches(examples, 16, np.random.default_rng(0))
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(500))
    padded = sum(max(len(examples[i].x) for i in b) * len(b) for b in batches)
    assert padded < 1.2 * sum(len(e.x) for e in examples)
    assert batches == bucketed_batches(examples, 16, np.random.default_rng(0))


def test_truncated_bptt_chunks_cover_the_sequence():
    examples = [Example(np.arange(L), np.arange(L)) for L in (7, 3)]
    batch = collate(examples, Kind.ONE_TO_MANY)
    chunks = list(time_chunks(batch, 3))
    assert [c.x.shape[0] for c in chunks] == [3, 3, 1]
    assert sum(c.mask.sum() for c in chunks) == 10
    assert all(isinstance(c, Batch) and c.lengths.min() >= 1 for c in chunks)


def test_top_k_and_temperature():
    z = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    p = next_token_distribution(z, top_k=2)
    assert np.count_nonzero(p) == 2 and p[0] > p[1]
    cold = next_token_distribution(z, temperature=0.1)
    assert cold[0] > 0.99
    np.testing.assert_allclose(next_token_distribution(z), [0.5, 0.3, 0.15, 0.05])


def test_early_stopping_history_picks_the_best_epoch():
    from seqkit.train import History

    h = History([{"valid_loss": 3.0}, {"valid_loss": 2.0}, {"valid_loss": 2.5}])
    assert h.best(("loss", "min")) == (2.0, 1)
    assert h.best(("loss", "max")) == (3.0, 0)
    assert History().best(("loss", "min")) is None
