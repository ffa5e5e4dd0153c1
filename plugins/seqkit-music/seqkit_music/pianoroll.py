"""Piano rolls: the 88 keys of a piano, one 0/1 frame per time step.

    roll : (T, 88) uint8, roll[t, k] = 1 when MIDI pitch 21 + k sounds at step t
    steps : the JSON form, one sorted list of MIDI pitches per step (possibly empty)

A roll cannot tell a held note from a repeated one: a key that is on in two
consecutive frames is one note (as in the benchmark data).
"""
from __future__ import annotations

import numpy as np

from seqkit import SeqkitError

LOWEST, HIGHEST = 21, 108           # A0 .. C8, the piano's range
KEYS = HIGHEST - LOWEST + 1         # 88


def check_pitch(pitch, where: str) -> int:
    """``pitch`` as an int in the piano's range, or a one-line error saying where it is."""
    if isinstance(pitch, bool) or not isinstance(pitch, (int, np.integer)):
        raise SeqkitError(f"{where}: a pitch must be an integer MIDI note number, not {pitch!r:.40}")
    if not LOWEST <= pitch <= HIGHEST:
        raise SeqkitError(f"{where}: pitch {pitch} is out of the piano's range "
                          f"{LOWEST}..{HIGHEST} (A0..C8)")
    return int(pitch)


def roll_from_steps(steps, where: str) -> np.ndarray:
    """(T, 88) uint8 from a list of steps, each a list of MIDI pitches."""
    if not isinstance(steps, list):
        raise SeqkitError(f"{where}: a piece must be a list of time steps, not {type(steps).__name__}")
    roll = np.zeros((len(steps), KEYS), dtype=np.uint8)
    for t, step in enumerate(steps):
        if not isinstance(step, list):
            raise SeqkitError(f"{where} step {t}: a time step must be a list of MIDI pitches, "
                              f"not {step!r:.40}")
        for pitch in step:
            roll[t, check_pitch(pitch, f"{where} step {t}") - LOWEST] = 1
    return roll


def steps_from_roll(roll: np.ndarray) -> list[list[int]]:
    return [[int(k) + LOWEST for k in np.flatnonzero(frame)] for frame in roll]


def key_span(roll: np.ndarray) -> tuple[int, int] | None:
    """Lowest and highest key index used (None for a silent roll)."""
    used = np.flatnonzero(roll.any(axis=0))
    return (int(used[0]), int(used[-1])) if used.size else None


def transpose(roll: np.ndarray, k: int) -> np.ndarray:
    """The roll moved up by ``k`` semitones (down for k < 0); keys pushed past
    either end are dropped, so callers pick k from ``shifts``."""
    out = np.zeros_like(roll)
    if k >= 0:
        out[:, k:] = roll[:, :roll.shape[1] - k]
    else:
        out[:, :k] = roll[:, -k:]
    return out


def shifts(span: tuple[int, int] | None, limit: int, n_keys: int = KEYS) -> np.ndarray:
    """Every transposition in [-limit, limit] that keeps keys ``span`` inside [0, n_keys)."""
    if span is None:
        return np.zeros(1, dtype=np.int64)
    lo, hi = span
    return np.arange(max(-limit, -lo), min(limit, n_keys - 1 - hi) + 1)


def notes_from_roll(roll: np.ndarray) -> list[tuple[int, int, int]]:
    """``(pitch, start, end)`` per note, steps [start, end): a key's run of 1s is one note."""
    notes = []
    padded = np.concatenate([np.zeros((1, roll.shape[1]), roll.dtype), roll,
                             np.zeros((1, roll.shape[1]), roll.dtype)]).astype(np.int8)
    edges = np.diff(padded, axis=0)
    for k in range(roll.shape[1]):
        starts, ends = np.flatnonzero(edges[:, k] == 1), np.flatnonzero(edges[:, k] == -1)
        notes += [(k + LOWEST, int(s), int(e)) for s, e in zip(starts, ends)]
    return sorted(notes, key=lambda n: (n[1], n[0]))


def roll_from_notes(notes, n_steps: int) -> np.ndarray:
    """(n_steps, 88) uint8 from ``(pitch, start, end)`` notes (pitches checked by the caller)."""
    roll = np.zeros((n_steps, KEYS), dtype=np.uint8)
    for pitch, start, end in notes:
        roll[start:end, pitch - LOWEST] = 1
    return roll
