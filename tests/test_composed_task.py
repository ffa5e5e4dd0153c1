"""A task plugin of its own, installed as a real distribution: word + casing +
character-BiLSTM -> BiLSTM -> CRF, trained and used through the CLI with no
change to the core; and the same composed model's gradients end to end."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqkit.testing import gradcheck, run_seqkit

FIXTURES = Path(__file__).parent / "plugins_fixtures"


SYLLABLES = ["ka", "lo", "mi", "ra", "tu", "ne", "so", "vi", "da", "pe", "zo", "fu", "gi", "ba"]


def make_word(rng, seen: set, fresh: bool) -> str:
    while True:
        w = "".join(rng.choice(SYLLABLES, rng.integers(1, 4)))
        if (w in seen) != fresh:
            return w


def sentences(rng, n, pool, fresh=False):
    """Random sentences: -ing words are B-V, capitalised words B-PER / I-PER."""
    out = []
    for _ in range(n):
        sent, prev_per = [], False
        for _ in range(rng.integers(3, 9)):
            w = make_word(rng, pool, fresh) if fresh else rng.choice(sorted(pool))
            r = rng.random()
            if r < 0.25:
                sent.append((w + "ing", "B-V"))
                prev_per = False
            elif r < 0.5:
                sent.append((w.title(), "I-PER" if prev_per else "B-PER"))
                prev_per = True
            else:
                sent.append((w, "O"))
                prev_per = False
        out.append(sent)
    return out


def write(path: Path, sents):
    path.write_text("".join("".join(f"{w} {t}\n" for w, t in s) + "\n" for s in sents))


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("toytag")
    rng = np.random.default_rng(0)
    pool: set = set()
    while len(pool) < 150:
        pool.add("".join(rng.choice(SYLLABLES, rng.integers(1, 4))))
    write(d / "train.txt", sentences(rng, 600, pool))
    write(d / "valid.txt", sentences(rng, 100, pool))
    write(d / "test.txt", sentences(rng, 150, pool, fresh=True))  # words never seen in training
    return d, pool


@pytest.mark.slow
def test_tagger_plugin_learns_unseen_words_from_characters(tmp_path, toy_data, install_fixture):
    data, pool = toy_data
    path = install_fixture("seqkit-toytag", "seqkit_toytag")
    out = tmp_path / "m.npz"
    r = run_seqkit("train", "toytag", "--data", data, "--out", out, "-q", pythonpath=path)
    assert r.returncode == 0, r.stderr
    pred = tmp_path / "pred.tsv"
    r = run_seqkit("predict", out, "--input", data / "test.txt", "--out", pred, pythonpath=path)
    assert r.returncode == 0, r.stderr
    gold = [ln.split() for ln in (data / "test.txt").read_text().splitlines() if ln.strip()]
    got = [ln.split("\t") for ln in pred.read_text().splitlines() if ln.strip()]
    assert [w for w, _ in gold] == [w for w, _ in got]
    unseen = [(g, p) for (w, g), (_, p) in zip(gold, got) if w.lower() not in pool]
    assert len(unseen) > 500
    accuracy = np.mean([g == p for g, p in unseen])
    assert accuracy >= 0.98, accuracy
    r = run_seqkit("predict", out, "Bala kamiing lo", pythonpath=path)
    assert r.returncode == 0 and r.stdout.strip() == "Bala/B-PER kamiing/B-V lo/O", r.stdout + r.stderr


def test_composed_model_gradients_end_to_end(toy_data, monkeypatch):
    """Every parameter of the word + casing + char-BiLSTM -> BiLSTM -> CRF model
    against float64 central differences, dropout masks held fixed."""
    import sys

    monkeypatch.syspath_prepend(str(FIXTURES))
    from seqkit_toytag import ToyTagger, read_sentences

    from seqkit.data import collate
    from seqkit.train import forward_loss

    data, _ = toy_data
    task = ToyTagger()
    records = read_sentences(str(data / "train.txt"))[:4]
    enc = task.build_encoders(records, {})
    model = task.build_model(task.dims(enc), {"hidden": 3, "dropout": 0.3}, "numpy", "float64", 0)
    batch = collate([task.encode(r, enc) for r in records], model.kind)
    assert len(set(batch.lengths)) > 1 and batch.sublengths["chars"].max() > 1

    def loss():
        model.seed_dropout(5)
        return forward_loss(model, batch, "sum", backward=False)[0]

    model.zero_grad()
    model.seed_dropout(5)
    forward_loss(model, batch, "sum")
    assert {"char_encoder.embedding.weight", "char_encoder.rnn.weight_hh_l0_reverse", "embedding.weight",
            "embedding_2.weight", "lstm.weight_ih_l0", "dense.weight", "crf.transitions"} <= set(
        model.params())
    errors = gradcheck(loss, model.params(), model.grads(), max_entries=8)
    assert max(errors.values()) < 1e-6, errors
    sys.modules.pop("seqkit_toytag", None)
