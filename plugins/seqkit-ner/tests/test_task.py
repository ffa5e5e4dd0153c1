"""The task's pieces from Python: features, word dropout, evaluation order,
pretrained vectors."""
import numpy as np
import pytest
from seqkit_ner.conll import Sentence
from seqkit_ner.task import CASES, NERTask, casing, normalise, read_vectors

from seqkit import SeqkitError
from seqkit.examples import Output

TRAIN = [Sentence(["Anna", "met", "Bo", "in", "Oslo", "in", "1999", "."],
                  ["S-PER", "O", "S-PER", "O", "S-LOC", "O", "O", "O"]),
         Sentence(["Bo", "left", "."], ["S-PER", "O", "O"])]


def test_casing_and_normalising():
    kinds = [CASES[casing(w)] for w in ["word", "WHO", "Paris", "1999", "12-3", "A4", "iPhone", "..."]]
    assert kinds == ["lower", "upper", "title", "numeric", "mainly_numeric", "upper", "mixed", "other"]
    assert casing("iPhone4") == CASES.index("contains_digit")
    assert normalise("Paris-1999") == "paris-0000"


def test_encoders_and_encode():
    task = NERTask()
    enc = task.build_encoders(TRAIN, {})
    assert enc["tags"] == ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-PER", "I-PER", "E-PER", "S-PER"]
    assert enc["words"][0] == "<unk>" and enc["words"][1:3] == [".", "bo"]  # by count, then by name
    ex = task.encode(Sentence(["Bo", "visited", "OSLO"], ["S-PER", "O", "S-LOC"]), enc)
    assert ex.x["words"].tolist() == [enc["words"].index("bo"), 0, enc["words"].index("oslo")]
    assert [len(c) for c in ex.x["chars"]] == [2, 7, 4]
    assert ex.y.tolist() == [8, 0, 4]
    # word dropout a / (a + count), a = 1: "bo" was seen twice, "oslo" once, <unk> stays
    assert ex.meta["unk_p"].tolist() == pytest.approx([1 / 3, 0.0, 1 / 2])
    with pytest.raises(SeqkitError, match="tag 'S-ORG' of a type the model was not trained on"):
        task.encode(Sentence(["Acme"], ["S-ORG"], lines=[7], source="f.txt"), enc)


def test_word_dropout_follows_counts():
    task = NERTask()
    enc = task.build_encoders(TRAIN * 50, {"word_dropout": 100.0})
    examples = [task.encode(s, enc) for s in TRAIN * 50]
    counts = dict(zip(enc["words"], enc["counts"]))
    dropped = task.prepare(examples, training=True, rng=np.random.default_rng(0))
    words = np.concatenate([e.x["words"] for e in examples])
    unk = np.concatenate([d.x["words"] == 0 for d in dropped])
    bo = words == enc["words"].index("bo")                  # seen 100 times
    assert unk[bo].mean() == pytest.approx(100 / (100 + counts["bo"]), abs=0.15)  # 1/2
    assert task.prepare(examples, training=False) is examples
    off = task.build_encoders(TRAIN, {"word_dropout": 0})
    assert task.encode(TRAIN[0], off).meta["unk_p"] is None


def test_evaluation_batches_by_length_and_stitches_back():
    task = NERTask()
    enc = task.build_encoders(TRAIN, {})
    examples = [task.encode(Sentence(["x"] * n, ["O"] * n), enc) for n in (3, 9, 1, 5)]
    (batch,) = task.batches(examples, 64, None)
    assert [examples[i].length for i in batch] == [9, 5, 3, 1]
    outputs = [Output(None, np.full(examples[i].length, i)) for i in batch]
    assert [o.labels[0] for o in task.stitch(outputs, examples, examples)] == [0, 1, 2, 3]


def test_pretrained_vectors(tmp_path):
    path = tmp_path / "vec.txt"
    path.write_text("3 2\nParis 1 2\nparis 3 4\nBo 5 6\nzzz 7 8\n", encoding="utf-8")
    rows, values = read_vectors(str(path), ["<unk>", "bo", "paris"])
    assert rows.tolist() == [1, 2] and values.tolist() == [[5, 6], [3, 4]]  # exact form wins
    task = NERTask()
    enc = task.build_encoders(TRAIN, {"embeddings": str(path)})
    hp = {"embed_dim": 100, "hidden": 4, "cell": "lstm", "dropout": 0.5}
    model = task.build_model(task.dims(enc), hp, None, "float64", 0)
    W = model.params()["embedding.weight"]
    assert W.shape == (len(enc["words"]), 2)
    assert W[enc["words"].index("bo")].tolist() == [5, 6]
    (tmp_path / "bad.txt").write_text("a 1 2\nb 1\n")
    with pytest.raises(SeqkitError, match="bad.txt:2: 1 numbers, expected 2"):
        read_vectors(str(tmp_path / "bad.txt"), ["a", "b"])


def test_encode_keeps_word_features_and_gives_what_a_fresh_task_gives(monkeypatch):
    import seqkit_ner.task as task_module

    task = NERTask()
    enc = task.build_encoders(TRAIN, {})
    monkeypatch.setattr(task_module, "FEATURE_CACHE", 3)  # emptied now and then on the way
    sentences = [Sentence(["Bo", "met", "Bo", "in", "OSLO", "1999", "Bo"]), TRAIN[0], TRAIN[1]]
    again = [task.encode(s, enc) for s in sentences * 2]
    for s, ex in zip(sentences * 2, again):
        fresh = NERTask().encode(s, enc)
        for name in ("words", "case"):
            assert ex.x[name].tolist() == fresh.x[name].tolist()
        assert [c.tolist() for c in ex.x["chars"]] == [c.tolist() for c in fresh.x["chars"]]
    assert not again[0].x["chars"][0].flags.writeable  # shared between tokens: read-only
    assert len(task._cache[-1]) <= 3
    assert again[0].meta["unk_p"] is None  # untagged input: no word dropout to prepare
