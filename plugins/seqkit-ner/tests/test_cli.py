"""Task ``ner`` end to end through the real CLI on made-up data: train, evaluate,
predict (text and files), seqeval on the written file, and bad input as one line."""
import json

import numpy as np
import pytest
from seqeval.metrics import f1_score
from seqeval.scheme import IOB2

from seqkit.testing import run_seqkit

FAST = ["--hidden", "16", "--embed-dim", "16", "--char-dim", "8", "--char-hidden", "8",
        "--case-dim", "4", "--batch-size", "8", "--optimizer", "adam", "--lr", "0.01", "-q"]


def ok(r):
    assert r.returncode == 0, r.stderr
    return r


def one_line_error(r, *fragments):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert len(lines) == 1, r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(toy_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("ner") / "m.npz"
    r = ok(run_seqkit("train", "ner", "--data", toy_data, "--epochs", "4", "--out", out, *FAST))
    assert "valid_f1" in r.stderr
    return out


def test_manifest_and_learning(trained):
    with np.load(trained, allow_pickle=False) as f:
        m = json.loads(bytes(f["__manifest__"]).decode())
        names = set(f.files)
    assert m["task"]["name"] == "ner" and m["task"]["distribution"] == "seqkit-ner"
    assert m["encoders"]["tags"][:5] == ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]
    assert "model/crf.transitions" in names and "model/char_encoder.rnn.weight_hh_l0" in names
    assert m["history"][-1]["valid_f1"] > 50  # four epochs of Adam on template sentences


def test_evaluate_equals_seqeval_on_predicted_file(trained, toy_data, tmp_path):
    metrics = json.loads(ok(run_seqkit("evaluate", trained, "--data", toy_data, "--split", "test",
                                       "--json")).stdout)
    assert {"precision", "recall", "f1", "PER_f1", "LOC_precision", "ORG_recall"} <= metrics.keys()
    out = tmp_path / "pred.conll"
    ok(run_seqkit("predict", trained, "--input", toy_data / "test.txt", "--out", out))
    lines = out.read_text(encoding="utf-8").split("\n")
    source = (toy_data / "test.txt").read_text(encoding="utf-8").split("\n")
    assert lines[0] == "-DOCSTART- -X- -X- O O"
    gold, pred = [], []
    for line, src in zip(lines, source):
        assert line.startswith(src)  # the input's columns, then the prediction
        cols = line.split()
        if not cols:
            if gold and gold[-1]:
                gold.append([]), pred.append([])
            continue
        if cols[0] != "-DOCSTART-":
            gold[-1:] = [(gold[-1] if gold else []) + [cols[-2]]]
            pred[-1:] = [(pred[-1] if pred else []) + [cols[-1]]]
    gold, pred = [g for g in gold if g], [p for p in pred if p]
    ref = 100 * f1_score(gold, pred, mode="strict", scheme=IOB2)
    assert metrics["f1"] == pytest.approx(ref, abs=1e-9)


def test_predict_text_prints_token_tag_pairs(trained):
    out = ok(run_seqkit("predict", trained, "Alice Varga flew to Quito on Monday .")).stdout
    pairs = [p.rsplit("/", 1) for p in out.split()]
    assert [w for w, _ in pairs] == "Alice Varga flew to Quito on Monday .".split()
    assert all(t == "O" or t[:2] in ("B-", "I-") for _, t in pairs)


def test_softmax_head_and_iobes_files(toy_data, tmp_path):
    # IOBES files in, IOBES predictions out, with a softmax head
    from seqkit_ner.conll import convert

    data = tmp_path / "data"
    data.mkdir()
    for name in ("dev.txt", "test.txt"):
        rows = []
        for line in (toy_data / name).read_text().split("\n"):
            rows.append(line.split())
        out, sent = [], []
        for cols in rows + [[]]:
            if cols and cols[0] != "-DOCSTART-":
                sent.append(cols)
                continue
            tags = convert([c[-1] for c in sent], "iob2", "iobes")
            out += [" ".join(c[:-1] + [t]) for c, t in zip(sent, tags)] + ([""] if sent else [])
            sent = []
        (data / name.replace("dev", "train")).write_text("\n".join(out) + "\n")
    m = tmp_path / "soft.npz"
    ok(run_seqkit("train", "ner", "--data", data, "--epochs", "1", "--out", m, "--head", "softmax",
                  "--tag-scheme", "iobes", *FAST))
    out = ok(run_seqkit("predict", m, "Bruno Novak lives in Lisbon .")).stdout
    assert all(t == "O" or t[:2] in ("B-", "I-", "E-", "S-") for t in
               (p.rsplit("/", 1)[1] for p in out.split()))


# (every other bad file is checked through the reader in test_conll.py)
@pytest.mark.parametrize("content,fragment", [
    ("John B-PER\nlives\n", "train.txt:2: expected a token and a tag column"),
    ("John O\nlives I-PER\n", "train.txt:2: I-PER does not continue"),
    (b"John B-PER\n\nM\xfcller B-PER\n", "train.txt:3: not UTF-8"),
])
def test_malformed_input_is_one_line(tmp_path, content, fragment):
    d = tmp_path / "d"
    d.mkdir()
    data = content if isinstance(content, bytes) else content.encode()
    (d / "train.txt").write_bytes(data)
    r = run_seqkit("train", "ner", "--data", d, "--out", tmp_path / "m.npz", "-q")
    one_line_error(r, fragment)


def test_directory_without_train_file(tmp_path):
    (tmp_path / "test.txt").write_text("John B-PER\n")
    one_line_error(run_seqkit("train", "ner", "--data", tmp_path, "--out", tmp_path / "m.npz"),
                   "no train file")


def test_fast_prediction_gives_the_tags_of_the_full_computation(trained, toy_data, monkeypatch):
    """predict skips the CRF marginals (NER never reads them) and reads each word type's
    characters once per batch; the tags must be those of marginals + per-token reading."""
    from seqkit_ner.task import NERTask

    from seqkit import CharEncoder
    from seqkit.predict import predict_records
    from seqkit.run import Run

    run = Run.load(trained)
    records = run.task.read_inputs(str(toy_data / "test.txt"), run.encoders)
    assert NERTask.prediction_probabilities is False
    fast = predict_records(run, records)
    assert all(o.probs is None for o in fast)
    monkeypatch.setattr(CharEncoder, "per_type", False)
    full = predict_records(run, records, probabilities=True)
    assert [o.probs.shape for o in full] == [(len(r.words), len(run.encoders["tags"])) for r in records]
    np.testing.assert_allclose([o.probs.sum(1) for o in full][0], 1.0, atol=1e-5)
    assert [o.labels.tolist() for o in fast] == [o.labels.tolist() for o in full]
    assert len({t for o in fast for t in o.labels.tolist()}) > 2  # entities are predicted
