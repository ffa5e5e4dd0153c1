"""CharEncoder: each distinct word of a batch is read once (per type), in bands of
word lengths; outputs and gradients must equal reading every token (per token)."""
import numpy as np
import pytest

from seqkit import CharEncoder
from seqkit.layers import chars as chars_module
from seqkit.layers.base import Context
from seqkit.layers.chars import length_groups, word_types
from seqkit.testing import gradcheck

rng = np.random.default_rng(0)
VOCAB = [rng.integers(0, 7, n) for n in (1, 1, 2, 3, 3, 5, 6, 9, 12, 17, 30)]


def batch(T=7, B=5, padding=0, vocab=VOCAB):
    """(T, B, L) ids of words drawn from ``vocab`` (so types repeat), padded with
    ``padding`` beyond each word's length; sentence b has T - b words."""
    words = [[vocab[rng.integers(len(vocab))] for _ in range(T - b)] for b in range(B)]
    L = max(len(w) for s in words for w in s)
    ids = np.full((T, B, L), padding, dtype=np.int64)
    sub = np.zeros((T, B), dtype=np.int64)
    for b, s in enumerate(words):
        for t, w in enumerate(s):
            ids[t, b, :len(w)], sub[t, b] = w, len(w)
    return ids, sub


def encoder(cell="lstm"):
    return CharEncoder("chars", 7, 3, 4, cell=cell, dtype="float64", seed=3)


def params_and_grads(enc):
    children = enc.named_children().items()
    return ({f"{n}.{k}": v for n, c in children for k, v in c.params.items()},
            {f"{n}.{k}": np.array(v) for n, c in children for k, v in c.grads().items()})


def zero_grad(enc):
    for child in enc.children():
        child.zero_grad()


def run(enc, ids, sub, per_type, training=False):
    enc.per_type = per_type
    ctx = Context(lengths=np.count_nonzero(sub, axis=0), inputs={"chars": ids},
                  sublengths={"chars": sub}, training=training)
    return enc.begin_update(None, ctx) if training else (enc.predict(None, ctx), None)


def test_word_types_ignore_padding_and_tell_lengths_apart():
    chars = np.array([[1, 2, 0], [1, 2, 9], [1, 2, 0], [0, 0, 0], [0, 0, 5]])
    lengths = np.array([2, 2, 3, 1, 1])
    first, inverse = word_types(chars, lengths)
    # rows 0 and 1 are the word [1, 2] (padding differs); row 2 is [1, 2, 0]; rows 3, 4 are [0]
    assert inverse[0] == inverse[1] and inverse[3] == inverse[4]
    assert len(first) == 3 and len({inverse[0], inverse[2], inverse[3]}) == 3
    for n in range(len(chars)):
        w = first[inverse[n]]
        assert lengths[w] == lengths[n]
        assert chars[w, :lengths[n]].tolist() == chars[n, :lengths[n]].tolist()


def test_length_groups_partition_by_bands_and_merge_small_ones():
    lengths = np.array([1, 3, 4, 5, 8, 9, 16, 17, 30, 2])
    groups = length_groups(lengths, min_size=1)
    assert sorted(np.concatenate(groups).tolist()) == list(range(len(lengths)))
    assert [sorted(lengths[g].tolist()) for g in groups] == [[1, 2, 3, 4], [5, 8], [9, 16], [17, 30]]
    merged = length_groups(lengths, min_size=3)  # [5, 8] joins [9, 16]; [17, 30] joins the one before
    assert [sorted(lengths[g].tolist()) for g in merged] == [[1, 2, 3, 4], [5, 8, 9, 16, 17, 30]]
    assert [g.tolist() for g in length_groups(np.array([7, 2]), min_size=64)] == [[1, 0]]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("min_group", [1, 64])
def test_per_type_outputs_equal_per_token(cell, min_group, monkeypatch):
    monkeypatch.setattr(chars_module, "MIN_GROUP", min_group)  # 1: one call per length band
    ids, sub = batch(padding=4)
    enc = encoder(cell)
    enc.eval()
    per_token, _ = run(enc, ids, sub, per_type=False)
    per_type, _ = run(enc, ids, sub, per_type=True)
    assert per_type.shape == (7, 5, 8)
    assert np.abs(per_type).max() > 0.01
    np.testing.assert_allclose(per_type, per_token, rtol=0, atol=1e-12)
    assert (per_type[sub == 0] == 0).all()  # padded positions stay zero
    enc.train()
    trained, _ = run(enc, ids, sub, per_type=True, training=True)
    np.testing.assert_allclose(trained, per_token, rtol=0, atol=1e-12)


@pytest.mark.parametrize("min_group", [1, 64])
def test_per_type_gradients_equal_per_token_and_finite_differences(min_group, monkeypatch):
    monkeypatch.setattr(chars_module, "MIN_GROUP", min_group)
    ids, sub = batch()
    enc = encoder()
    enc.train()
    weights = np.random.default_rng(1).standard_normal((*sub.shape, enc.output_size))

    def grads(per_type):
        zero_grad(enc)
        out, backprop = run(enc, ids, sub, per_type, training=True)
        backprop(weights)
        return params_and_grads(enc)[1]

    per_token, per_type = grads(False), grads(True)
    assert set(per_type) == {"embedding.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                             "rnn.bias_hh_l0", "rnn.weight_ih_l0_reverse", "rnn.weight_hh_l0_reverse",
                             "rnn.bias_ih_l0_reverse", "rnn.bias_hh_l0_reverse"}
    for name in per_token:
        assert np.abs(per_token[name]).max() > 1e-3, name
        np.testing.assert_allclose(per_type[name], per_token[name], rtol=0, atol=1e-12, err_msg=name)

    def loss():
        return float((run(enc, ids, sub, True, training=True)[0] * weights).sum())

    zero_grad(enc)
    run(enc, ids, sub, True, training=True)[1](weights)
    errors = gradcheck(loss, *params_and_grads(enc), max_entries=12)
    assert max(errors.values()) < 1e-6, errors


def test_a_batch_without_words_gives_zeros():
    enc = encoder()
    enc.eval()
    out, _ = run(enc, np.zeros((2, 3, 1), dtype=np.int64), np.zeros((2, 3), dtype=np.int64), True)
    assert out.shape == (2, 3, 8) and not out.any()


def count_words_read(enc, monkeypatch):
    """A list that grows by the number of words each character-RNN call reads."""
    calls, predict = [], enc.recurrent.predict

    def counting(x, ctx):
        calls.append(x.shape[1])
        return predict(x, ctx)

    monkeypatch.setattr(enc.recurrent, "predict", counting)
    return calls


def test_inference_memo_reads_each_type_once_while_the_parameters_stay(monkeypatch):
    enc = encoder()
    enc.eval()
    first, second = batch(vocab=VOCAB[::2]), batch()  # second: more types, some of them new
    calls = count_words_read(enc, monkeypatch)
    for ids, sub in (first, second):
        reference, _ = run(enc, ids, sub, per_type=False)
        got, _ = run(enc, ids, sub, per_type=True)
        np.testing.assert_allclose(got, reference, rtol=0, atol=1e-12)
    def types(*batches):
        return {tuple(ids[t, b, :sub[t, b]]) for ids, sub in batches for t, b in zip(*np.nonzero(sub))}

    n_tokens = sum(int(np.count_nonzero(sub)) for _, sub in (first, second))
    # [first per token, first's types, second per token, second's new types]: each type read once
    assert len(calls) == 4 and calls[1] == len(types(first)) < calls[0]
    assert calls[3] == len(types(first, second) - types(first))
    assert sum(calls) == n_tokens + len(types(first, second))
    # a parameter changed in place (an optimizer step) makes the memo stale: read again
    enc.embedding.params["weight"][VOCAB[-1][0]] += 0.5
    calls.clear()
    ids, sub = second
    reference, _ = run(enc, ids, sub, per_type=False)
    got, _ = run(enc, ids, sub, per_type=True)
    np.testing.assert_allclose(got, reference, rtol=0, atol=1e-12)
    assert sum(calls) > np.count_nonzero(sub)


def test_inference_memo_stays_within_its_size(monkeypatch):
    monkeypatch.setattr(chars_module, "TYPE_CACHE", 5)
    enc = encoder()
    enc.eval()
    for _ in range(3):
        ids, sub = batch()
        reference, _ = run(enc, ids, sub, per_type=False)
        got, _ = run(enc, ids, sub, per_type=True)
        np.testing.assert_allclose(got, reference, rtol=0, atol=1e-12)
        assert enc._memo is None or len(enc._memo[1]) <= 5
