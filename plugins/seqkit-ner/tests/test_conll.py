"""CoNLL reading and writing, tag schemes, and the one-line errors of bad files."""
import gzip

import pytest
from seqkit_ner.conll import convert, find_splits, from_spans, read_conll, to_spans, write_conll

from seqkit import SeqkitError

IOB2 = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O", "B-ORG"]
IOB1 = ["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-LOC", "O", "I-ORG"]
IOBES = ["B-PER", "E-PER", "O", "S-LOC", "B-LOC", "E-LOC", "O", "S-ORG"]
SPANS = [(0, 2, "PER"), (3, 4, "LOC"), (4, 6, "LOC"), (7, 8, "ORG")]


@pytest.mark.parametrize("scheme,tags", [("iob2", IOB2), ("iob1", IOB1), ("iobes", IOBES)])
def test_schemes_round_trip(scheme, tags):
    assert to_spans(tags, scheme, where=str) == SPANS
    assert from_spans(SPANS, len(tags), scheme) == tags
    for other, other_tags in [("iob2", IOB2), ("iob1", IOB1), ("iobes", IOBES)]:
        assert convert(tags, scheme, other, where=str) == other_tags


@pytest.mark.parametrize("scheme,tags,fragment", [
    ("iob2", ["O", "I-PER"], "I-PER does not continue"),
    ("iob2", ["B-PER", "I-LOC"], "I-LOC does not continue"),
    ("iob2", ["S-PER"], "invalid tag 'S-PER'"),
    ("iob2", ["PER"], "invalid tag 'PER'"),
    ("iobes", ["B-PER", "O"], "no E-PER"),
    ("iobes", ["B-PER", "I-PER"], "without E-PER"),
    ("iobes", ["O", "E-LOC"], "E-LOC does not continue"),
])
def test_invalid_sequences_name_the_token(scheme, tags, fragment):
    with pytest.raises(SeqkitError, match=fragment) as e:
        to_spans(tags, scheme, where=lambda i: f"f.txt:{i + 10}")
    assert str(e.value).startswith("f.txt:1") and "\n" not in str(e.value)


def test_lenient_reading_of_model_output():
    # a softmax head may emit what no scheme allows: read as conlleval would
    assert to_spans(["I-PER", "E-PER", "O", "E-LOC", "B-ORG", "O"], "iobes") == [
        (0, 2, "PER"), (3, 4, "LOC"), (4, 5, "ORG")]


def test_read_columns_docstart_gzip_and_tag_column(tmp_path):
    text = ("-DOCSTART- -X- -X- O\n\nJohn NNP B-NP B-PER\nlives VBZ B-VP O\nin IN B-PP O\n"
            "New NNP B-NP B-LOC\nYork NNP I-NP I-LOC\n\n\n-DOCSTART- -X- -X- O\n\nOk UH B-INTJ O\n")
    path = tmp_path / "train.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text)
    first, second = read_conll(str(path))
    assert first.words == ["John", "lives", "in", "New", "York"]
    assert first.tags == ["S-PER", "O", "O", "B-LOC", "E-LOC"]
    assert first.header == ["-DOCSTART- -X- -X- O"] and first.lines == [3, 4, 5, 6, 7]
    assert second.words == ["Ok"] and second.header == ["-DOCSTART- -X- -X- O"]
    # the chunk column as tags (column 3, IOB2)
    assert read_conll(str(path), tag_column=3)[0].tags == ["S-NP", "S-VP", "S-PP", "B-NP", "E-NP"]


def test_tab_separated_tokens_keep_spaces(tmp_path):
    path = tmp_path / "t.conll"
    path.write_text("New York\tB-LOC\nis\tO\n", encoding="utf-8")
    (s,) = read_conll(str(path))
    assert s.words == ["New York", "is"] and s.tags == ["S-LOC", "O"]
    out = tmp_path / "out.conll"
    write_conll(str(out), [s], [["B-LOC", "O"]])
    assert out.read_text() == "New York\tB-LOC\tB-LOC\nis\tO\tO\n\n"


@pytest.mark.parametrize("content,fragment", [
    (b"John B-PER\nlives\n", "t.txt:2: expected a token and a tag column"),
    (b"John B-PER\nlives Q-X\n", "t.txt:2: invalid tag 'Q-X'"),
    (b"\n\n-DOCSTART- -X- O\n\n", "t.txt:4: no sentences"),
    (b"John B-PER\n\nM\xfcller B-PER\n", "t.txt:3: not UTF-8"),
    (b"", "t.txt:1: no sentences"),
])
def test_bad_files_are_one_line_errors(tmp_path, content, fragment):
    path = tmp_path / "t.txt"
    path.write_bytes(content)
    with pytest.raises(SeqkitError) as e:
        read_conll(str(path))
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_find_splits(tmp_path):
    for name in ("train.txt", "testa.txt", "testb.txt", "README.md"):
        (tmp_path / name).write_text("x O\n")
    found = find_splits(str(tmp_path))
    assert {k: v.rsplit("/", 1)[1] for k, v in found.items()} == {
        "train": "train.txt", "valid": "testa.txt", "test": "testb.txt"}
    (tmp_path / "dev.txt").write_text("x O\n")
    with pytest.raises(SeqkitError, match="several valid files"):
        find_splits(str(tmp_path))
    with pytest.raises(SeqkitError, match="no train file"):
        (tmp_path / "empty").mkdir()
        find_splits(str(tmp_path / "empty"))
