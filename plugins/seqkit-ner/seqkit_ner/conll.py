"""CoNLL column files: reading, writing, tag schemes.

A file holds one token per line, columns separated by spaces or tabs, the
token first and the tag in the last column (or ``tag_column``, 1-based); a
blank line ends a sentence; ``-DOCSTART-`` lines mark documents and are kept
aside (prediction writes them back). ``.gz`` files are read transparently.

Tags are read in one scheme and kept as IOBES inside (the model's tag set),
written back in the scheme they were read in:

    IOB1   I-X inside a chunk; B-X only to start a chunk right after one of type X
    IOB2   B-X starts every chunk, I-X continues it (BIO; CoNLL-2003 as shipped here)
    IOBES  B-X begin, I-X inside, E-X end, S-X a one-token chunk

Every problem is a ``SeqkitError`` of one line naming the file and line.
"""
from __future__ import annotations

import gzip
import os
import re
import zlib
from dataclasses import dataclass, field

from seqkit import SeqkitError
from seqkit.textio import write_text

SCHEMES = ("iob1", "iob2", "iobes")
_TAG = re.compile(r"^([BIES])-(.+)$")


@dataclass
class Sentence:
    """One sentence of a CoNLL file.

    words : the tokens; tags : IOBES tags (None for unlabelled input)
    columns : every column of every line as read (prediction writes them back)
    lines : the 1-based line number of each token; header : lines before the
    sentence that are not tokens (``-DOCSTART-``), written back by prediction
    """

    words: list
    tags: list | None = None
    columns: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    header: list = field(default_factory=list)
    source: str = ""
    sep: str = " "


# -- tag schemes ---------------------------------------------------------------
def split_tag(tag: str):
    """("O", None) or (prefix, type); None for a tag of no scheme."""
    if tag == "O":
        return "O", None
    m = _TAG.match(tag)
    return (m.group(1), m.group(2)) if m else None


def to_spans(tags: list, scheme: str, where=None) -> list[tuple[int, int, str]]:
    """Chunks (start, end exclusive, type) of a *valid* tag sequence in ``scheme``.
    ``where(i)`` names token i for the error an invalid sequence raises (None: no
    checks, for the model's own IOBES output, valid by construction)."""
    spans, start, kind = [], None, None
    allowed = {"iob1": "BI", "iob2": "BI", "iobes": "BIES"}[scheme]

    def bad(i, why):
        raise SeqkitError(f"{where(i)}: {why}")

    for i, tag in enumerate(tags):
        parsed = split_tag(tag)
        if parsed is None or (parsed[0] != "O" and parsed[0] not in allowed):
            if where is None:
                parsed = ("O", None)
            else:
                expect = "O or " + "/".join(f"{p}-TYPE" for p in allowed)
                bad(i, f"invalid tag {tag!r} for the {scheme.upper()} scheme (expected {expect}; "
                       "--tag-scheme chooses the scheme)")
        prefix, t = parsed
        inside = start is not None
        if scheme == "iobes":
            if prefix in ("I", "E"):
                if not inside or t != kind:
                    if where is not None:
                        bad(i, f"{tag} does not continue a chunk of type {t} "
                               f"(after {tags[i - 1] if i else 'the sentence start'})")
                    start, kind = i, t  # lenient: begin here
                if prefix == "E":
                    spans.append((start, i + 1, kind))
                    start = kind = None
                continue
            if inside:
                if where is not None:
                    bad(i, f"the chunk {tags[start]} at token {start + 1} of the sentence has no "
                           f"E-{kind}")
                spans.append((start, i, kind))
                start = kind = None
            if prefix == "B":
                start, kind = i, t
            elif prefix == "S":
                spans.append((i, i + 1, t))
            continue
        # IOB1 / IOB2
        if prefix == "O":
            if inside:
                spans.append((start, i, kind))
            start = kind = None
        elif prefix == "B" or (prefix == "I" and (not inside or t != kind)):
            if prefix == "I" and scheme == "iob2" and where is not None:
                bad(i, f"{tag} does not continue a chunk of type {t} "
                       f"(after {tags[i - 1] if i else 'the sentence start'}); an IOB1 file "
                       "needs --tag-scheme iob1")
            if inside:
                spans.append((start, i, kind))
            start, kind = i, t
    if start is not None:
        if scheme == "iobes" and where is not None:
            bad(len(tags) - 1, f"the chunk {tags[start]} ends the sentence without E-{kind}")
        spans.append((start, len(tags), kind))
    return spans


def from_spans(spans, n: int, scheme: str) -> list[str]:
    """The tags of ``n`` tokens holding ``spans`` (sorted, not overlapping) in ``scheme``."""
    tags = ["O"] * n
    last_end, last_kind = -1, None
    for s, e, t in spans:
        if scheme == "iobes":
            if e - s == 1:
                tags[s] = f"S-{t}"
            else:
                tags[s] = f"B-{t}"
                tags[s + 1:e - 1] = [f"I-{t}"] * (e - s - 2)
                tags[e - 1] = f"E-{t}"
        else:
            first = "B" if scheme == "iob2" or (s == last_end and t == last_kind) else "I"
            tags[s] = f"{first}-{t}"
            tags[s + 1:e] = [f"I-{t}"] * (e - s - 1)
        last_end, last_kind = e, t
    return tags


def convert(tags: list, source: str, target: str, where=None) -> list[str]:
    return from_spans(to_spans(tags, source, where), len(tags), target)


# -- reading -------------------------------------------------------------------
def _raw_lines(path: str) -> list[str]:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise SeqkitError(f"{path} is a directory, not a CoNLL file") from None
    except OSError as e:
        raise SeqkitError(f"cannot read {path}: {e.strerror or e}") from None
    if path.endswith(".gz") or data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise SeqkitError(f"{path} is not a readable gzip file: {e}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise SeqkitError(f"{path}:{line}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    return text.replace("\r\n", "\n").split("\n")


def split_columns(line: str) -> list[str]:
    """Columns split on tabs if the line has any (tokens may then hold spaces),
    otherwise on runs of spaces."""
    cols = line.split("\t") if "\t" in line else line.split(" ")
    return cols if "" not in cols else [c for c in cols if c != ""]


def read_conll(path: str, scheme: str = "iob2", tag_column: int | None = None,
               tagged: bool = True) -> list[Sentence]:
    """Sentences of a CoNLL file with their tags converted to IOBES.

    ``tag_column`` is 1-based (None: the last column); ``tagged=False`` reads
    tokens only (the tag column, if any, is kept among the columns)."""
    if scheme not in SCHEMES:
        raise SeqkitError(f"unknown tag scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    sentences, current, header = [], [], []
    lines = _raw_lines(path)
    if lines and lines[-1] == "":
        lines.pop()

    def finish():
        nonlocal current, header
        if current:
            sentences.append(_sentence(path, current, header, scheme, tag_column, tagged))
            current, header = [], []

    for n, line in enumerate(lines, 1):
        cols = split_columns(line.strip("\r\n"))
        if not cols:
            finish()
            continue
        if cols[0] == "-DOCSTART-":
            finish()
            header.append(line)
            continue
        if tagged:
            need = 2 if tag_column is None else max(2, tag_column)
            if len(cols) < need:
                what = "a tag column" if tag_column is None else f"column {tag_column} (the tag)"
                raise SeqkitError(f"{path}:{n}: expected a token and {what}, got "
                                  f"{len(cols)} column{'s' * (len(cols) != 1)}: {line.strip()[:60]!r}")
        current.append((n, cols, "\t" in line))
    finish()
    if not sentences:
        raise SeqkitError(f"{path}:{max(len(lines), 1)}: no sentences (tokens one per line, a blank line "
                          "between sentences)")
    return sentences


def _sentence(path, rows, header, scheme, tag_column, tagged) -> Sentence:
    words = [cols[0] for _, cols, _ in rows]
    lines = [n for n, _, _ in rows]
    tags = None
    if tagged:
        col = -1 if tag_column is None else tag_column - 1
        raw = [cols[col] for _, cols, _ in rows]
        tags = convert(raw, scheme, "iobes", where=lambda i: f"{path}:{lines[i]}")
    sep = "\t" if any(tab for _, _, tab in rows) else " "
    return Sentence(words, tags, [cols for _, cols, _ in rows], lines, list(header), path, sep)


def tokens_sentence(text: str) -> Sentence:
    """A sentence from a line of whitespace-separated tokens (``seqkit predict MODEL "..."``)."""
    words = text.split()
    return Sentence(words, None, [[w] for w in words], list(range(1, len(words) + 1)))


# -- data directories ----------------------------------------------------------
SPLIT_PREFIXES = {"train": ("train",), "valid": ("valid", "dev", "testa"), "test": ("testb", "test")}


def find_splits(directory: str) -> dict[str, str]:
    """``train*``, ``valid*``/``dev*``/``testa*`` and ``test*``/``testb*`` in ``directory``
    (any extension; hidden files and sub-folders ignored). Two candidates for one
    split are an error, as is a directory without a train file."""
    try:
        names = sorted(n for n in os.listdir(directory)
                       if not n.startswith(".") and os.path.isfile(os.path.join(directory, n)))
    except OSError as e:
        raise SeqkitError(f"cannot read {directory}: {e.strerror or e}") from None
    found = {}
    for split, prefixes in SPLIT_PREFIXES.items():
        hits = [n for n in names if n.lower().startswith(prefixes)
                and not (split == "test" and n.lower().startswith("testa"))]
        if len(hits) > 1:
            raise SeqkitError(f"{directory}: several {split} files ({', '.join(hits)}); "
                              f"pass --{split} FILE to choose")
        if hits:
            found[split] = os.path.join(directory, hits[0])
    if "train" not in found:
        raise SeqkitError(f"{directory}: no train file (train*, e.g. train.txt or train.conll.gz)")
    return found


# -- writing -------------------------------------------------------------------
def write_conll(path: str, sentences: list[Sentence], tags: list[list[str]]) -> None:
    """Each sentence's columns as read plus one predicted tag column (tab-separated
    if the input was, else space), headers (``-DOCSTART-``) and blank lines kept."""
    out = []
    for s, pred in zip(sentences, tags):
        for h in s.header:
            sep = "\t" if "\t" in h else " "
            out.append(f"{h.rstrip()}{sep}O\n\n")
        for cols, tag in zip(s.columns, pred):
            out.append(s.sep.join([*cols, tag]) + "\n")
        out.append("\n")
    write_text(path, "".join(out))
