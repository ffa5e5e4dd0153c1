"""MIDI through mido: round trips of rolls and melodies, what a written file holds
(tempo, program, velocity, length), the same bytes for the same notes, and
unreadable files as one-line errors."""
import mido
import numpy as np
import pytest
from seqkit_music.data import read_midi_source, read_sources
from seqkit_music.events import (
    NO_EVENT,
    NOTE_OFF,
    events_from_line,
    events_from_notes,
    events_from_tokens,
    notes_from_events,
    tokens_from_events,
)
from seqkit_music.midi import TICKS_PER_BEAT, midi_bytes, read_midi
from seqkit_music.pianoroll import notes_from_roll, roll_from_notes

from seqkit import SeqkitError


def random_roll(rng, T=40):
    roll = (rng.random((T, 88)) < 0.03).astype(np.uint8)
    roll[-3:] = 0  # trailing silence must survive the round trip too
    return roll


@pytest.mark.parametrize("spq", [1, 2, 4])
def test_roll_round_trips_through_a_midi_file(tmp_path, spq):
    roll = random_roll(np.random.default_rng(spq))
    path = tmp_path / "roll.mid"
    path.write_bytes(midi_bytes([("generated", notes_from_roll(roll))], len(roll), spq))
    again = read_midi_source(str(path), spq).roll
    np.testing.assert_array_equal(again, roll)


def test_melody_round_trips_through_a_midi_file(tmp_path):
    events = [NO_EVENT, 60, NO_EVENT, 62, 62, NOTE_OFF, NO_EVENT, 64, NO_EVENT, NO_EVENT, NOTE_OFF,
              NO_EVENT]
    path = tmp_path / "tune.mid"
    path.write_bytes(midi_bytes([("generated", notes_from_events(events))], len(events), 4))
    score = read_midi(str(path), 4)
    assert score.n_steps == len(events)
    assert events_from_notes(score.notes, score.n_steps) == events


def test_written_file_sets_tempo_program_velocity_and_is_deterministic(tmp_path):
    notes = [(60, 0, 2), (64, 0, 2), (67, 2, 3)]
    data = midi_bytes([("primer", notes[:2]), ("generated", notes[2:])], 8, 2, bpm=90,
                      program=40, velocity=70, marker=(2, "generated"))
    assert data == midi_bytes([("primer", notes[:2]), ("generated", notes[2:])], 8, 2, bpm=90,
                              program=40, velocity=70, marker=(2, "generated"))
    (tmp_path / "x.mid").write_bytes(data)
    mid = mido.MidiFile(str(tmp_path / "x.mid"))
    msgs = [m for t in mid.tracks for m in t]
    assert [m.tempo for m in msgs if m.type == "set_tempo"] == [mido.bpm2tempo(90)]
    assert {m.program for m in msgs if m.type == "program_change"} == {40}
    assert {m.velocity for m in msgs if m.type == "note_on"} == {70}
    assert [t.name for t in mid.tracks[1:]] == ["primer", "generated"]
    # 8 steps at 2 per quarter: the file lasts 4 beats exactly, silence included
    assert max(sum(m.time for m in t) for t in mid.tracks) == 4 * TICKS_PER_BEAT


def test_reading_quantises_other_programs_files(tmp_path, midi_file):
    drum = (0, 1, mido.Message("note_on", channel=9, note=36, velocity=100))
    path = midi_file(tmp_path / "other.mid", [(60, 0, 1), (64, 0.98, 2.03), (67, 2, 2.1)],
                      extra=[drum])
    score = read_midi(str(path), 4)
    assert score.notes == [(60, 0, 4), (64, 4, 8), (67, 8, 9)]  # rounded, at least a step; no drum


@pytest.mark.parametrize("content", [b"", b"MThd\x00\x00\x00\x06\x00\x01", b"not a midi file at all",
                                     b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60MTrk\x00\x00\x00\x09"
                                     b"\x00\x90\x3c"])
def test_an_unreadable_midi_file_is_one_line_naming_it(tmp_path, content):
    path = tmp_path / "broken.mid"
    path.write_bytes(content)
    with pytest.raises(SeqkitError) as e:
        read_midi(str(path), 4)
    assert "broken.mid" in str(e.value) and "\n" not in str(e.value)


def test_out_of_range_and_empty_midi_are_one_line(tmp_path, midi_file):
    low = midi_file(tmp_path / "low.mid", [(12, 0, 1)])
    with pytest.raises(SeqkitError, match=r"low.mid.*pitch 12 is out of the piano's range"):
        read_midi_source(str(low), 4)
    empty = midi_file(tmp_path / "empty.mid", [])
    with pytest.raises(SeqkitError, match="empty.mid holds no notes"):
        read_midi_source(str(empty), 4)


def test_directory_with_split_folders(tmp_path, midi_file):
    for split in ("train", "test"):
        (tmp_path / split).mkdir()
        midi_file(tmp_path / split / "a.mid", [(60, 0, 1), (62, 1, 2)])
    splits = read_sources(str(tmp_path), 4)
    assert len(splits["train"]) == 1 and len(splits["test"]) == 1 and "valid" not in splits
    assert splits["train"][0].roll.shape == (8, 88)


def test_events_encoding():
    # a voice line: repeated pitches are held, silence after a note is a note-off
    assert events_from_line([-1, 60, 60, 62, -1, -1, 62]) == [NO_EVENT, 60, NO_EVENT, 62, NOTE_OFF,
                                                             NO_EVENT, 62]
    # the top line of chords, with a re-struck top note
    notes = [(60, 0, 2), (55, 0, 4), (60, 2, 3)]
    assert events_from_notes(notes, 5) == [60, NO_EVENT, 60, 55, NOTE_OFF]
    tokens = tokens_from_events([NO_EVENT, 60, NOTE_OFF, 62], 60, 64, "x")
    assert tokens.tolist() == [2, 3, 1, 5]
    assert events_from_tokens(tokens, 60) == [NO_EVENT, 60, NOTE_OFF, 62]
    with pytest.raises(SeqkitError, match="pitch 70 is out of the melody range 60..64"):
        tokens_from_events([70], 60, 64, "x")
    assert roll_from_notes([(21, 0, 1)], 2)[0, 0] == 1
