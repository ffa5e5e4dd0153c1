"""Monophonic melodies as events, one per time step (Magenta's melody encoding):

    a MIDI pitch p >= 0   note-on: p starts sounding (ending the note before it)
    NOTE_OFF  = -1        the sounding note stops: a rest begins
    NO_EVENT  = -2        nothing changes: the note (or the rest) is held

Tokens for the model: ``<start>`` (x<1>, the lecture's x<1> = 0, never a target),
``off``, ``hold``, then one note-on per pitch of the range ``lo..hi``.
"""
from __future__ import annotations

import numpy as np

from seqkit import SeqkitError

NOTE_OFF, NO_EVENT = -1, -2
START, OFF, HOLD = 0, 1, 2
FIRST_PITCH = 3                     # token of the lowest pitch of the range


def events_from_line(pitches) -> list[int]:
    """Events from one pitch per step (-1: silent). Held and repeated notes look the
    same in such a line, so a pitch that goes on is held."""
    events, prev = [], -1
    for p in pitches:
        if p < 0:
            events.append(NOTE_OFF if prev >= 0 else NO_EVENT)
        else:
            events.append(NO_EVENT if p == prev else int(p))
        prev = p
    return events


def events_from_notes(notes, n_steps: int) -> list[int]:
    """The top line of ``(pitch, start, end)`` notes: at each step the highest
    sounding note; a note-on where that note starts (or the top pitch changes)."""
    top = np.full(n_steps, -1)
    onset = np.zeros(n_steps, dtype=bool)
    for pitch, start, end in notes:
        for t in range(start, min(end, n_steps)):
            if pitch > top[t]:
                top[t], onset[t] = pitch, t == start
            elif pitch == top[t] and t == start:
                onset[t] = True
    events, prev = [], -1
    for t in range(n_steps):
        p = int(top[t])
        if p < 0:
            events.append(NOTE_OFF if prev >= 0 else NO_EVENT)
        else:
            events.append(p if onset[t] or p != prev else NO_EVENT)
        prev = p
    return events


def notes_from_events(events) -> list[tuple[int, int, int]]:
    """``(pitch, start, end)`` for each note-on, up to the next note-on or note-off."""
    notes, current = [], None
    for t, e in enumerate(events):
        if e == NO_EVENT:
            continue
        if current is not None:
            notes.append((current[0], current[1], t))
            current = None
        if e >= 0:
            current = (int(e), t)
    if current is not None:
        notes.append((current[0], current[1], len(events)))
    return notes


def tokens_from_events(events, lo: int, hi: int, where: str) -> np.ndarray:
    out = np.empty(len(events), dtype=np.int64)
    for t, e in enumerate(events):
        if e == NOTE_OFF:
            out[t] = OFF
        elif e == NO_EVENT:
            out[t] = HOLD
        elif lo <= e <= hi:
            out[t] = FIRST_PITCH + e - lo
        else:
            raise SeqkitError(f"{where} step {t}: pitch {e} is out of the melody range {lo}..{hi} "
                              "(set --min-pitch/--max-pitch when training)")
    return out


def events_from_tokens(tokens, lo: int) -> list[int]:
    """One event per model token; a drawn ``<start>`` (never a target, so all but
    impossible) holds, so a sample keeps the number of steps asked for."""
    out = []
    for tok in tokens:
        tok = int(tok)
        if tok == OFF:
            out.append(NOTE_OFF)
        elif tok >= FIRST_PITCH:
            out.append(lo + tok - FIRST_PITCH)
        else:
            out.append(NO_EVENT)
    return out


def transpose_tokens(tokens: np.ndarray, k: int) -> np.ndarray:
    """Every note-on token moved by ``k`` semitones (callers keep it in range)."""
    out = tokens.copy()
    out[out >= FIRST_PITCH] += k
    return out
