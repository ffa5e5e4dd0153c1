"""A test task plugin, installed as a real distribution by the tests: a tagger
whose tags can only be learned from the characters and the casing of words.

Data: a directory with ``train.txt``, ``valid.txt``, ``test.txt``, one
``word TAG`` per line, a blank line between sentences. Words ending in -ing
are B-V; a capitalised word is B-PER, and I-PER when it follows one. The test
words are not in the training data, so the word embedding only sees <unk>.

Model: word + casing embeddings + a character BiLSTM -> BiLSTM -> CRF, all the
core's layers, with BIO transitions forbidden by construction. No core code
knows about it.
"""
from __future__ import annotations

import os

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
    Recurrent,
    SeqkitError,
    Task,
    chain,
    concatenate,
    hookimpl,
    transition_constraints,
)
from seqkit.textio import read_lines, write_text

TAGS = ["O", "B-V", "B-PER", "I-PER"]
CASES = ["lower", "title", "upper", "other"]


def casing(word: str) -> int:
    return CASES.index("title" if word.istitle() else "upper" if word.isupper()
                       else "lower" if word.islower() else "other")


def read_sentences(path: str, tagged: bool = True) -> list[list[tuple[str, str | None]]]:
    sentences, current = [], []
    for n, line in enumerate(read_lines(path), 1):
        if not line.strip():
            if current:
                sentences.append(current)
            current = []
            continue
        cols = line.split()
        if tagged and len(cols) < 2:
            raise SeqkitError(f"{path}:{n}: expected 'word TAG'")
        current.append((cols[0], cols[-1] if tagged and len(cols) > 1 else None))
    if current:
        sentences.append(current)
    return sentences


class ToyTagger(Task):
    name = "toytag"
    kind = Kind.MANY_TO_MANY
    description = "toy BIO tagger (test plugin): words, casing and characters -> CRF"
    defaults = {"hidden": 32, "epochs": 12, "lr": 0.01, "batch_size": 16, "dropout": 0.2}
    monitor = ("accuracy", "max")

    def read(self, path, options):
        return {split: read_sentences(os.path.join(path, f"{split}.txt"))
                for split in ("train", "valid", "test")
                if os.path.exists(os.path.join(path, f"{split}.txt"))}

    def build_encoders(self, train, options):
        words = sorted({w.lower() for s in train for w, _ in s})
        chars = sorted({c for s in train for w, _ in s for c in w})
        return {"words": ["<unk>"] + words, "chars": ["<unk>"] + chars, "tags": TAGS}

    def _lookup(self, encoders):
        cached = getattr(self, "_cache", None)
        if cached is None or cached[0] is not encoders:
            self._cache = (encoders, {w: i for i, w in enumerate(encoders["words"])},
                           {c: i for i, c in enumerate(encoders["chars"])})
        return self._cache[1:]

    def encode(self, record, encoders):
        words, chars = self._lookup(encoders)
        x = {"words": np.array([words.get(w.lower(), 0) for w, _ in record]),
             "case": np.array([casing(w) for w, _ in record]),
             "chars": [np.array([chars.get(c, 0) for c in w]) for w, _ in record]}
        tags = [t for _, t in record]
        y = None if None in tags else np.array([TAGS.index(t) for t in tags])
        return Example(x, y)

    def dims(self, encoders):
        return {"n_in": len(encoders["words"]), "n_y": len(TAGS), "n_chars": len(encoders["chars"])}

    def build_model(self, dims, hparams, backend, dtype, seed):
        H, p = hparams["hidden"], hparams.get("dropout", 0.0)
        common = {"backend": backend, "dtype": dtype}
        chars = CharEncoder("chars", dims["n_chars"], 8, 16, cell="lstm", seed=seed, **common)
        features = concatenate(chain(Input("words", **common), Embedding(dims["n_in"], 16, seed=seed + 1,
                                                                         **common)),
                               chain(Input("case", **common), Embedding(len(CASES), 4, seed=seed + 2,
                                                                        **common)),
                               chars)
        n_x = 16 + 4 + chars.output_size
        body = chain(features, Dropout(p, seed=seed + 3, **common),
                     Recurrent("lstm", n_x, H, bidirectional=True, seed=seed + 4, **common),
                     Dropout(p, seed=seed + 5, **common),
                     Dense(2 * H, len(TAGS), seed=seed + 6, **common))
        return ComposedModel(Kind.MANY_TO_MANY, body,
                             CRF(len(TAGS), *transition_constraints(TAGS, "BIO"), seed=seed, **common))

    def prepare(self, examples, training, rng=None):
        if not training or rng is None:
            return examples
        # word dropout: some known words become <unk>, so the tagger learns to
        # rely on characters and casing for the unseen words of the test split
        out = []
        for e in examples:
            words = np.where(rng.random(e.length) < 0.25, 0, e.x["words"])
            out.append(Example({**e.x, "words": words}, e.y))
        return out

    # -- prediction ----------------------------------------------------------
    def parse_input(self, text, encoders):
        return [(w, None) for w in text.split()]

    def read_inputs(self, path, encoders):
        return [[(w, None) for w, _ in s] for s in read_sentences(path, tagged=False)]

    def render_prediction(self, record, output, encoders):
        return " ".join(f"{w}/{TAGS[t]}" for (w, _), t in zip(record, output.labels))

    def write_predictions(self, records, outputs, encoders, path):
        write_text(path, "".join(
            "".join(f"{w}\t{TAGS[t]}\n" for (w, _), t in zip(r, o.labels)) + "\n"
            for r, o in zip(records, outputs)))


@hookimpl
def register_tasks(register):
    register(ToyTagger())
