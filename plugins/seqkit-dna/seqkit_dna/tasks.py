"""The two DNA tasks: ``dna-classify`` (many-to-one: one label per sequence) and
``dna-tag`` (many-to-many: one label per base).

Both read FASTA or the shared data sets' formats (``seqkit_dna.io``), encode
each base as the lecture's one-hot x<t> (fractional for IUPAC ambiguity codes,
optionally beside an embedded k-mer id, ``--kmer K``), and build their own
``ComposedModel``: a bidirectional LSTM/GRU stack, then

    dna-classify   a readout of both directions' final states (and, by default,
                   the max over time of the outputs) -> dropout -> dense -> softmax
    dna-tag        dropout -> dense at every base -> softmax or CRF

Long sequences (tagging) are cut into windows batched across sequences:
training on random-phase windows of ``--window`` bases, evaluation and
prediction on windows of ``--window`` bases plus ``--context`` bases of
overlap each side whose outputs are dropped, so every base is predicted with
at least ``--context`` bases of sequence both ways and the stitched result has
no seams (see docs/tasks/dna.md for why overlapping windows, not truncated BPTT).
"""
from __future__ import annotations

import os
from collections import Counter

import click
import numpy as np

from seqkit import (
    CRF,
    ComposedModel,
    Dense,
    Dropout,
    Embedding,
    Example,
    Input,
    Kind,
    Output,
    Recurrent,
    SeqkitError,
    SoftmaxHead,
    Task,
    chain,
    concatenate,
    get_cell,
)
from seqkit.textio import write_text

from . import io as dio
from .alphabet import kmer_ids, kmer_one_hot, n_kmers, one_hot, reverse_complement, to_codes
from .genes import GeneModel
from .layers import EnsembleSoftmax, FlatInput, SeqPool, WeightedSoftmax
from .splits import deduplicate, held_out

#: overrides the checkpoint's --rc-average for ``seqkit evaluate`` / ``predict`` (1 or 0)
RC_ENV = "SEQKIT_DNA_RC_AVERAGE"


def _flag(name, help_):
    return click.Option([name], is_flag=True, default=None, help=help_)


COMMON_OPTIONS = [
    click.Option(["--format"], type=click.Choice(dio.FORMATS), default=None,
                 help="Data format (default: auto, detected from the first line)."),
    click.Option(["--labels"], type=click.Path(dir_okay=False), default=None,
                 help="Labels for a FASTA file: 'id<TAB>label' lines (classification), "
                      "'id<TAB>LABELSTRING' or a BED file of labelled intervals (tagging)."),
    click.Option(["--test-fraction"], type=click.FloatRange(0, 1, max_open=True), default=None,
                 help="Held out as the test split (stratified, seed 0) when the data has no "
                      "split of its own (default 0.2)."),
    click.Option(["--class-weight"], type=click.Choice(["none", "balanced"]), default=None,
                 help="Weigh the loss of each class: balanced = n / (K n_k) (default none)."),
    _flag("--rc-augment", "Train on the reverse complement of each example half the time."),
    _flag("--rc-average", "Evaluate and predict on both strands and average (the reverse "
                          "strand's per-base outputs mirrored back)."),
    click.Option(["--kmer"], type=click.IntRange(0, 8), default=None,
                 help="Also embed the id of the k-mer centred on each base (0: off; default 3 for "
                      "dna-classify, 6 for dna-tag)."),
]


def _env_rc(default: bool) -> bool:
    value = os.environ.get(RC_ENV)
    if value is None or value == "":
        return bool(default)
    return value not in ("0", "false", "no")


class DnaTask(Task):
    """What both tasks share: reading, features, reverse complements."""

    input = "dense"
    classify = True

    # -- data --------------------------------------------------------------------
    def load_records(self, path: str, options: dict, need_labels: bool = True,
                     dedup: bool = True) -> list:
        """Every record of ``path`` (labels checked), de-duplicated unless ``dedup`` is False."""
        fmt = options.get("format") or "auto"
        if fmt == "auto":
            fmt = dio.detect_format(path)
        labels_path = options.get("labels")
        if fmt == "splice":
            records = dio.read_splice(path)
        elif fmt == "promoters":
            records = dio.read_promoters(path)
        elif fmt == "cds-tsv":
            records = dio.read_cds_tsv(path)
        else:
            records = self._fasta(path, labels_path, need_labels)
        if labels_path and fmt != "fasta":
            raise SeqkitError(f"--labels is for FASTA data; {path} is in the {fmt} format, "
                              "which carries its labels")
        if need_labels:
            self._check_labels(records, path)
        if dedup:
            records, self.dedup_stats = deduplicate(records)
        return records

    def _fasta(self, path, labels_path, need_labels):
        raise NotImplementedError

    def _check_labels(self, records, path):
        pass

    def read(self, path, options):
        records = self.load_records(path, options)
        splits = {s: [r for r in records if r.split == s] for s in ("train", "valid", "test")}
        if not any(splits.values()):
            frac = options.get("test_fraction")
            frac = 0.2 if frac is None else frac
            train, test = held_out(records, frac, seed=0) if frac > 0 else (records, [])
            splits = {"train": train, "test": test}
        return {k: v for k, v in splits.items() if v}

    def read_inputs(self, path, encoders):
        """``seqkit predict --input``: any of the formats (detected), every record in
        file order (no de-duplication); labels in the file are ignored."""
        fmt = dio.detect_format(path)
        if fmt == "fasta":
            return dio.fasta_records(path, need_label=False)
        return self.load_records(path, {"format": fmt}, need_labels=False, dedup=False)

    def parse_input(self, text, encoders):
        text = text.strip()
        return dio.Record(text if len(text) <= 24 else text[:21] + "...", to_codes(text, text[:24]))

    # -- encoding ----------------------------------------------------------------
    #: --kmer when not given (chosen on validation splits, see docs/tasks/dna.md)
    default_kmer = 0
    #: --class-weight when not given
    default_class_weight = "none"

    def class_weighting(self, options: dict) -> str:
        return options.get("class_weight") or self.default_class_weight

    def common_encoders(self, options: dict) -> dict:
        k = options.get("kmer")
        return {"kmer": int(self.default_kmer if k is None else k),
                "rc_augment": bool(options.get("rc_augment")),
                "rc_average": bool(options.get("rc_average")),
                "format": options.get("format") or "auto"}

    def features(self, codes: np.ndarray, encoders: dict) -> dict:
        x = {"bases": one_hot(codes)}
        if encoders.get("kmer"):
            x["kmers"] = kmer_ids(codes, encoders["kmer"])
        if encoders.get("wide"):
            x["wide"] = kmer_one_hot(codes, encoders["wide"])
        return x

    def rc_example(self, ex: Example, encoders_like: dict) -> Example:
        """The reverse complement of an example (cached in its meta)."""
        cached = ex.meta.get("_rc")
        if cached is None:
            codes = reverse_complement(ex.meta["codes"])
            y = ex.y
            if y is not None and not self.classify:
                y = np.ascontiguousarray(np.asarray(y)[::-1])
            cached = Example(self.features(codes, {"kmer": ex.meta["kmer"],
                                                   "wide": ex.meta.get("wide", 0)}), y,
                             {**ex.meta, "codes": codes, "strand": "-"})
            ex.meta["_rc"] = cached
        return cached

    def dims(self, encoders):
        k = int(encoders.get("kmer") or 0)
        return {"n_in": 4, "n_y": len(encoders["labels"]), "kmer": k, "n_kmers": n_kmers(k),
                "class_weights": encoders.get("class_weights"),
                "pool": encoders.get("pool"), "length": encoders.get("length"),
                "head": encoders.get("head", "softmax"), "wide": int(encoders.get("wide") or 0),
                "members": int(encoders.get("ensemble") or 1)}

    # -- the model -------------------------------------------------------------------
    def build_model(self, dims, hparams, backend, dtype, seed):
        common = {"backend": backend, "dtype": dtype}
        M = int(dims.get("members") or 1)
        K = dims["n_y"]
        members = [self._member(dims, hparams, common, seed + 10 * m) for m in range(M)]
        body = members[0] if M == 1 else concatenate(*members)
        weights = dims.get("class_weights")
        if dims.get("head") == "crf":
            if weights:
                raise SeqkitError("--class-weight needs the softmax head (--head softmax), "
                                  "not the CRF")
            head = CRF(K, seed=seed + 4, **common)
        elif M > 1:
            head = EnsembleSoftmax(K, M, weights, **common)
        elif weights:
            head = WeightedSoftmax(K, weights, **common)
        else:
            head = SoftmaxHead(K, **common)
        return ComposedModel(self.kind, body, head)

    def _member(self, dims, hparams, common, seed):
        """One model from the inputs to the K scores (an ensemble has several, seeded apart)."""
        H, L, p = int(hparams["hidden"]), int(hparams["layers"]), float(hparams["dropout"])
        bi, cell = bool(hparams["bidirectional"]), hparams["cell"]
        D = 2 if bi else 1
        if dims["kmer"]:
            e = int(hparams["embed_dim"])
            feats = concatenate(Input("bases", **common),
                                chain(Input("kmers", **common),
                                      Embedding(dims["n_kmers"], e, seed=seed, **common)))
            n_x = 4 + e
        else:
            feats, n_x = Input("bases", **common), 4
        cell_opts = ({"nonlinearity": hparams["nonlinearity"]}
                     if "nonlinearity" in get_cell(cell).options and hparams.get("nonlinearity")
                     else {})
        rnn = Recurrent(cell, n_x, H, num_layers=L, bidirectional=bi, dropout=p, seed=seed + 1,
                        **common, **cell_opts)
        K = dims["n_y"]
        if not self.classify:
            return chain(feats, rnn, Dropout(p, seed=seed + 2, **common),
                         Dense(D * H, K, seed=seed + 3, **common))
        pool = SeqPool(D, dims.get("pool") or ["last"], dims.get("length"), **common)
        readout, width = chain(feats, rnn, pool), pool.width(D * H)
        if dims.get("wide"):
            # the wide path: every position's k-mer one-hot straight into the dense layer
            flat = FlatInput("wide", dims["length"], **common)
            readout = concatenate(readout, flat)
            width += flat.width(4 ** dims["wide"])
        return chain(readout, Dropout(p, seed=seed + 2, **common),
                     Dense(width, K, seed=seed + 3, **common))


def balanced_weights(counts: dict, labels: list) -> list:
    n = sum(counts.values())
    return [float(n / (len(labels) * max(counts.get(lab, 0), 1))) for lab in labels]


# =====================================================================================
class DnaClassify(DnaTask):
    name = "dna-classify"
    kind = Kind.MANY_TO_ONE
    classify = True
    description = "DNA sequence classification: one label per sequence (FASTA, UCI splice/promoters)"
    data_help = ("FASTA (plain or gzipped; '>id label' headers or --labels FILE), or the UCI "
                 "splice / promoters files; de-duplicated, 20% held out as test unless split.")
    defaults = {"cell": "lstm", "hidden": 32, "layers": 1, "bidirectional": True, "dropout": 0.5,
                "embed_dim": 8, "epochs": 20, "lr": 3e-3, "batch_size": 32, "patience": 6,
                "clip_norm": 5.0, "reduction": "mean"}
    options = COMMON_OPTIONS + [
        click.Option(["--pool"], type=click.Choice(["auto", "flat", "last", "last+max", "last+mean",
                                                    "last+mean+max", "max", "mean+max"]),
                     default=None,
                     help="Readout of the recurrent outputs: flat (every step's output, for "
                          "sequences of one length), both directions' final states (last), "
                          "and/or their mean / max over time. Default auto: flat when every "
                          "training sequence has the same length, else last+max."),
        click.Option(["--wide"], type=click.IntRange(0, 4), default=None,
                     help="Also feed the one-hot of the K-mer at every position straight to the "
                          "output layer, beside the recurrent readout (sequences of one length; "
                          "0: off; default 2 with the flat readout, which fixes the length anyway, "
                          "else 0)."),
        click.Option(["--ensemble"], type=click.IntRange(1, 32), default=None,
                     help="Train this many independently initialised models side by side and "
                          "average their probabilities (default 3)."),
    ]
    monitor = ("accuracy", "max")
    default_kmer = 3
    #: --wide for training sequences of one length, and --ensemble, when not given
    #: (chosen by 5-fold CV on the training part of UCI splice, see docs/tasks/dna.md)
    default_wide = 2
    default_ensemble = 3

    def _fasta(self, path, labels_path, need_labels):
        labels = dio.read_label_tsv(labels_path) if labels_path else None
        records = dio.fasta_records(path, need_label=need_labels, labels=labels)
        if labels is not None:
            dio.check_known_ids(labels_path, labels, records)
        return records

    def _check_labels(self, records, path):
        for r in records:
            if r.label is None:
                raise SeqkitError(f"{path}: record {r.id!r} has no label")

    def build_encoders(self, train, options):
        labels = sorted({r.label for r in train})
        if len(labels) < 2:
            raise SeqkitError(f"the training data has {len(labels)} class(es); classification "
                              "needs at least 2")
        pool = options.get("pool") or "auto"
        lengths = {len(r) for r in train}
        if pool == "auto":
            pool = "flat" if len(lengths) == 1 else "last+max"
        if pool == "flat" and len(lengths) != 1:
            raise SeqkitError(f"--pool flat needs training sequences of one length, not "
                              f"{min(lengths)} to {max(lengths)} bases")
        enc = {**self.common_encoders(options), "labels": labels, "pool": pool.split("+")}
        if len(lengths) == 1:
            enc["length"] = next(iter(lengths))
        wide = options.get("wide")
        wide = (self.default_wide if pool == "flat" else 0) if wide is None else int(wide)
        if wide:
            if len(lengths) != 1:
                raise SeqkitError(f"--wide needs training sequences of one length, not "
                                  f"{min(lengths)} to {max(lengths)} bases")
            enc["wide"] = wide
        enc["ensemble"] = int(options.get("ensemble") or self.default_ensemble)
        if self.class_weighting(options) == "balanced":
            enc["class_weights"] = balanced_weights(Counter(r.label for r in train), labels)
        return enc

    def _label_index(self, encoders):
        cached = getattr(self, "_labels_cache", None)
        if cached is None or cached[0] is not encoders:
            self._labels_cache = (encoders, {lab: i for i, lab in enumerate(encoders["labels"])})
        return self._labels_cache[1]

    def encode(self, record, encoders):
        fixed = "flat" in encoders.get("pool", []) or encoders.get("wide")
        if fixed and encoders.get("length") and len(record) != encoders["length"]:
            raise SeqkitError(f"record {record.id!r} has {len(record)} bases; this model reads "
                              f"sequences of exactly {encoders['length']} (it was trained with "
                              "the flat readout or --wide)")
        y = None
        if record.label is not None:
            index = self._label_index(encoders)
            if record.label not in index:
                raise SeqkitError(f"record {record.id!r} has label {record.label!r}, which the "
                                  f"training data never has ({', '.join(encoders['labels'])})")
            y = index[record.label]
        return Example(self.features(record.codes, encoders), y,
                       {"id": record.id, "codes": record.codes, "kmer": encoders.get("kmer", 0),
                        "wide": encoders.get("wide", 0),
                        "rc_augment": encoders.get("rc_augment", False),
                        "rc_average": _env_rc(encoders.get("rc_average", False)), "strand": "+"})

    def prepare(self, examples, training, rng=None):
        if training:
            if rng is None or not examples or not examples[0].meta.get("rc_augment"):
                return examples
            flip = rng.random(len(examples)) < 0.5
            return [self.rc_example(e, {}) if f else e for e, f in zip(examples, flip)]
        if not examples or not examples[0].meta.get("rc_average"):
            return examples
        out = []
        for e in examples:
            out += [e, self.rc_example(e, {})]
        return out

    def stitch(self, outputs, prepared, examples):
        if len(prepared) == len(examples):
            return outputs
        out = []
        for i in range(len(examples)):
            p = (outputs[2 * i].probs + outputs[2 * i + 1].probs) / 2
            out.append(Output(p, np.asarray(p.argmax(-1))))
        return out

    def metrics(self, outputs, examples, encoders):
        return classification_metrics(outputs, [e.y for e in examples], encoders["labels"])

    def render_prediction(self, record, output, encoders):
        names = encoders["labels"]
        probs = ",".join(f"{n}={float(p):.4f}" for n, p in zip(names, output.probs))
        return f"{record.id}\t{names[int(output.labels)]}\t{probs}"


def classification_metrics(outputs, ys, labels) -> dict:
    K = len(labels)
    probs = np.stack([np.asarray(o.probs, dtype=np.float64) for o in outputs])
    y = np.asarray(ys, dtype=np.int64)
    pred = probs.argmax(-1)
    conf = np.zeros((K, K), dtype=np.int64)
    np.add.at(conf, (y, pred), 1)
    m = {"accuracy": float((pred == y).mean()),
         "loss": float(-np.log(np.maximum(probs[np.arange(len(y)), y], 1e-300)).mean()),
         "errors": float((pred != y).sum())}
    f1s = []
    for k, lab in enumerate(labels):
        tp, support, predicted = conf[k, k], conf[k].sum(), conf[:, k].sum()
        prec = tp / predicted if predicted else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        f1s.append(f1)
        m.update({f"precision_{lab}": prec, f"recall_{lab}": rec, f"f1_{lab}": f1,
                  f"error_{lab}": 1.0 - rec if support else 0.0})
    m["macro_f1"] = float(np.mean(f1s))
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            m[f"confusion_{a}_{b}"] = float(conf[i, j])
    return {k: float(v) for k, v in m.items()}


# =====================================================================================
class DnaTag(DnaTask):
    name = "dna-tag"
    kind = Kind.MANY_TO_MANY
    classify = False
    description = "per-base DNA tagging (e.g. coding/non-coding) of long sequences, in windows"
    data_help = ("The mouse CDS TSV (id, split, sequence, labels columns), or FASTA with "
                 "--labels (BED intervals or 'id<TAB>LABELSTRING'); sequences of any length.")
    defaults = {"cell": "lstm", "hidden": 64, "layers": 1, "bidirectional": True, "dropout": 0.2,
                "embed_dim": 16, "epochs": 25, "lr": 3e-3, "batch_size": 8, "patience": 6,
                "clip_norm": 5.0, "reduction": "mean"}
    options = COMMON_OPTIONS + [
        click.Option(["--head"], type=click.Choice(["softmax", "crf"]), default=None,
                     help="Per-base softmax, or a linear-chain CRF over the bases (default softmax)."),
        click.Option(["--window"], type=click.IntRange(16), default=None,
                     help="Bases per window, for training and per prediction window (default 500)."),
        click.Option(["--context"], type=click.IntRange(0), default=None,
                     help="Extra bases read each side of a prediction window, outputs dropped "
                          "(default 400)."),
        click.Option(["--background"], default=None,
                     help="The label of bases in no labelled interval, and the class whose F1 is "
                          "not reported (default N)."),
        click.Option(["--background-windows"], type=click.FloatRange(0, 1, min_open=True),
                     default=None,
                     help="Share of the training windows without any non-background base kept "
                          "each epoch (default 0.25)."),
        click.Option(["--decode"], type=click.Choice(["base", "gene"]), default=None,
                     help="base: each base's most likely label (or the CRF's path); gene: the best "
                          "gene structure (start and stop codons, reading frame, GT..AG introns) "
                          "scored by counted codon and splice-site statistics; needs one coding "
                          "label beside the background (default base)."),
        click.Option(["--evidence-weight"], type=click.FloatRange(0), default=None,
                     help="With --decode gene: weight of the network's log-odds of coding added to "
                          "the gene model's scores (default 0: the gene model alone)."),
    ]
    monitor = ("f1", "max")
    default_kmer = 6

    def _fasta(self, path, labels_path, need_labels):
        records = dio.fasta_records(path, need_label=False)
        if not need_labels:
            return records
        if not labels_path:
            raise SeqkitError(f"{path}: tagging FASTA needs --labels (a BED file of labelled "
                              "intervals, or 'id<TAB>LABELSTRING' lines)")
        if _looks_like_bed(labels_path):
            bed = dio.read_bed(labels_path)
            dio.tags_from_bed(records, bed, labels_path, self._background)
        else:
            strings = dio.read_label_tsv(labels_path)
            dio.check_known_ids(labels_path, strings, records)
            for r in records:
                if r.id not in strings:
                    raise SeqkitError(f"{labels_path}: no labels for record {r.id!r}")
                if len(strings[r.id]) != len(r):
                    raise SeqkitError(f"{labels_path}: record {r.id!r} has {len(r)} bases but "
                                      f"{len(strings[r.id])} labels")
                r.tags = strings[r.id]
        return records

    _background = "N"

    def read(self, path, options):
        self._background = options.get("background") or "N"
        return super().read(path, options)

    def _check_labels(self, records, path):
        for r in records:
            if r.tags is None:
                raise SeqkitError(f"{path}: record {r.id!r} has no per-base labels")

    def build_encoders(self, train, options):
        counts = Counter()
        for r in train:
            if isinstance(r.tags, str):
                u, c = np.unique(np.frombuffer(r.tags.encode(), dtype=np.uint8), return_counts=True)
                counts.update({chr(a): int(b) for a, b in zip(u, c)})
            else:
                counts.update(r.tags)
        background = options.get("background") or "N"
        labels = [background] + sorted(set(counts) - {background})
        if len(labels) < 2:
            raise SeqkitError("the training data has one label only; tagging needs at least 2")
        enc = {**self.common_encoders(options), "labels": labels, "background": background,
               "head": options.get("head") or "softmax",
               "window": int(options.get("window") or 500),
               "context": int(options["context"] if options.get("context") is not None else 400),
               "background_windows": float(options.get("background_windows") or 0.25)}
        weighting = options.get("class_weight") or ("none" if enc["head"] == "crf"
                                                    else self.default_class_weight)
        if weighting == "balanced":
            enc["class_weights"] = balanced_weights(counts, labels)
        if (options.get("decode") or "base") == "gene":
            enc.update(self._fit_gene_model(train, enc))
            enc["evidence_weight"] = float(options.get("evidence_weight") or 0.0)
        elif options.get("evidence_weight"):
            raise SeqkitError("--evidence-weight needs --decode gene")
        return enc

    def _fit_gene_model(self, train, encoders) -> dict:
        labels = encoders["labels"]
        if len(labels) != 2:
            raise SeqkitError(f"--decode gene needs one coding label beside the background "
                              f"{labels[0]!r}; the training data has {', '.join(labels[1:])}")
        masks = [self._tag_ids(r, encoders) == 1 for r in train]     # 1: the coding label
        model = GeneModel.fit([r.codes for r in train], masks)
        return {"decode": "gene", "gene_model": model.to_json()}

    def _gene_model(self, encoders):
        if encoders.get("decode") != "gene":
            return None
        cached = getattr(self, "_gene_cache", None)
        if cached is None or cached[0] is not encoders:
            self._gene_cache = (encoders, GeneModel.from_json(encoders["gene_model"]))
        return self._gene_cache[1]

    def _tag_table(self, encoders):
        cached = getattr(self, "_tags_cache", None)
        if cached is None or cached[0] is not encoders:
            table = np.full(256, -1, dtype=np.int64)
            index = {lab: i for i, lab in enumerate(encoders["labels"])}
            for lab, i in index.items():
                if len(lab) == 1 and ord(lab) < 256:
                    table[ord(lab)] = i
            self._tags_cache = (encoders, table, index)
        return self._tags_cache[1:]

    def _tag_ids(self, record, encoders) -> np.ndarray:
        """(T,) the label id of every base of ``record``; a label the training data
        lacks is a one-line error."""
        table, index = self._tag_table(encoders)
        if isinstance(record.tags, str) and record.tags.isascii():
            y = table[np.frombuffer(record.tags.encode("ascii"), dtype=np.uint8)]
        else:
            y = np.array([index.get(t, -1) for t in record.tags], dtype=np.int64)
        if (y < 0).any():
            pos = int(np.flatnonzero(y < 0)[0])
            raise SeqkitError(f"record {record.id!r}: label {record.tags[pos]!r} at position "
                              f"{pos + 1} is not one the training data has "
                              f"({', '.join(encoders['labels'])})")
        return y

    def encode(self, record, encoders):
        y = None if record.tags is None else self._tag_ids(record, encoders)
        return Example(self.features(record.codes, encoders), y,
                       {"id": record.id, "codes": record.codes, "kmer": encoders.get("kmer", 0),
                        "rc_augment": encoders.get("rc_augment", False),
                        "rc_average": _env_rc(encoders.get("rc_average", False)), "strand": "+",
                        "window": encoders.get("window", 500),
                        "context": encoders.get("context", 400),
                        "background_windows": encoders.get("background_windows", 1.0),
                        "background_id": 0, "gene": self._gene_model(encoders),
                        "evidence_weight": encoders.get("evidence_weight", 0.0)})

    # -- windows -------------------------------------------------------------------
    @staticmethod
    def _slice(ex: Example, lo: int, hi: int, meta: dict) -> Example:
        x = {k: v[lo:hi] for k, v in ex.x.items()}
        y = None if ex.y is None else ex.y[lo:hi]
        return Example(x, y, meta)

    def prepare(self, examples, training, rng=None):
        """Training: each sequence cut into windows of ``window`` bases from a random
        phase (a new one each epoch), the reverse strand half the time with
        --rc-augment. Evaluation: windows of ``window`` bases read with ``context``
        bases each side; ``meta`` keeps the source, offset and core range."""
        if not examples:
            return []
        out = []
        if training:
            if rng is None:
                return examples
            for i, e in enumerate(examples):
                W, T = e.meta["window"], e.length
                keep_bg = e.meta.get("background_windows", 1.0)
                phase = int(rng.integers(W)) if T > W else 0
                cuts = sorted({0, T, *range(phase, T, W)})
                for lo, hi in zip(cuts[:-1], cuts[1:]):
                    if keep_bg < 1.0 and e.y is not None and not (e.y[lo:hi] != 0).any() \
                            and rng.random() >= keep_bg:
                        continue
                    if e.meta.get("rc_augment") and rng.random() < 0.5:
                        rc = self.rc_example(e, {})
                        out.append(self._slice(rc, T - hi, T - lo, {"source": i}))
                    else:
                        out.append(self._slice(e, lo, hi, {"source": i}))
            return out
        for i, e in enumerate(examples):
            strands = [e, self.rc_example(e, {})] if e.meta.get("rc_average") else [e]
            for s, ex in enumerate(strands):
                out += self.windows(ex, i, s, e.meta["window"], e.meta["context"])
        return out

    def windows(self, ex: Example, source: int, strand: int, W: int, C: int) -> list:
        T = ex.length
        out = []
        for start in range(0, T, W):
            end = min(start + W, T)
            lo, hi = max(0, start - C), min(T, end + C)
            out.append(self._slice(ex, lo, hi, {"source": source, "strand": strand, "offset": lo,
                                                "core": (start - lo, end - lo)}))
        return out

    def stitch(self, outputs, prepared, examples):
        if not prepared or "core" not in prepared[0].meta:
            return outputs
        K = outputs[0].probs.shape[-1]
        probs = [[None, None] for _ in examples]
        labels = [[None, None] for _ in examples]
        for o, p in zip(outputs, prepared):
            i, s = p.meta["source"], p.meta["strand"]
            if probs[i][s] is None:
                T = examples[i].length
                probs[i][s] = np.zeros((T, K), dtype=np.float64)
                labels[i][s] = np.zeros(T, dtype=np.int64)
            a, b = p.meta["core"]
            off = p.meta["offset"]
            probs[i][s][off + a:off + b] = o.probs[a:b]
            labels[i][s][off + a:off + b] = o.labels[a:b]
        out = []
        for (pf, pr), (lf, _), ex in zip(probs, labels, examples):
            if pr is not None:
                pf = (pf + pr[::-1]) / 2
                lf = pf.argmax(-1)
            gene = ex.meta.get("gene")
            if gene is not None:
                weight = ex.meta.get("evidence_weight", 0.0)
                if weight:
                    lf = gene_labels(gene, ex.meta["codes"], pf, weight)
                else:
                    # the gene model alone: the same path every epoch (the validation
                    # genes are decoded once, not once an epoch)
                    if "_gene_path" not in ex.meta:
                        ex.meta["_gene_path"] = gene_labels(gene, ex.meta["codes"], pf, 0.0)
                    lf = ex.meta["_gene_path"]
            out.append(Output(pf, lf))
        return out

    # -- results -------------------------------------------------------------------
    def metrics(self, outputs, examples, encoders):
        return tagging_metrics(outputs, [e.y for e in examples], encoders["labels"],
                               softmax=encoders.get("head", "softmax") != "crf")

    def render_prediction(self, record, output, encoders):
        return "\n".join(dio.bed_intervals(record.id, output.labels, output.probs,
                                           encoders["labels"], 0))

    def write_predictions(self, records, outputs, encoders, path):
        lines = []
        for r, o in zip(records, outputs):
            lines += dio.bed_intervals(r.id, o.labels, o.probs, encoders["labels"], 0)
        write_text(path, "".join(line + "\n" for line in lines))


def gene_labels(gene: GeneModel, codes: np.ndarray, probs: np.ndarray, weight: float):
    """Label ids (0 background, 1 coding) of the best gene structure; with ``weight``
    the network's log-odds of coding join the gene model's scores."""
    evidence = None
    if weight:
        p = np.clip(probs, 1e-6, 1.0)
        evidence = np.zeros((len(codes), 7))
        evidence[:, 1:4] = (weight * (np.log(p[:, 1]) - np.log(p[:, 0])))[:, None]
    return gene.coding(codes, evidence).astype(np.int64)


def tagging_metrics(outputs, ys, labels, softmax: bool = True) -> dict:
    """Per-base accuracy, and precision / recall / F1 of each non-background class
    (index 0 is the background); ``f1`` is their mean."""
    y = np.concatenate([np.asarray(v) for v in ys])
    pred = np.concatenate([np.asarray(o.labels) for o in outputs])
    m = {"accuracy": float((pred == y).mean())}
    if softmax:
        nll = sum(float(-np.log(np.maximum(o.probs[np.arange(len(v)), v], 1e-300)).sum())
                  for o, v in zip(outputs, ys))
        m["loss"] = nll / len(y)
    f1s = []
    for k, lab in enumerate(labels[1:], 1):
        tp = float(((pred == k) & (y == k)).sum())
        predicted, support = float((pred == k).sum()), float((y == k).sum())
        prec = tp / predicted if predicted else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        f1s.append(f1)
        m.update({f"precision_{lab}": prec, f"recall_{lab}": rec, f"f1_{lab}": f1})
    m["f1"] = float(np.mean(f1s))
    return m


def _looks_like_bed(path: str) -> bool:
    for line in dio.read_all(path).splitlines():
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        return len(cols) >= 3 and cols[1].isdigit() and cols[2].isdigit()
    return False
