"""Readers and writers: FASTA (plain or gzipped, through Biopython's ``SeqIO``),
label files (TSV, BED), the three shared data sets' formats, and predictions.

Formats, detected from the file's first non-empty line unless ``--format`` says:

  fasta      ``>id [label]`` then the sequence (any line width); labels from the
             header's second word, or from ``--labels FILE``
  splice     UCI splice junctions: ``CLASS, NAME, SEQUENCE`` per line
  promoters  UCI E. coli promoters: ``CLASS,NAME,<tabs>SEQUENCE`` per line
  cds-tsv    the mouse CDS table: a header row with ``id``, ``sequence``, ``labels``
             (and optionally ``split``) columns, TAB-separated

Every problem is one ``SeqkitError`` line naming the file (and record or line).
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass

import numpy as np

from seqkit import SeqkitError

from .alphabet import to_codes

FORMATS = ("auto", "fasta", "splice", "promoters", "cds-tsv")


@dataclass
class Record:
    """One sequence: ``codes`` (int8, see ``alphabet``), a class ``label``
    (classification) or per-base ``tags`` (tagging: a str of one label
    character per base, or a list of label names), either None when unknown."""

    id: str
    codes: np.ndarray
    label: str | None = None
    tags: object = None
    split: str | None = None

    def __len__(self) -> int:
        return len(self.codes)


# -- opening files ---------------------------------------------------------------
def open_text(path: str):
    """A text handle on ``path``, gunzipped when it starts with the gzip magic."""
    if not os.path.exists(path):
        raise SeqkitError(f"no such file: {path}")
    if os.path.isdir(path):
        raise SeqkitError(f"{path} is a directory, not a sequence file")
    with open(path, "rb") as f:
        magic = f.read(2)
    try:
        if magic == b"\x1f\x8b":
            return gzip.open(path, "rt", encoding="utf-8", newline=None)
        return open(path, encoding="utf-8", newline=None)
    except OSError as e:
        raise SeqkitError(f"cannot read {path}: {e}") from None


def read_all(path: str) -> str:
    try:
        with open_text(path) as f:
            return f.read()
    except UnicodeDecodeError:
        raise SeqkitError(f"{path} is not UTF-8 text") from None
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise SeqkitError(f"cannot read {path}: {e}") from None


def first_line(path: str) -> str | None:
    """The first non-empty line of ``path`` (reading no further)."""
    try:
        with open_text(path) as f:
            return next((ln for ln in f if ln.strip()), None)
    except UnicodeDecodeError:
        raise SeqkitError(f"{path} is not UTF-8 text") from None
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise SeqkitError(f"cannot read {path}: {e}") from None


def detect_format(path: str) -> str:
    line = first_line(path)
    if line is None:
        raise SeqkitError(f"{path} is empty: no FASTA records (or lines of any format)")
    s = line.strip()
    if s.startswith(">"):
        return "fasta"
    cols = s.split("\t")
    if {"id", "sequence", "labels"} <= set(cols):
        return "cds-tsv"
    parts = [p.strip() for p in s.split(",")]
    if len(parts) == 3 and parts[0] in ("EI", "IE", "N"):
        return "splice"
    if len(parts) == 3 and parts[0] in ("+", "-"):
        return "promoters"
    raise SeqkitError(f"{path}: cannot tell its format from its first line {s[:40]!r}; "
                      f"give --format ({', '.join(FORMATS[1:])})")


# -- FASTA -----------------------------------------------------------------------
def read_fasta(path: str) -> list[tuple[str, str, str]]:
    """``(id, description, sequence)`` per record, through Biopython's SeqIO."""
    from Bio import SeqIO

    first = first_line(path)
    if first is None:
        raise SeqkitError(f"{path} is empty: no FASTA records")
    if not first.lstrip().startswith(">"):
        raise SeqkitError(f"{path} is not FASTA: its first line does not start with '>'")
    out, seen = [], set()
    try:
        with open_text(path) as handle:  # streamed: the file is never held twice
            for rec in SeqIO.parse(handle, "fasta"):
                if not rec.id:
                    raise SeqkitError(f"{path}: a record has an empty header (no id after '>')")
                if rec.id in seen:
                    raise SeqkitError(f"{path}: record id {rec.id!r} occurs twice")
                seen.add(rec.id)
                seq = str(rec.seq)
                if not seq:
                    raise SeqkitError(f"{path}: record {rec.id!r} has no sequence")
                out.append((rec.id, rec.description, seq))
    except UnicodeDecodeError:
        raise SeqkitError(f"{path} is not UTF-8 text") from None
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise SeqkitError(f"cannot read {path}: {e}") from None
    if not out:
        raise SeqkitError(f"{path} holds no FASTA records")
    return out


def fasta_records(path: str, need_label: bool, labels: dict | None = None) -> list[Record]:
    """Records of a FASTA file; a class label from ``labels`` (id -> label) or the
    header's second word. ``need_label``: a record without one is an error."""
    out = []
    for rid, desc, seq in read_fasta(path):
        words = desc.split()
        label = labels.get(rid) if labels is not None else (words[1] if len(words) > 1 else None)
        if need_label and label is None:
            where = f"in {labels_path_hint(labels)}" if labels is not None else "in its header"
            raise SeqkitError(f"{path}: record {rid!r} has no label {where} "
                              f"(expected '>{rid} LABEL' or --labels FILE)")
        out.append(Record(rid, to_codes(seq, rid), label))
    return out


def labels_path_hint(labels) -> str:
    return getattr(labels, "path", "the label file")


class LabelMap(dict):
    path = ""


def read_label_tsv(path: str) -> LabelMap:
    """``id<TAB>label`` per line (``#`` comments and a header row ``id<TAB>label`` skipped)."""
    out = LabelMap()
    out.path = path
    for n, line in enumerate(read_all(path).splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.rstrip("\n").split("\t")
        if len(cols) < 2 or not cols[0].strip() or not cols[1].strip():
            raise SeqkitError(f"{path}:{n}: expected 'id<TAB>label'")
        if n == 1 and cols[0].strip().lower() == "id":
            continue
        rid = cols[0].strip()
        if rid in out:
            raise SeqkitError(f"{path}:{n}: id {rid!r} is labelled twice")
        out[rid] = cols[1].strip()
    if not out:
        raise SeqkitError(f"{path} holds no labels")
    return out


def read_bed(path: str) -> dict[str, list[tuple[int, int, str]]]:
    """``chrom start end [name]`` intervals (0-based, end exclusive) by sequence id;
    an interval with no name column is labelled ``feature``."""
    out: dict = {}
    for n, line in enumerate(read_all(path).splitlines(), 1):
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        try:
            start, end = int(cols[1]), int(cols[2])
        except (IndexError, ValueError):
            raise SeqkitError(f"{path}:{n}: expected 'id<TAB>start<TAB>end[<TAB>label]'") from None
        if start < 0 or end <= start:
            raise SeqkitError(f"{path}:{n}: interval {start}-{end} is empty or negative")
        out.setdefault(cols[0], []).append((start, end, cols[3] if len(cols) > 3 else "feature"))
    if not out:
        raise SeqkitError(f"{path} holds no intervals")
    return out


def check_known_ids(path: str, named, records: list[Record]) -> None:
    ids = {r.id for r in records}
    unknown = [i for i in named if i not in ids]
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise SeqkitError(f"{path} names {len(unknown)} id(s) not in the sequences: "
                          f"{', '.join(map(repr, unknown[:3]))}{more}")


# -- the shared data sets' formats -------------------------------------------------
def read_splice(path: str) -> list[Record]:
    out = []
    for n, line in enumerate(read_all(path).splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or not all(parts):
            raise SeqkitError(f"{path}:{n}: expected 'CLASS, NAME, SEQUENCE'")
        out.append(Record(parts[1], to_codes(parts[2], f"{parts[1]} ({path}:{n})"), parts[0]))
    if not out:
        raise SeqkitError(f"{path} holds no records")
    return out


def read_promoters(path: str) -> list[Record]:
    out = []
    for n, line in enumerate(read_all(path).splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",", 2)]
        if len(parts) != 3 or not all(parts):
            raise SeqkitError(f"{path}:{n}: expected 'CLASS,NAME,SEQUENCE'")
        seq = "".join(parts[2].split())
        out.append(Record(parts[1], to_codes(seq, f"{parts[1]} ({path}:{n})"), parts[0]))
    if not out:
        raise SeqkitError(f"{path} holds no records")
    return out


def read_cds_tsv(path: str) -> list[Record]:
    lines = read_all(path).splitlines()
    if not lines:
        raise SeqkitError(f"{path} is empty")
    header = lines[0].split("\t")
    missing = {"id", "sequence", "labels"} - set(header)
    if missing:
        raise SeqkitError(f"{path}: the header row lacks column(s) {', '.join(sorted(missing))}")
    col = {name: i for i, name in enumerate(header)}
    out = []
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cols = line.split("\t")
        if len(cols) != len(header):
            raise SeqkitError(f"{path}:{n}: {len(cols)} columns, the header has {len(header)}")
        rid, seq, tags = cols[col["id"]], cols[col["sequence"]], cols[col["labels"]].strip()
        codes = to_codes(seq.strip(), rid)
        if len(tags) != len(codes):
            raise SeqkitError(f"{path}:{n}: record {rid!r} has {len(codes)} bases but "
                              f"{len(tags)} labels")
        split = cols[col["split"]].strip() if "split" in col else None
        if split not in (None, "train", "valid", "test"):
            raise SeqkitError(f"{path}:{n}: split must be train, valid or test, not {split!r}")
        out.append(Record(rid, codes, None, tags, split))
    if not out:
        raise SeqkitError(f"{path} holds no records")
    return out


def tags_from_bed(records: list[Record], bed: dict, path: str, background: str) -> None:
    """Per-base tags of each record from BED intervals (bases outside: ``background``)."""
    check_known_ids(path, bed, records)
    for r in records:
        tags = [background] * len(r)
        for start, end, name in bed.get(r.id, []):
            if end > len(r):
                raise SeqkitError(f"{path}: interval {start}-{end} runs past the end of "
                                  f"{r.id!r} ({len(r)} bases)")
            tags[start:end] = [name] * (end - start)
        r.tags = tags


# -- writing predictions ------------------------------------------------------------
def bed_intervals(rid: str, labels: np.ndarray, probs: np.ndarray, names: list[str],
                  background: int) -> list[str]:
    """Runs of equal non-background predicted labels as BED lines
    ``id start end label score`` (0-based, end exclusive; score = 1000 × the mean
    probability of the label over the run)."""
    out = []
    labels = np.asarray(labels)
    if labels.size == 0:
        return out
    change = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(labels)]])
    for s, e in zip(starts, ends):
        lab = int(labels[s])
        if lab == background:
            continue
        score = int(round(1000 * float(probs[s:e, lab].mean())))
        out.append(f"{rid}\t{s}\t{e}\t{names[lab]}\t{score}")
    return out
