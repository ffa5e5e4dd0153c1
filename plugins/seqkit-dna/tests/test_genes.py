"""The gene-structure decoder (``dna-tag --decode gene``) on made-up genes."""
from __future__ import annotations

import json

import numpy as np
import pytest
from seqkit_dna.alphabet import to_codes
from seqkit_dna.genes import GeneModel, gene_states
from seqkit_dna.tasks import gene_labels

from seqkit.testing import run_seqkit

STOPS = {"TAA", "TAG", "TGA"}
# a codon usage far from uniform: what makes coding DNA countable
CODONS = ["GCC", "GAG", "AAG", "CTG", "GAC", "ATC", "TTC", "AAC", "CAG", "GTG", "AGC", "ACC"]


def synthetic_gene(rng):
    """(sequence, coding mask): random flanks, ATG + biased codons + TAA cut into
    2-4 exons at any phase, AT-rich introns GT...AG between them."""
    p = np.arange(1, len(CODONS) + 1) ** -1.0
    body = "".join(rng.choice(CODONS, int(rng.integers(60, 120)), p=p / p.sum()))
    cds = "ATG" + body + "TAA"
    cuts = sorted(rng.choice(np.arange(20, len(cds) - 20), int(rng.integers(1, 4)), replace=False))
    exons = [cds[a:b] for a, b in zip([0, *cuts], [*cuts, len(cds)])]
    at_rich = ["A", "T", "T", "A", "C", "G", "A", "T"]
    seq, mask = [], []
    flank = "".join(rng.choice(list("ACGT"), int(rng.integers(100, 250))))
    seq.append(flank)
    mask.append(np.zeros(len(flank), bool))
    for k, exon in enumerate(exons):
        seq.append(exon)
        mask.append(np.ones(len(exon), bool))
        if k < len(exons) - 1:
            intron = "GTAAGT" + "".join(rng.choice(at_rich, int(rng.integers(80, 200)))) + "TTTCAG"
            seq.append(intron)
            mask.append(np.zeros(len(intron), bool))
    flank = "".join(rng.choice(list("ACGT"), int(rng.integers(100, 250))))
    seq.append(flank)
    mask.append(np.zeros(len(flank), bool))
    return "".join(seq), np.concatenate(mask)


def genes(n, seed):
    rng = np.random.default_rng(seed)
    return [synthetic_gene(rng) for _ in range(n)]


@pytest.fixture(scope="module")
def fitted():
    train = genes(30, 0)
    return GeneModel.fit([to_codes(s) for s, _ in train], [m for _, m in train])


def f1(pred, true):
    tp = (pred & true).sum()
    return 2 * tp / max(pred.sum() + true.sum(), 1)


def test_gene_states_count_codon_positions_across_introns():
    #        N N C C C C I I I C C N
    coding = np.array([0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0], bool)
    # exon 1 holds codon positions 0 1 2 0; the intron's next exon base is position 1
    assert gene_states(coding).tolist() == [0, 0, 1, 2, 3, 1, 5, 5, 5, 2, 3, 0]
    assert gene_states(np.zeros(5, bool)).tolist() == [0] * 5


def obeys_the_grammar(seq: str, z: np.ndarray) -> list[str]:
    """Every way ``z`` breaks the gene grammar on ``seq`` (empty when it obeys)."""
    bad = []
    exon = (z >= 1) & (z <= 3)
    for t in range(1, len(z)):
        a, b = int(z[t - 1]), int(z[t])
        if a == 0 and b == 1 and seq[t:t + 3] != "ATG":
            bad.append(f"gene start at {t} without ATG")
        if a == 3 and b == 0 and seq[t - 3:t] not in STOPS:
            bad.append(f"gene end at {t} after {seq[t - 3:t]}")
        if exon[t - 1] and z[t] >= 4 and seq[t:t + 2] != "GT":
            bad.append(f"intron at {t} starts {seq[t:t + 2]}")
        if z[t - 1] >= 4 and exon[t] and seq[t - 2:t] != "AG":
            bad.append(f"intron ending at {t} ends {seq[t - 2:t]}")
        if exon[t - 1] and exon[t] and b != a % 3 + 1:
            bad.append(f"frame jumps {a}->{b} at {t}")
        if a == 3 and b == 1 and seq[t - 3:t] in STOPS:
            bad.append(f"in-frame stop {seq[t - 3:t]} before {t}")
        if z[t - 1] >= 4 and exon[t] and b != a - 3:
            bad.append(f"intron phase {a - 4} resumes at codon position {b - 1}")
    return bad


def test_the_gene_model_finds_made_up_genes(fitted):
    test = genes(6, 1)
    for s, mask in test:
        z = fitted.decode(to_codes(s))
        assert obeys_the_grammar(s, z) == []
        assert f1((z >= 1) & (z <= 3), mask) > 0.9


def test_an_in_frame_stop_codon_breaks_the_gene(fitted):
    checked = 0
    for s, mask in genes(4, 8):
        z = gene_states(mask)
        # the codon at the middle of the coding bases, replaced by a stop
        first = np.flatnonzero(z == 1)
        at = int(first[len(first) // 2])
        if not (z[at:at + 3] == [1, 2, 3]).all():
            continue                      # that codon is split by an intron
        broken = s[:at] + "TGA" + s[at + 3:]
        path = fitted.decode(to_codes(broken))
        assert obeys_the_grammar(broken, path) == []
        assert not ((path[at:at + 3] == [1, 2, 3]).all() and path[at + 3] in (1, 4))
        checked += 1
    assert checked >= 2                   # not every gene skipped


def test_decoding_random_dna_obeys_the_grammar(fitted):
    rng = np.random.default_rng(7)
    for _ in range(5):
        s = "".join(rng.choice(list("ACGT"), 3000))
        z = fitted.decode(to_codes(s))
        assert obeys_the_grammar(s, z) == []


def dense_viterbi(model, codes, evidence=None):
    """The textbook form of the same decoder: a 7 x 7 score matrix a base, the grammar's
    refusals written into it, argmax over every predecessor (the reference the
    per-state sweep of ``GeneModel.decode`` must equal)."""
    from seqkit_dna.genes import NEG
    e = model.emissions(codes) + (0 if evidence is None else evidence)
    start, stop, gt, ag = model.signals(codes)
    v, back = np.log(1 / 7) + e[0], np.zeros((len(codes), 7), dtype=np.int64)
    for t in range(1, len(codes)):
        M = v[:, None] + model.log_trans
        M[0, 1] = M[0, 1] if start[t] else NEG
        M[3, 1 if stop[t] else 0] = NEG
        M[[1, 2, 3], [5, 6, 4]] += gt[t]
        M[[4, 5, 6], [1, 2, 3]] += ag[t]
        back[t] = M.argmax(0)
        v = M[back[t], np.arange(7)] + e[t]
    z = [int(v.argmax())]
    for t in range(len(codes) - 1, 0, -1):
        z.append(back[t, z[-1]])
    return np.array(z[::-1])


@pytest.mark.parametrize("block", [65_536, 7])
def test_the_decoder_equals_the_dense_viterbi(fitted, monkeypatch, block):
    """The per-state sweep (Python floats, in blocks of bases) finds the very path the
    7 x 7 matrix form finds, with and without evidence, across block edges."""
    import seqkit_dna.genes as genes_module
    monkeypatch.setattr(genes_module, "_BLOCK", block)
    rng = np.random.default_rng(11)
    cases = [to_codes(s) for s, _ in genes(3, 5)]
    cases += [to_codes("".join(rng.choice(list("ACGT"), 1500))), to_codes("ACGTNNATGTAAGT")]
    for codes in cases:
        assert (fitted.decode(codes) == dense_viterbi(fitted, codes)).all()
        evidence = np.zeros((len(codes), 7))
        evidence[:, 1:4] = rng.normal(0, 2, (len(codes), 1))
        assert (fitted.decode(codes, evidence) == dense_viterbi(fitted, codes, evidence)).all()
    assert fitted.decode(to_codes("A")).tolist() == [int(np.argmax(fitted.emissions(to_codes("A"))[0]))]


def test_evidence_moves_the_path_and_json_round_trips(fitted):
    s, mask = genes(1, 2)[0]
    codes = to_codes(s)
    again = GeneModel.from_json(json.loads(json.dumps(fitted.to_json())))
    assert (again.decode(codes) == fitted.decode(codes)).all()
    against = np.zeros((len(s), 7))
    against[:, 1:4] = -50.0               # overwhelming evidence that nothing is coding
    assert not fitted.coding(codes, against).any() and fitted.coding(codes).any()


def test_the_networks_evidence_enters_with_its_weight(fitted):
    s, _ = genes(1, 9)[0]
    codes = to_codes(s)
    says_background = np.tile([1 - 1e-6, 1e-6], (len(s), 1))   # a network sure nothing codes
    assert gene_labels(fitted, codes, says_background, 0.0).any()        # the gene model alone
    assert not gene_labels(fitted, codes, says_background, 10.0).any()   # the network outweighs it


def write_table(path, splits):
    lines = ["id\tsplit\tsequence\tlabels"]
    for split, rows in splits.items():
        for i, (s, m) in enumerate(rows):
            lines.append(f"{split}{i}\t{split}\t{s}\t{''.join('C' if c else 'N' for c in m)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_cli_decode_gene_train_evaluate_predict(tmp_path):
    data = write_table(tmp_path / "genes.tsv", {"train": genes(24, 3), "valid": genes(3, 4),
                                                "test": genes(4, 5)})
    common = ["--epochs", "1", "--hidden", "4", "--window", "200", "--context", "50", "-q"]
    scores = {}
    for decode in ("base", "gene"):
        out = tmp_path / f"{decode}.npz"
        r = run_seqkit("train", "dna-tag", "--data", data, "--decode", decode, "--out", out,
                       *common)
        assert r.returncode == 0, r.stderr
        r = run_seqkit("evaluate", out, "--data", data, "--json")
        assert r.returncode == 0, r.stderr
        scores[decode] = json.loads(r.stdout)["f1_C"]
    # one epoch of a 4-unit network tags almost nothing; the gene model finds the genes
    assert scores["gene"] > 0.9 > scores["base"] + 0.3
    fasta = tmp_path / "test.fa"
    test = genes(4, 5)
    # and records shorter than a splice site's window (23 bases) decode too
    fasta.write_text("".join(f">t{i}\n{s}\n" for i, (s, _) in enumerate(test))
                     + ">short\nACGTATGAAGT\n>one\nA\n")
    bed = tmp_path / "cds.bed"
    r = run_seqkit("predict", tmp_path / "gene.npz", "--input", fasta, "--out", bed)
    assert r.returncode == 0, r.stderr
    called = {f"t{i}": np.zeros(len(s), bool) for i, (s, _) in enumerate(test)}
    called.update(short=np.zeros(11, bool), one=np.zeros(1, bool))
    for line in bed.read_text().splitlines():
        rid, start, end, label, _ = line.split("\t")
        assert label == "C"
        called[rid][int(start):int(end)] = True
    for i, (_, mask) in enumerate(test):
        assert f1(called[f"t{i}"], mask) > 0.9


def test_decode_gene_needs_one_coding_label(tmp_path):
    s, m = genes(1, 6)[0]
    tags = "".join("C" if c else ("U" if i < 50 else "N") for i, c in enumerate(m))
    path = tmp_path / "three.tsv"
    path.write_text(f"id\tsplit\tsequence\tlabels\na\ttrain\t{s}\t{tags}\nb\tvalid\t{s}\t{tags}\n")
    r = run_seqkit("train", "dna-tag", "--data", path, "--decode", "gene",
                   "--out", tmp_path / "m.npz", "--epochs", "1", "-q")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1, r.stderr
    assert "--decode gene needs one coding label beside the background 'N'" in lines[0]
    r = run_seqkit("train", "dna-tag", "--data", path, "--evidence-weight", "0.5",
                   "--out", tmp_path / "m.npz", "--epochs", "1", "-q")
    assert r.returncode == 1 and "--evidence-weight needs --decode gene" in r.stderr
