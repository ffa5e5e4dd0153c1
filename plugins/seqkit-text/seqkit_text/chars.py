"""Task ``chars``: a character-level language model (one-to-many).

Each example is a line of text (a dinosaur name), or with ``--chunk N`` a piece of
N characters of running text. With <bos> standing for the lecture's x<1> = 0:

    x = <bos> c1 c2 ... cn          y = c1 c2 ... cn <eos>

so y<t> = x<t+1>, and sampling feeds each drawn character back in until <eos>.
Metric: bits per character (and perplexity) on held-out text.
"""
from __future__ import annotations

import math
import os
from importlib import resources

import click
import numpy as np

from seqkit import SeqkitError
from seqkit.tasks import Example, Kind, Task
from seqkit.vocab import Vocabulary

BOS, EOS, UNK = "<bos>", "<eos>", "<unk>"
#: bundled samples, so a first run needs no download: ``--data dinos``
SAMPLES = {"dinos": "dinos.txt"}
#: longer lines are almost certainly running text, not one sequence each
MAX_LINE = 10_000


def resolve_data(path: str) -> str:
    """``path`` itself, or a bundled sample's file when ``path`` names one and no
    such file exists (a file of that name always wins)."""
    if not os.path.exists(path) and path in SAMPLES:
        return str(resources.files("seqkit_text") / "data" / SAMPLES[path])
    return path


def read_text(path: str) -> str:
    """The file's text; one-line errors for missing, binary or empty files."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise SeqkitError(f"cannot read {path}: {e.strerror}") from None
    if b"\x00" in raw:
        raise SeqkitError(f"{path} looks binary (it holds NUL bytes); chars needs UTF-8 text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SeqkitError(f"{path} is not UTF-8 text (byte {e.start}: {e.reason})") from None
    if not text.strip():
        raise SeqkitError(f"{path} is empty")
    return text


class CharLM(Task):
    name = "chars"
    kind = Kind.ONE_TO_MANY
    description = "character-level language model over a UTF-8 text file"
    data_help = ("A UTF-8 text file, one sequence per line (or running text with --chunk); "
                 "'dinos' is the bundled sample of 1,623 dinosaur names.")
    defaults = {"cell": "lstm", "hidden": 128, "embed_dim": 32, "epochs": 20, "lr": 5e-3,
                "batch_size": 32, "clip_norm": 5.0, "reduction": "sum"}
    options = [
        click.Option(["--chunk"], type=click.IntRange(2), default=None,
                     help="Cut running text into pieces of N characters (default: one per line)."),
        click.Option(["--lowercase"], is_flag=True, default=None, help="Lowercase the text."),
        click.Option(["--max-vocab"], type=click.IntRange(1), default=None,
                     help="Keep the N most common characters; others become <unk>."),
        click.Option(["--min-count"], type=click.IntRange(1), default=None,
                     help="Drop characters seen fewer than N times (they become <unk>)."),
    ]
    monitor = ("bpc", "min")

    def read(self, path, options):
        path = resolve_data(path)
        text = read_text(path)
        if options.get("lowercase"):
            text = text.lower()
        if options.get("chunk"):
            n = options["chunk"]
            records = [text[i:i + n] for i in range(0, len(text), n)]
        else:
            records = [line.strip() for line in text.splitlines()]
            longest = max(range(len(records)), key=lambda i: len(records[i]), default=None)
            if longest is not None and len(records[longest]) > MAX_LINE:
                raise SeqkitError(f"{path}: line {longest + 1} has {len(records[longest]):,} characters, "
                                  f"but each line is one sequence (at most {MAX_LINE:,}); for running "
                                  "text use --chunk N to cut it into pieces of N characters")
        return {"train": [r for r in records if r]}

    def build_encoders(self, train, options):
        vocab = Vocabulary.build(train, max_size=options.get("max_vocab"),
                                 min_count=options.get("min_count") or 1,
                                 specials=(UNK, BOS, EOS))
        return {"vocab": vocab.to_json(), "lowercase": bool(options.get("lowercase")),
                "eos": not options.get("chunk")}

    def _vocab(self, encoders) -> Vocabulary:
        # encode() runs once per example: rebuild the lookup only for new encoders
        cached = getattr(self, "_cached", None)
        if cached is None or cached[0] is not encoders:
            self._cached = (encoders, Vocabulary.from_json(encoders["vocab"]))
        return self._cached[1]

    def encode(self, record, encoders):
        vocab = self._vocab(encoders)
        ids = np.concatenate([[vocab.index(BOS)], vocab.encode(record),
                              [vocab.index(EOS)] if encoders["eos"] else []]).astype(np.int64)
        return Example(x=ids[:-1], y=ids[1:])

    def dims(self, encoders):
        n = len(self._vocab(encoders))
        return {"n_in": n, "n_y": n}

    def metrics(self, outputs, examples, encoders):
        nats = sum(-np.log(np.maximum(o.probs[np.arange(len(e.y)), e.y], 1e-300)).sum()
                   for o, e in zip(outputs, examples))
        per_char = nats / sum(len(e.y) for e in examples)
        return {"bpc": per_char / math.log(2), "perplexity": math.exp(per_char)}

    # -- predict: how surprising is each input to the model? -----------------
    def parse_input(self, text, encoders):
        if not text:
            raise SeqkitError("empty input line")
        return text.lower() if encoders.get("lowercase") else text

    def render_prediction(self, record, output, encoders):
        ex = self.encode(record, encoders)
        bits = -np.log2(np.maximum(output.probs[np.arange(len(ex.y)), ex.y], 1e-300)).mean()
        return f"{record}\t{bits:.3f} bits/char"

    # -- generate ------------------------------------------------------------
    def primer_ids(self, primer, encoders):
        vocab = self._vocab(encoders)
        if encoders.get("lowercase"):
            primer = primer.lower()
        return [vocab.index(BOS), *vocab.encode(primer).tolist()]

    def end_id(self, encoders):
        return self._vocab(encoders).index(EOS) if encoders["eos"] else None

    def render_sample(self, ids, encoders, primer=""):
        vocab = self._vocab(encoders)
        chars = [t for t in vocab.decode(ids) if t not in (EOS, BOS)]
        return primer + "".join(c if c != UNK else "?" for c in chars)
