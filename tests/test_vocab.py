import json

import numpy as np
import pytest

from seqkit.errors import SeqkitError
from seqkit.vocab import Vocabulary

CORPUS = [["the", "cat", "sat"], ["the", "dog", "sat"], ["a", "cat", "ran"]]


def test_build_orders_by_count_then_first_appearance():
    v = Vocabulary.build(CORPUS, specials=("<unk>", "<eos>"))
    assert v.tokens == ["<unk>", "<eos>", "the", "cat", "sat", "dog", "a", "ran"]
    assert v.unk == "<unk>" and v.unk_index == 0 and v.index("<eos>") == 1
    assert len(v) == 8 and "dog" in v and "cow" not in v
    assert Vocabulary.build(CORPUS, specials=("<unk>", "<eos>")) == v  # deterministic


def test_max_size_counts_specials_and_min_count():
    v = Vocabulary.build(CORPUS, max_size=4)
    assert v.tokens == ["<unk>", "the", "cat", "sat"]
    assert Vocabulary.build(CORPUS, min_count=2).tokens == ["<unk>", "the", "cat", "sat"]
    with pytest.raises(SeqkitError, match="max_size"):
        Vocabulary.build(CORPUS, max_size=1, specials=("<unk>", "<eos>"))


def test_specials_in_the_corpus_are_not_repeated():
    v = Vocabulary.build([["<eos>", "x", "<eos>"]], specials=("<unk>", "<eos>"))
    assert v.tokens == ["<unk>", "<eos>", "x"]


def test_encode_decode_and_unknowns():
    v = Vocabulary.build(CORPUS)
    ids = v.encode(["the", "cow", "sat"])
    assert ids.dtype == np.int64 and ids.tolist() == [1, 0, 3]
    assert v.decode(ids) == ["the", "<unk>", "sat"]
    assert v.decode([2, 1]) == ["cat", "the"]
    assert v.decode([]) == [] and v.encode([]).shape == (0,)
    with pytest.raises(SeqkitError, match="outside the vocabulary"):
        v.decode([len(v)])
    with pytest.raises(SeqkitError, match="outside"):
        v.decode(np.array([-1]))
    with pytest.raises(SeqkitError, match="1-D"):
        v.decode(np.zeros((2, 2), dtype=np.int64))


def test_characters():
    v = Vocabulary.build(["aab", "ba\n"], specials=())
    assert v.tokens == ["a", "b", "\n"] and v.unk_index is None
    assert "".join(v.decode(v.encode("ab\n"))) == "ab\n"
    with pytest.raises(SeqkitError, match="no <unk>"):
        v.index("z")


def test_json_round_trip():
    v = Vocabulary.build(CORPUS, specials=("<unk>", "<eos>"))
    d = json.loads(json.dumps(v.to_json()))
    assert Vocabulary.from_json(d) == v
    with pytest.raises(SeqkitError, match="invalid vocabulary"):
        Vocabulary.from_json({"tokens": "abc"})
    with pytest.raises(SeqkitError, match="distinct"):
        Vocabulary(["a", "b", "a"])
