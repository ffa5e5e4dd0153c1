"""Tiny music fixtures made on the spot (no data from ../shared), and the CLI in-process."""
from __future__ import annotations

import gzip
import json

import mido
import numpy as np
import pytest
from click.testing import CliRunner

from seqkit.cli import cli


def chorale(rng, T=24):
    """Four voices moving by step over a C major chord pattern: rolls worth learning."""
    base = [60, 64, 67, 72]
    steps = []
    for t in range(T):
        shift = [0, 2, 4, 5][(t + int(rng.integers(0, 2))) % 4]
        steps.append(sorted({p + shift - 12 for p in base[:3]} | {base[3] + shift}))
        if t % 7 == 6:
            steps[-1] = []  # a rest now and then
    return steps


@pytest.fixture(scope="session")
def rolls_json(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("data") / "tiny.json.gz"
    data = {s: [chorale(rng, int(rng.integers(12, 30))) for _ in range(n)]
            for s, n in (("train", 12), ("valid", 4), ("test", 5))}
    with gzip.open(path, "wt") as f:
        json.dump(data, f)
    return path, data


@pytest.fixture(scope="session")
def voices_json(tmp_path_factory):
    """The voices layout of jsb_satb_16th: [S, A, T, B] per step, -1 silent."""
    rng = np.random.default_rng(1)
    path = tmp_path_factory.mktemp("data") / "satb.json"

    def piece(T):
        s = 72 + np.cumsum(rng.integers(-2, 3, T)).clip(-8, 8)
        return [[int(p) if t % 9 != 8 else -1, 67, 64, 48] for t, p in enumerate(np.repeat(s, 2))]

    data = {s: [piece(int(rng.integers(8, 16))) for _ in range(n)]
            for s, n in (("train", 10), ("valid", 3), ("test", 3))}
    path.write_text(json.dumps(data))
    return path, data


def write_midi(path, notes, ticks_per_beat=96, extra=()):
    """A type-0 MIDI file of ``(pitch, start_beat, end_beat)`` notes, as other programs write
    them (note-on velocity 0 as note-off, a tempo, a drum note that must be skipped)."""
    events = []
    for pitch, start, end in notes:
        events += [(round(start * ticks_per_beat), 1, mido.Message("note_on", note=pitch, velocity=90)),
                   (round(end * ticks_per_beat), 0, mido.Message("note_on", note=pitch, velocity=0))]
    events += list(extra)
    events.sort(key=lambda e: (e[0], e[1]))
    track, now = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=600000)]), 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - now))
        now = tick
    mid = mido.MidiFile(type=0, ticks_per_beat=ticks_per_beat)
    mid.tracks.append(track)
    mid.save(str(path))
    return path


@pytest.fixture(scope="session")
def midi_file():
    """``midi_file(path, notes)``: write a MIDI file as another program would."""
    return write_midi


class Result:
    def __init__(self, r):
        self.exit_code, self.stdout, self.stderr = r.exit_code, r.stdout, r.stderr


@pytest.fixture(scope="session")
def seqkit():
    """The real CLI, in this process (faster than a subprocess per call)."""
    def run(*args):
        return Result(CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False))
    return run
