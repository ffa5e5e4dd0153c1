"""Reading music data: JSON piano rolls or voices with official splits, and MIDI files.

``--data`` takes

    FILE.json[.gz]   ``{"train": [...], "valid": [...], "test": [...]}``, each a list of
                     pieces, each a list of time steps, in one of two layouts:
                     rolls   a step is a sorted list of the MIDI pitches sounding
                             (the Boulanger-Lewandowski benchmarks)
                     voices  a step is one MIDI pitch per voice, -1 for silent
                             (``jsb_satb_16th``: soprano, alto, tenor, bass)
    FILE.mid         one piece (training data; the core holds out a validation part)
    DIRECTORY        its MIDI files (``*.mid``, ``*.midi``, searched recursively, in
                     sorted order); with subfolders ``train/``, ``valid/``, ``test/``
                     those are the splits

Every reader returns a ``Source`` per piece: notes on a step grid and, where the
file has it, the piano roll or the voice lines themselves.
"""
from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass

import numpy as np

from seqkit import SeqkitError

from .midi import Score, read_midi
from .pianoroll import check_pitch, notes_from_roll, roll_from_notes, roll_from_steps

SPLITS = ("train", "valid", "test")
MIDI_EXTENSIONS = (".mid", ".midi")


@dataclass
class Source:
    """One piece as read. ``roll`` (T, 88) for rolls and MIDI; ``voices`` (T, V) int
    pitches (-1 silent) for the voices layout; ``name`` says where it came from."""

    name: str
    roll: np.ndarray
    voices: np.ndarray | None = None
    steps_per_quarter: int = 1

    @property
    def notes(self):
        return notes_from_roll(self.roll)


def read_json(path: str) -> object:
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise SeqkitError(f"no such data file: {path}") from None
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise SeqkitError(f"cannot read {path}: {type(e).__name__}: {e}") from None
    except json.JSONDecodeError as e:
        raise SeqkitError(f"{path} is not JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None


def layout_of(data: dict, path: str, forced: str | None) -> str:
    """"rolls" or "voices": forced by ``--layout``, else voices when some step holds a
    negative pitch or lists its pitches highest first, as the voices of a chorale do."""
    if forced:
        return forced
    widths = set()
    for pieces in data.values():
        for piece in pieces if isinstance(pieces, list) else ():
            for step in piece if isinstance(piece, list) else ():
                if not isinstance(step, list):
                    continue
                widths.add(len(step))
                numbers = [p for p in step if isinstance(p, int) and not isinstance(p, bool)]
                if any(p < 0 for p in numbers):
                    return "voices"
                if len(numbers) == len(step) and numbers != sorted(numbers) and len(widths) == 1:
                    return "voices"
    return "rolls"


def read_json_splits(path: str, layout: str | None = None) -> dict[str, list[Source]]:
    data = read_json(path)
    if not isinstance(data, dict) or not any(k in data for k in SPLITS):
        raise SeqkitError(f"{path}: expected a JSON object with 'train', 'valid' and 'test' lists "
                          "of pieces")
    unknown = sorted(set(data) - set(SPLITS))
    if unknown:
        raise SeqkitError(f"{path}: unknown split {unknown[0]!r} (the splits are train, valid, test)")
    layout = layout_of(data, path, layout)
    splits = {}
    for split in SPLITS:
        pieces = data.get(split, [])
        if not isinstance(pieces, list):
            raise SeqkitError(f"{path}: {split!r} must be a list of pieces, not "
                              f"{type(pieces).__name__}")
        splits[split] = [(_voices if layout == "voices" else _rolls)(piece, f"{path}: {split} piece {i}")
                         for i, piece in enumerate(pieces)]
    return splits


def _rolls(piece, where: str) -> Source:
    roll = roll_from_steps(piece, where)
    if not len(roll):
        raise SeqkitError(f"{where} has no time steps")
    return Source(where, roll)


def _voices(piece, where: str) -> Source:
    if not isinstance(piece, list) or not piece:
        raise SeqkitError(f"{where}: a piece must be a non-empty list of time steps")
    width = None
    for t, step in enumerate(piece):
        if not isinstance(step, list) or (width is not None and len(step) != width):
            raise SeqkitError(f"{where} step {t}: in the voices layout each step is a list of "
                              f"{width or 'V'} pitches (-1: silent), not {step!r:.40}")
        width = len(step)
        for p in step:
            if p != -1:
                check_pitch(p, f"{where} step {t}")
    voices = np.array(piece, dtype=np.int64).reshape(len(piece), width)
    notes = [(int(p), t, t + 1) for t, step in enumerate(voices) for p in step if p >= 0]
    return Source(where, roll_from_notes(notes, len(voices)), voices)


def source_from_score(score: Score, name: str) -> Source:
    if not score.notes:
        raise SeqkitError(f"{name} holds no notes")
    for pitch, start, _ in score.notes:
        check_pitch(pitch, f"{name} (a note at step {start})")
    return Source(name, roll_from_notes(score.notes, score.n_steps))


def read_midi_source(path: str, steps_per_quarter: int) -> Source:
    return source_from_score(read_midi(path, steps_per_quarter), path)


def midi_files(directory: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        found += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(MIDI_EXTENSIONS)]
    return found


def read_sources(path: str, steps_per_quarter: int, layout: str | None = None
                 ) -> dict[str, list[Source]]:
    """Every split of ``path`` (see the module docstring); missing splits are empty."""
    if os.path.isdir(path):
        subdirs = [s for s in SPLITS if os.path.isdir(os.path.join(path, s))]
        folders = {s: os.path.join(path, s) for s in subdirs} if subdirs else {"train": path}
        splits = {s: [read_midi_source(f, steps_per_quarter) for f in midi_files(d)]
                  for s, d in folders.items()}
        if not any(splits.values()):
            raise SeqkitError(f"{path} holds no MIDI files (*.mid, *.midi)")
    elif path.lower().endswith(MIDI_EXTENSIONS):
        splits = {"train": [read_midi_source(path, steps_per_quarter)]}
    elif path.lower().endswith((".json", ".json.gz")):
        splits = read_json_splits(path, layout)
    elif not os.path.exists(path):
        raise SeqkitError(f"no such file or directory: {path}")
    else:
        raise SeqkitError(f"{path}: give a .json/.json.gz file of splits, a .mid file or a "
                          "directory of MIDI files")
    for pieces in splits.values():
        for source in pieces:
            source.steps_per_quarter = steps_per_quarter
    return splits


def split_of(spec: str) -> tuple[str, str | None]:
    """``FILE:SPLIT`` -> (FILE, SPLIT); a plain path -> (path, None)."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail in SPLITS and head:
        return head, tail
    return spec, None
