"""Task ``ner``: named-entity recognition on CoNLL column files.

Features per token (the lecture's vocabulary plus what a tagger needs for
words it has never seen):

    words  the word lower-cased with digits as 0, looked up in the training
           vocabulary (<unk> for the rest); in each epoch a word seen c times
           becomes <unk> with chance a / (a + c) (``word_dropout`` a), so <unk>
           is learned
    case   its casing (lower, upper, title, numeric, ...), an embedding of its own
    chars  its characters, read by a character BiLSTM (all words of a batch in
           one kernel call), the final states of both directions

Model: [word embedding | case embedding | char BiLSTM] -> dropout -> BiLSTM ->
dropout -> dense -> CRF over IOBES tags (forbidden transitions at -inf), or a
softmax per token (``--head softmax``). Tags are IOBES inside whatever the
files use; metrics are conlleval's entity P/R/F1 (``seqkit_ner.metrics``).
"""
from __future__ import annotations

import os
import re

import click
import numpy as np

from seqkit import (
    CRF,
    CharEncoder,
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
    transition_constraints,
)

from .conll import (
    SCHEMES,
    Sentence,
    find_splits,
    from_spans,
    read_conll,
    to_spans,
    tokens_sentence,
    write_conll,
)
from .metrics import entity_scores

CASES = ["other", "numeric", "mainly_numeric", "lower", "upper", "title", "contains_digit", "mixed"]
UNK = "<unk>"
#: characters of a word read by the character encoder (longer words: their first
#: MAX_CHARS - 5 and last 5, so suffixes are kept)
MAX_CHARS = 30
#: words whose features ``encode`` keeps (a dict, emptied when full): a word's
#: vocabulary id, casing and character ids are worked out once, not per token
FEATURE_CACHE = 200_000
_DIGITS = re.compile(r"\d")


def casing(word: str) -> int:
    digits = sum(c.isdigit() for c in word)
    if word.isdigit():
        kind = "numeric"
    elif digits / max(len(word), 1) > 0.5:
        kind = "mainly_numeric"
    elif word.islower():
        kind = "lower"
    elif word.isupper():
        kind = "upper"
    elif word[:1].isupper():
        kind = "title"
    elif digits:
        kind = "contains_digit"
    elif any(c.isalpha() for c in word):
        kind = "mixed"
    else:
        kind = "other"
    return CASES.index(kind)


def normalise(word: str) -> str:
    """The vocabulary's form of a word: lower-cased, every digit 0."""
    return _DIGITS.sub("0", word.lower())


def _clip(word: str) -> str:
    return word if len(word) <= MAX_CHARS else word[:MAX_CHARS - 5] + word[-5:]


def iobes_tags(types: list[str]) -> list[str]:
    return ["O"] + [f"{p}-{t}" for t in types for p in "BIES"]


class NERTask(Task):
    name = "ner"
    kind = Kind.MANY_TO_MANY
    description = "named-entity recognition on CoNLL files: word+case+char BiLSTM features, BiLSTM-CRF"
    data_help = ("A directory with train*, valid*/dev*/testa* and test*/testb* CoNLL files "
                 "(.gz read as is), or one training file.")
    defaults = {"cell": "lstm", "hidden": 200, "layers": 1, "bidirectional": True, "embed_dim": 100,
                "dropout": 0.5, "optimizer": "adam", "lr": 1e-3, "lr_decay": 0.95, "clip_norm": 5.0,
                "batch_size": 16, "epochs": 16, "patience": 5, "reduction": "sum"}
    monitor = ("f1", "max")
    #: predictions are tags: predict runs Viterbi without the CRF's marginals
    prediction_probabilities = False
    options = [
        click.Option(["--train"], type=click.Path(dir_okay=False), default=None,
                     help="Training file (instead of the one found in --data)."),
        click.Option(["--valid"], type=click.Path(dir_okay=False), default=None,
                     help="Validation file (early stopping and model choice)."),
        click.Option(["--test"], type=click.Path(dir_okay=False), default=None,
                     help="Test file (seqkit evaluate --split test)."),
        click.Option(["--tag-scheme"], type=click.Choice(SCHEMES), default=None,
                     help="Tag scheme of the files, kept for predictions [default: iob2]."),
        click.Option(["--tag-column"], type=click.IntRange(2), default=None,
                     help="1-based column of the tag [default: the last]."),
        click.Option(["--head"], type=click.Choice(["crf", "softmax"]), default=None,
                     help="Output layer: a CRF over the tag sequence, or a softmax per token "
                          "[default: crf]."),
        click.Option(["--char-dim"], type=click.IntRange(0), default=None,
                     help="Character embedding size; 0: no character encoder [default: 25]."),
        click.Option(["--char-hidden"], type=click.IntRange(1), default=None,
                     help="Character BiLSTM units per direction [default: 25]."),
        click.Option(["--case-dim"], type=click.IntRange(0), default=None,
                     help="Casing embedding size; 0: no casing feature [default: 10]."),
        click.Option(["--word-dropout"], type=click.FloatRange(0), default=None,
                     help="A: in each epoch a training word seen c times becomes <unk> with "
                          "chance A/(A+c) (a singleton half the time with A=1; 0: off) "
                          "[default: 1]."),
        click.Option(["--min-count"], type=click.IntRange(1), default=None,
                     help="Words seen fewer times in training are <unk> [default: 1]."),
        click.Option(["--max-vocab"], type=click.IntRange(1), default=None,
                     help="Keep the N most common training words [default: all]."),
        click.Option(["--embeddings"], type=click.Path(dir_okay=False), default=None,
                     help="Initialise word vectors from a text file of 'word v1 ... vd' lines "
                          "(d sets the word embedding size; words it lacks keep a random init)."),
    ]

    # -- data ----------------------------------------------------------------------
    def read(self, path, options):
        scheme = options.get("tag_scheme") or "iob2"
        column = options.get("tag_column")
        files = {}
        if os.path.isdir(path):
            files = find_splits(path) if not options.get("train") else {
                k: v for k, v in _try_splits(path).items() if k != "train"}
        elif os.path.exists(path):
            files = {"train": path}
        elif not options.get("train"):
            raise SeqkitError(f"no such file or directory: {path}")
        for split in ("train", "valid", "test"):
            if options.get(split):
                files[split] = options[split]
        return {split: read_conll(f, scheme, column) for split, f in files.items()}

    def build_encoders(self, train, options):
        # the split files are inputs of this run, not of the model: evaluate and
        # resume read the --data they are given (see docs/tasks/ner.md)
        for split in ("train", "valid", "test"):
            options.pop(split, None)
        counts: dict[str, int] = {}
        chars: dict[str, int] = {}
        types = set()
        for s in train:
            for w in s.words:
                n = normalise(w)
                counts[n] = counts.get(n, 0) + 1
                for c in _clip(w):
                    chars[c] = chars.get(c, 0) + 1
            types.update(t[2:] for t in s.tags if t != "O")
        min_count = options.get("min_count") or 1
        vocab = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
        if options.get("max_vocab"):
            vocab = vocab[: options["max_vocab"]]
        embeddings = options.get("embeddings")
        if embeddings and not os.path.isfile(embeddings):
            raise SeqkitError(f"--embeddings: no such file: {embeddings}")
        return {
            "words": [UNK] + vocab,
            "counts": [0] + [counts[w] for w in vocab],
            "chars": [UNK] + sorted(chars, key=lambda c: (-chars[c], c)),
            "tags": iobes_tags(sorted(types)),
            "cases": CASES,
            "scheme": options.get("tag_scheme") or "iob2",
            "tag_column": options.get("tag_column"),
            "word_dropout": 1.0 if options.get("word_dropout") is None else options["word_dropout"],
            "model": {"head": options.get("head") or "crf",
                      "char_dim": 25 if options.get("char_dim") is None else options["char_dim"],
                      "char_hidden": options.get("char_hidden") or 25,
                      "case_dim": 10 if options.get("case_dim") is None else options["case_dim"],
                      "embeddings": os.path.abspath(embeddings) if embeddings else None},
        }

    def _lookup(self, encoders):
        cached = getattr(self, "_cache", None)
        if cached is None or cached[0] is not encoders:
            self._cache = (encoders, {w: i for i, w in enumerate(encoders["words"])},
                           {c: i for i, c in enumerate(encoders["chars"])},
                           {t: i for i, t in enumerate(encoders["tags"])}, {})
        return self._cache[1:]

    def encode(self, record: Sentence, encoders):
        words, chars, tags, known = self._lookup(encoders)
        features = []
        for w in record.words:
            f = known.get(w)
            if f is None:
                if len(known) >= FEATURE_CACHE:
                    known.clear()
                char_ids = np.array([chars.get(c, 0) for c in _clip(w)], dtype=np.int64)
                char_ids.flags.writeable = False  # shared by every token of the word
                f = known[w] = (words.get(normalise(w), 0), casing(w), char_ids)
            features.append(f)
        ids = np.array([f[0] for f in features], dtype=np.int64)
        counts = encoders["counts"]
        x = {"words": ids,
             "case": np.array([f[1] for f in features], dtype=np.int64),
             "chars": [f[2] for f in features]}
        y = None
        if record.tags is not None:
            missing = [t for t in record.tags if t not in tags]
            if missing:
                raise SeqkitError(f"{record.source}:{record.lines[record.tags.index(missing[0])]}: tag "
                                  f"{missing[0]!r} of a type the model was not trained on "
                                  f"(types: {', '.join(sorted({t[2:] for t in tags if t != 'O'}))})")
            y = np.array([tags[t] for t in record.tags], dtype=np.int64)
        # word dropout: a word seen c times in training becomes <unk> with chance a / (a + c)
        # (training examples only: they have tags)
        a = encoders["word_dropout"]
        unk_p = None if not a or y is None else np.array([a / (a + counts[i]) if i else 0.0
                                                          for i in ids])
        return Example(x, y, {"unk_p": unk_p})

    def dims(self, encoders):
        return {"n_in": len(encoders["words"]), "n_y": len(encoders["tags"]),
                "n_chars": len(encoders["chars"]), "encoders": encoders}

    # -- the model -------------------------------------------------------------------
    def build_model(self, dims, hparams, backend, dtype, seed):
        enc = dims["encoders"]
        cfg = enc["model"]
        common = {"backend": backend, "dtype": dtype}
        vectors = None
        E = hparams["embed_dim"]
        if cfg.get("embeddings"):
            vectors = read_vectors(cfg["embeddings"], enc["words"])
            E = vectors[1].shape[1]
        words = Embedding(dims["n_in"], E, seed=seed + 1, **common)
        # U(-sqrt(3/E), sqrt(3/E)) (variance 1/E, Lample et al.) rather than N(0, 1)
        rng = np.random.default_rng(seed + 11)
        init = rng.uniform(-1, 1, (dims["n_in"], E)) * np.sqrt(3.0 / E)
        if vectors is not None:
            rows, values = vectors
            init[rows] = values
        words.params["weight"][...] = words.backend.asarray(init, dtype=words.dtype)
        parts, n_x = [chain(Input("words", **common), words)], E
        if cfg["case_dim"]:
            parts.append(chain(Input("case", **common),
                               Embedding(len(enc["cases"]), cfg["case_dim"], seed=seed + 2, **common)))
            n_x += cfg["case_dim"]
        if cfg["char_dim"]:
            chars = CharEncoder("chars", dims["n_chars"], cfg["char_dim"], cfg["char_hidden"],
                                cell=hparams["cell"], seed=seed + 3, **common)
            parts.append(chars)
            n_x += chars.output_size
        p = hparams.get("dropout", 0.0)
        H, D = hparams["hidden"], 2 if hparams.get("bidirectional", True) else 1
        body = chain(concatenate(*parts) if len(parts) > 1 else parts[0],
                     Dropout(p, seed=seed + 4, **common),
                     Recurrent(hparams["cell"], n_x, H, num_layers=hparams.get("layers", 1),
                               bidirectional=D == 2, dropout=p if hparams.get("layers", 1) > 1 else 0.0,
                               seed=seed + 5, **common),
                     Dropout(p, seed=seed + 6, **common),
                     Dense(D * H, dims["n_y"], seed=seed + 7, **common))
        tags = enc["tags"]
        if cfg["head"] == "softmax":
            head = SoftmaxHead(len(tags), **common)
        else:
            head = CRF(len(tags), *transition_constraints(tags, "IOBES"), seed=seed + 8, **common)
        return ComposedModel(Kind.MANY_TO_MANY, body, head)

    # -- batching --------------------------------------------------------------------
    def prepare(self, examples, training, rng=None):
        if not training or rng is None:
            return examples
        # word dropout: rare words become <unk> now and then (a singleton half the
        # time with a = 1), so <unk>, every word unseen in training, is learned
        # with the other features, and the tagger does not lean on memorised words
        out = []
        for e in examples:
            p = e.meta["unk_p"]
            if p is not None:
                drop = rng.random(e.length) < p
                if drop.any():
                    e = Example({**e.x, "words": np.where(drop, 0, e.x["words"])}, e.y, e.meta)
            out.append(e)
        return out

    def batches(self, examples, batch_size, rng):
        if rng is not None:
            return super().batches(examples, batch_size, rng)
        # evaluation and prediction: sentences of similar length together, in larger
        # batches (nothing is kept for BPTT); ``stitch`` puts the outputs back in order
        order = _length_order(examples)
        size = max(batch_size, 128)
        return [order[i:i + size].tolist() for i in range(0, len(order), size)]

    def stitch(self, outputs, prepared, examples):
        order = _length_order(prepared)
        result = [None] * len(outputs)
        for pos, i in enumerate(order):
            result[i] = outputs[pos]
        return result

    # -- results ----------------------------------------------------------------------
    def tags_of(self, output: Output, encoders, scheme: str | None = None) -> list[str]:
        """The predicted tags in ``scheme`` (default: the files'), read leniently
        (a softmax head may predict an invalid IOBES sequence)."""
        tags = encoders["tags"]
        iobes = [tags[i] for i in output.labels]
        return from_spans(to_spans(iobes, "iobes"), len(iobes), scheme or encoders["scheme"])

    def metrics(self, outputs, examples, encoders):
        tags = encoders["tags"]
        gold = [from_spans(to_spans([tags[i] for i in e.y], "iobes"), e.length, "iob2")
                for e in examples]
        pred = [self.tags_of(o, encoders, "iob2") for o in outputs]
        return entity_scores(gold, pred)

    def parse_input(self, text, encoders):
        s = tokens_sentence(text)
        if not s.words:
            raise SeqkitError("an empty sentence: give tokens separated by spaces")
        return s

    def read_inputs(self, path, encoders):
        return read_conll(path, encoders["scheme"], tagged=False)

    def render_prediction(self, record, output, encoders):
        return " ".join(f"{w}/{t}" for w, t in zip(record.words, self.tags_of(output, encoders)))

    def write_predictions(self, records, outputs, encoders, path):
        write_conll(path, records, [self.tags_of(o, encoders) for o in outputs])


def _length_order(examples):
    return np.argsort([-e.length for e in examples], kind="stable")


def _try_splits(path):
    try:
        return find_splits(path)
    except SeqkitError:
        return {}


def read_vectors(path: str, vocab: list[str]):
    """The rows of ``vocab`` found in a text file of 'word v1 ... vd' lines, and their
    vectors: a line whose word is the vocabulary's form (lower case, digits 0) wins
    over one that only normalises to it ("paris" over "Paris")."""
    from .conll import _raw_lines

    index = {w: i for i, w in enumerate(vocab)}
    found: dict[int, tuple[bool, np.ndarray]] = {}
    dim = None
    for n, line in enumerate(_raw_lines(path), 1):
        parts = line.rstrip().split(" ")
        if len(parts) < 2 or (n == 1 and len(parts) == 2):  # blank, or word2vec's "count dim"
            continue
        if dim is None:
            dim = len(parts) - 1
        if len(parts) - 1 != dim:
            raise SeqkitError(f"{path}:{n}: {len(parts) - 1} numbers, expected {dim}")
        exact = parts[0] in index
        i = index.get(parts[0] if exact else normalise(parts[0]))
        if i is None or (i in found and (found[i][0] or not exact)):
            continue
        try:
            found[i] = (exact, np.array(parts[1:], dtype=np.float64))
        except ValueError:
            raise SeqkitError(f"{path}:{n}: not a word followed by {dim} numbers") from None
    if dim is None:
        raise SeqkitError(f"{path}: no vectors ('word v1 ... vd' per line)")
    rows = sorted(found)
    return np.array(rows, dtype=np.int64), np.array([found[i][1] for i in rows]).reshape(-1, dim)
