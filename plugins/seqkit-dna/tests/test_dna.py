"""Tests of the DNA plugin on tiny made-up fixtures (no shared data is read)."""
from __future__ import annotations

import gzip
import json
import sys

import numpy as np
import pytest
from seqkit_dna import io as dio
from seqkit_dna.alphabet import (
    CODES,
    kmer_ids,
    one_hot,
    reverse_complement,
    to_codes,
    to_string,
)
from seqkit_dna.splits import deduplicate, fold_ids, held_out

from seqkit import SeqkitError
from seqkit.data import collate
from seqkit.predict import predict_records
from seqkit.run import Run, get_task
from seqkit.testing import gradcheck, run_seqkit
from seqkit.train import TrainConfig, forward_loss

HP = {"cell": "lstm", "hidden": 6, "layers": 1, "bidirectional": True, "dropout": 0.0,
      "embed_dim": 3, "nonlinearity": "tanh"}


def random_seq(rng, n, alphabet="ACGT"):
    return "".join(rng.choice(list(alphabet), n))


def toy_classes(n=24, seed=0):
    """Class 'a' holds the motif GGATCC, class 'b' does not."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        s = random_seq(rng, 30)
        if i % 2 == 0:
            p = int(rng.integers(0, 24))
            s = s[:p] + "GGATCC" + s[p + 6:]
        out.append((f"s{i}", "a" if i % 2 == 0 else "b", s))
    return out


def write_fasta(path, rows, gz=False, width=20):
    text = "".join(f">{rid}{' ' + lab if lab else ''}\n" +
                   "\n".join(seq[i:i + width] for i in range(0, len(seq), width)) + "\n"
                   for rid, lab, seq in rows)
    if gz:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


# -- the alphabet ---------------------------------------------------------------
def test_codes_case_iupac_and_reverse_complement():
    codes = to_codes("acgtNRu", "r1")
    assert to_string(codes) == "ACGTNRT"
    assert to_string(reverse_complement(to_codes("AACGTRYN"))) == "NRYACGTT"
    x = one_hot(to_codes("ANR"))
    assert x[0].tolist() == [1, 0, 0, 0]
    assert np.allclose(x[1], 0.25) and np.allclose(x[2], [0.5, 0, 0.5, 0])
    assert np.allclose(one_hot(reverse_complement(codes)), one_hot(codes)[::-1, ::-1])
    all_codes = to_codes(CODES)
    assert np.array_equal(reverse_complement(reverse_complement(all_codes)), all_codes)


@pytest.mark.parametrize("seq, bad, pos", [("ACGTX", "X", 5), ("AC-GT", "-", 3), ("ACGé", "é", 4)])
def test_illegal_character_names_record_and_position(seq, bad, pos):
    with pytest.raises(SeqkitError) as e:
        to_codes(seq, "chr7")
    msg = str(e.value)
    assert "'chr7'" in msg and repr(bad) in msg and f"position {pos}" in msg and "\n" not in msg


def test_kmer_ids():
    ids = kmer_ids(to_codes("ACGTN"), 3)
    # centred: position 1 holds ACG, 2 CGT, 3 GTN (ambiguous: 0); the ends run off
    assert ids[0] == 0 and ids[4] == 0 and ids[3] == 0
    assert ids[1] == 1 + (0 * 16 + 1 * 4 + 2) and ids[2] == 1 + (1 * 16 + 2 * 4 + 3)


# -- readers ------------------------------------------------------------------------
def test_fasta_plain_and_gzipped_with_header_labels(tmp_path):
    rows = [("r1", "x", "ACGTACGTAC" * 5), ("r2", "y", "acgtnnnnRY")]
    for gz in (False, True):
        path = write_fasta(tmp_path / f"a{int(gz)}.fa{'.gz' if gz else ''}", rows, gz=gz)
        assert dio.detect_format(str(path)) == "fasta"
        recs = dio.fasta_records(str(path), need_label=True)
        assert [(r.id, r.label, len(r)) for r in recs] == [("r1", "x", 50), ("r2", "y", 10)]


def test_formats_detected_by_content(tmp_path):
    splice = tmp_path / "s.data"
    splice.write_text("EI,   A-1,   ACGTACGT\nN,   B-2,    ACGTNCGT\n")
    prom = tmp_path / "p.data"
    prom.write_text("+,S10,\t\tacgtacgt\n-,X2,\t\tttttacgt\n")
    tsv = tmp_path / "c.tsv"
    tsv.write_text("id\tsplit\tsequence\tlabels\n1\ttrain\tACGTAC\tNNCCCN\n")
    assert [dio.detect_format(str(p)) for p in (splice, prom, tsv)] == ["splice", "promoters",
                                                                         "cds-tsv"]
    assert [r.label for r in dio.read_splice(str(splice))] == ["EI", "N"]
    assert to_string(dio.read_promoters(str(prom))[0].codes) == "ACGTACGT"
    assert dio.read_cds_tsv(str(tsv))[0].tags == "NNCCCN"


def test_dedup_before_split_and_folds():
    recs = [dio.Record(f"r{i}", to_codes(s), lab) for i, (s, lab) in enumerate(
        [("AAAA", "x"), ("aaaa", "x"), ("CCCC", "y"), ("GGGG", "x"), ("GGGG", "y"), ("TTTT", "y"),
         ("ACAC", "x"), ("CACA", "y")])]
    uniq, stats = deduplicate(recs)
    assert [r.id for r in uniq] == ["r0", "r2", "r5", "r6", "r7"]  # GGGG: x vs y, no majority
    assert stats == {"rows": 8, "unique": 5, "duplicate_rows": 4, "conflicting": 1}
    train, test = held_out(uniq, 0.4)
    assert {r.id for r in train}.isdisjoint({r.id for r in test}) and len(test) == 2
    folds = fold_ids(uniq, 2)
    assert sorted(np.bincount(folds).tolist()) == [2, 3]
    assert fold_ids(uniq, None).tolist() == list(range(5))


# -- models, reverse complement, windows -----------------------------------------------
def make_run(task_name, records, options, hp=HP, seed=0):
    task = get_task(task_name)
    return Run.create(task, records, dict(hp), TrainConfig(seed=seed), options, dtype="float64")


def class_records():
    return [dio.Record(rid, to_codes(s), lab) for rid, lab, s in toy_classes()]


def test_rc_average_classification_is_strand_symmetric(monkeypatch):
    run = make_run("dna-classify", class_records(), {"rc_average": True, "kmer": 3,
                                                     "pool": "last+max"})
    rng = np.random.default_rng(5)
    seqs = [to_codes(random_seq(rng, n, "ACGTNR")) for n in (17, 40)]
    flat = make_run("dna-classify", class_records(), {"rc_average": True})
    assert flat.encoders["pool"] == ["flat"] and flat.encoders["length"] == 30
    s30 = to_codes(random_seq(rng, 30, "ACGTN"))
    a, b = predict_records(flat, [dio.Record("f", s30), dio.Record("r", reverse_complement(s30))])
    assert np.allclose(a.probs, b.probs, atol=1e-12)
    fwd = predict_records(run, [dio.Record("f", c) for c in seqs])
    rev = predict_records(run, [dio.Record("r", reverse_complement(c)) for c in seqs])
    for a, b in zip(fwd, rev):
        assert np.allclose(a.probs, b.probs, atol=1e-12) and a.labels == b.labels
    monkeypatch.setenv("SEQKIT_DNA_RC_AVERAGE", "0")  # one strand only: not symmetric
    one = predict_records(run, [dio.Record("f", seqs[1])])[0].probs
    other = predict_records(run, [dio.Record("r", reverse_complement(seqs[1]))])[0].probs
    assert not np.allclose(one, other)


def tag_records(n=3, T=300, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        s = random_seq(rng, T)
        tags = "".join("C" if (j // 40) % 3 == 1 else "N" for j in range(T))
        out.append(dio.Record(f"g{i}", to_codes(s), None, tags))
    return out


def test_rc_average_tagging_is_mirrored():
    run = make_run("dna-tag", tag_records(), {"rc_average": True, "window": 64, "context": 16})
    codes = to_codes(random_seq(np.random.default_rng(2), 250))
    fwd = predict_records(run, [dio.Record("f", codes)])[0]
    rev = predict_records(run, [dio.Record("r", reverse_complement(codes))])[0]
    assert np.allclose(fwd.probs, rev.probs[::-1], atol=1e-12)
    assert np.array_equal(fwd.labels, rev.labels[::-1])


def test_windows_stitch_without_seams():
    """Windows of 50 bases read with 120 bases of context each side give what the
    whole sequence read at once gives, away from the sequence ends' context."""
    run = make_run("dna-tag", tag_records(), {"window": 50, "context": 120, "kmer": 2})
    codes = to_codes(random_seq(np.random.default_rng(3), 700))
    windowed = predict_records(run, [dio.Record("w", codes)])[0]
    assert len(run.task.prepare(run.encode([dio.Record("w", codes)]), training=False)) == 14
    whole_run = make_run("dna-tag", tag_records(), {"window": 5000, "context": 0, "kmer": 2})
    whole = predict_records(whole_run, [dio.Record("w", codes)])[0]
    assert np.abs(windowed.probs - whole.probs).max() < 1e-6
    assert np.array_equal(windowed.labels, whole.labels)


def test_training_windows_cover_each_sequence_once():
    task = get_task("dna-tag")
    run = make_run("dna-tag", tag_records(), {"window": 64, "rc_augment": True,
                                              "background_windows": 1.0})
    examples = run.encode(tag_records())
    for epoch in range(3):
        wins = task.prepare(examples, training=True, rng=np.random.default_rng(epoch))
        assert sum(w.length for w in wins) == sum(e.length for e in examples)
        assert max(w.length for w in wins) <= 64


@pytest.mark.parametrize("task_name, options", [
    ("dna-classify", {"class_weight": "balanced", "pool": "last+mean+max", "kmer": 2}),
    ("dna-classify", {"pool": "flat", "wide": 2, "ensemble": 3, "kmer": 2}),
    ("dna-classify", {"pool": "max", "wide": 1, "ensemble": 2, "class_weight": "balanced"}),
    ("dna-tag", {"class_weight": "balanced", "kmer": 2}),
    ("dna-tag", {"head": "crf"}),
])
def test_gradients_of_the_plugins_models(task_name, options):
    records = class_records()[:5] if task_name == "dna-classify" else tag_records(2, 56)
    run = make_run(task_name, records, options, {**HP, "hidden": 3})
    model = run.model
    batch = collate(run.encode(records), model.kind)
    model.zero_grad()
    forward_loss(model, batch)
    errors = gradcheck(lambda: forward_loss(model, batch, backward=False)[0], model.params(),
                       model.grads(), max_entries=12)
    assert max(errors.values()) < 1e-5, errors


def test_balanced_weights_and_checkpoint_rebuilds_plugin_layers(tmp_path):
    default = make_run("dna-classify", class_records()[:6], {})
    assert default.encoders["wide"] == 2 and default.model.head.members == 3   # the defaults
    run = make_run("dna-classify", class_records()[:6], {"class_weight": "balanced",
                                                         "ensemble": 1})
    assert run.model.head.type_name == "weighted_softmax"
    assert np.allclose(run.model.head.weights, [1.0, 1.0])
    path = str(tmp_path / "m.npz")
    run.save(path)
    again = Run.load(path)
    assert again.model.head.type_name == "weighted_softmax"
    assert again.model.config() == run.model.config()


def test_ensemble_is_the_mean_of_its_members_and_wide_reads_positions(tmp_path):
    from seqkit_dna.alphabet import kmer_one_hot
    from seqkit_dna.layers import EnsembleSoftmax

    x = kmer_one_hot(to_codes("ACGTNA"), 2)
    assert x.shape == (6, 16)
    # the 2-mer ending at each base: (none), AC, CG, GT, TN and NA (ambiguous: zero rows)
    assert [int(v.argmax()) for v in x[1:4]] == [1, 6, 11] and (x[1:4].sum(1) == 1).all()
    assert x[0].sum() == 0 and x[4].sum() == 0 and x[5].sum() == 0
    head = EnsembleSoftmax(3, members=2)
    z = np.array([[0.0, 1.0, 2.0, 3.0, 0.0, 0.0]])
    p1, p2 = np.exp(z[0, :3]) / np.exp(z[0, :3]).sum(), np.exp(z[0, 3:]) / np.exp(z[0, 3:]).sum()
    assert np.allclose(head.probabilities(z), (p1 + p2) / 2)
    assert head.decode(z).tolist() == [0]
    loss, _, n = head.loss(z, np.array([2]), np.array([1.0]), 1, "mean")
    assert n == 1 and np.isclose(loss, -(np.log(p1[2]) + np.log(p2[2])) / 2)
    run = make_run("dna-classify", class_records()[:8], {"wide": 2, "ensemble": 3, "kmer": 0,
                                                         "rc_average": True})
    assert run.model.head.type_name == "ensemble_softmax" and run.encoders["length"] == 30
    path = str(tmp_path / "m.npz")
    run.save(path)
    again = Run.load(path)
    assert again.model.config() == run.model.config()
    seq = class_records()[0].codes
    fwd = predict_records(again, [dio.Record("f", seq)])[0].probs
    rev = predict_records(again, [dio.Record("r", reverse_complement(seq))])[0].probs
    assert np.allclose(fwd, rev, atol=1e-12)
    with pytest.raises(SeqkitError, match="exactly 30"):
        predict_records(again, [dio.Record("short", seq[:20])])


def test_wide_needs_one_length():
    recs = class_records()[:6] + [dio.Record("x", to_codes("ACGTACGTAC"), "a")]
    with pytest.raises(SeqkitError, match="--wide needs training sequences of one length"):
        make_run("dna-classify", recs, {"wide": 2})


# -- the command line ----------------------------------------------------------------
def test_cli_classify_train_evaluate_predict_and_cv(tmp_path):
    data = write_fasta(tmp_path / "train.fa.gz", toy_classes(30), gz=True)
    out = tmp_path / "m.npz"
    r = run_seqkit("train", "dna-classify", "--data", data, "--out", out, "--epochs", "2",
                   "--hidden", "4", "-q", "--rc-average")
    assert r.returncode == 0, r.stderr
    r = run_seqkit("evaluate", out, "--data", data, "--json")
    assert r.returncode == 0, r.stderr
    metrics = json.loads(r.stdout)
    assert {"accuracy", "f1_a", "precision_b", "confusion_a_b"} <= metrics.keys()
    inputs = write_fasta(tmp_path / "in.fa", [("q1", "", "ACGTGGATCCACGT" * 2 + "AC"),
                                              ("q2", "", "acgtn" * 6)])
    pred = tmp_path / "pred.tsv"
    r = run_seqkit("predict", out, "--input", inputs, "--out", pred)
    assert r.returncode == 0, r.stderr
    lines = pred.read_text().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == ["q1", "q2"]
    rid, label, probs = lines[0].split("\t")
    assert label in ("a", "b") and abs(sum(float(p.split("=")[1]) for p in probs.split(",")) - 1) < 1e-3
    r = run_seqkit("predict", out, "ACGT")  # the flat readout reads 30 bases, no other length
    assert r.returncode != 0 and "exactly 30" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_seqkit("dna-cv", "dna-classify", "--data", data, "--cv", "3", "--epochs", "1",
                   "--hidden", "3", "--json", "-q")
    assert r.returncode == 0, r.stderr
    cv = json.loads(r.stdout)
    assert cv["folds"] == 3 and sum(f["n"] for f in cv["per_fold"]) == 30


def test_cli_tag_with_bed_labels_and_bed_predictions(tmp_path):
    rng = np.random.default_rng(4)
    seqs = [("g1", "", random_seq(rng, 400)), ("g2", "", random_seq(rng, 250))]
    fasta = write_fasta(tmp_path / "genes.fa", seqs, width=60)
    bed = tmp_path / "cds.bed"
    bed.write_text("g1\t50\t120\tC\ng1\t200\t260\tC\ng2\t10\t90\tC\n")
    out = tmp_path / "t.npz"
    r = run_seqkit("train", "dna-tag", "--data", fasta, "--labels", bed, "--out", out,
                   "--epochs", "1", "--hidden", "4", "--layers", "1", "--window", "100",
                   "--test-fraction", "0", "--valid-fraction", "0", "-q", "--class-weight",
                   "balanced")
    assert r.returncode == 0, r.stderr
    pred = tmp_path / "p.bed"
    r = run_seqkit("predict", out, "--input", fasta, "--out", pred)
    assert r.returncode == 0, r.stderr
    for line in pred.read_text().splitlines():
        rid, start, end, label, score = line.split("\t")
        assert rid in ("g1", "g2") and 0 <= int(start) < int(end) and label == "C"


BAD = {
    "empty": ("", "no FASTA records"),
    "no sequence": (">a x\nACGT\n>b y\n>c x\nACGT\n", "record 'b' has no sequence"),
    "no label": (">a x\nACGT\n>b\nACGT\n", "record 'b' has no label"),
    "illegal": (">a x\nACGT\n>b y\nACJT\n", "illegal character 'J' at position 3"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_nonzero(tmp_path, case):
    text, expected = BAD[case]
    data = tmp_path / "bad.fa"
    data.write_text(text)
    r = run_seqkit("train", "dna-classify", "--data", data, "--out", tmp_path / "m.npz", "-q")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and expected in lines[0], r.stderr


def test_label_file_naming_unknown_ids(tmp_path):
    data = write_fasta(tmp_path / "x.fa", [("a", "", "ACGT"), ("b", "", "ACGA")])
    labels = tmp_path / "labels.tsv"
    labels.write_text("a\tx\nb\ty\nzz\tx\n")
    r = run_seqkit("train", "dna-classify", "--data", data, "--labels", labels,
                   "--out", tmp_path / "m.npz", "-q")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "not in the sequences: 'zz'" in lines[0], r.stderr


def test_python_dash_m_seqkit_lists_the_tasks():
    import subprocess

    r = subprocess.run([sys.executable, "-m", "seqkit", "tasks"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "dna-classify" in r.stdout and "dna-tag" in r.stdout
