"""Standard MIDI files in and out, through mido.

Reading quantises every note to a grid of ``steps_per_quarter`` steps per quarter
note (beats, not seconds, so tempo changes do not move the grid):

    start = round(tick_on * spq / ticks_per_beat)
    end = max(start + 1, round(tick_off * spq / ticks_per_beat))

Drum notes (channel 10) are skipped. A piece lasts until its last note ends or
its end-of-track, whichever is later.

Writing makes a type-1 file: a conductor track (tempo, 4/4) and one track per
part ("primer", "generated"), each with its program change, every note at one
velocity, and an end-of-track at exactly ``n_steps`` steps, so the file holds
the trailing silence too. The same notes give the same bytes.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from seqkit import SeqkitError

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9


@dataclass
class Score:
    """Notes on a step grid: ``(pitch, start, end)``, steps [start, end), with the
    track (part) name of each note; ``n_steps`` the length, silence included."""

    notes: list
    n_steps: int
    parts: list | None = None   # the part name of each note, or None
    markers: list | None = None  # (step, text) of marker meta messages


def read_midi(path: str, steps_per_quarter: int, data: bytes | None = None) -> Score:
    """The notes of every track of the MIDI file at ``path`` (or of its contents
    ``data``), quantised. Unreadable files are a one-line error naming them."""
    import mido  # here, not at plugin load: every seqkit command loads the plugin

    try:
        mid = mido.MidiFile(path) if data is None else mido.MidiFile(file=io.BytesIO(data))
    except FileNotFoundError:
        raise SeqkitError(f"no such MIDI file: {path}") from None
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as e:
        raise SeqkitError(f"{path} is not a readable MIDI file ({type(e).__name__}: "
                          f"{' '.join(str(e).split()) or 'truncated'})") from None
    if mid.type == 2:
        raise SeqkitError(f"{path} is a type-2 MIDI file (independent songs); "
                          "give each song as a file of its own")
    tpb = mid.ticks_per_beat
    if not tpb or tpb <= 0:
        raise SeqkitError(f"{path}: its header has no usable ticks per beat ({tpb})")

    def step(tick: int) -> int:
        return int(round(tick * steps_per_quarter / tpb))

    notes, parts, markers, last_tick = [], [], [], 0
    for track in mid.tracks:
        tick, name, sounding = 0, track.name or "", {}
        for msg in track:
            tick += msg.time
            last_tick = max(last_tick, tick)
            if msg.type == "marker":
                markers.append((step(tick), msg.text))
            if msg.type not in ("note_on", "note_off") or msg.channel == DRUM_CHANNEL:
                continue
            key = (msg.channel, msg.note)
            if msg.type == "note_on" and msg.velocity > 0:
                if key in sounding:  # re-struck without a note-off: the old one ends here
                    notes.append((msg.note, sounding.pop(key), tick))
                    parts.append(name)
                sounding[key] = tick
            elif key in sounding:
                notes.append((msg.note, sounding.pop(key), tick))
                parts.append(name)
        for (_, pitch), start in sounding.items():  # never released: ends with its track
            notes.append((pitch, start, tick))
            parts.append(name)
    quantised = []
    for pitch, on, off in notes:
        start = step(on)
        quantised.append((pitch, start, max(start + 1, step(off))))
    order = sorted(range(len(quantised)), key=lambda i: (quantised[i][1], quantised[i][0]))
    quantised = [quantised[i] for i in order]
    n_steps = max([step(last_tick)] + [end for _, _, end in quantised])
    return Score(quantised, n_steps, [parts[i] for i in order], markers)


def midi_bytes(parts: list[tuple[str, list]], n_steps: int, steps_per_quarter: int,
               bpm: float = 120.0, program: int = 0, velocity: int = 80,
               marker: tuple[int, str] | None = None) -> bytes:
    """A type-1 MIDI file: ``parts`` is ``[(track name, [(pitch, start, end), ...]), ...]``
    on a grid of ``steps_per_quarter`` steps per quarter note at ``bpm``; ``marker``
    (step, text) marks a moment (where the generated music starts)."""
    import mido  # here, not at plugin load: every seqkit command loads the plugin

    ticks = TICKS_PER_BEAT // steps_per_quarter
    end_tick = n_steps * ticks
    mid = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack([
        mido.MetaMessage("track_name", name="seqkit-music", time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0),
        mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0),
    ])
    now = 0
    if marker is not None:
        conductor.append(mido.MetaMessage("marker", text=marker[1], time=marker[0] * ticks))
        now = marker[0] * ticks
    conductor.append(mido.MetaMessage("end_of_track", time=end_tick - now))
    mid.tracks.append(conductor)
    for name, notes in parts:
        events = []
        for pitch, start, end in notes:
            # at one tick: note-offs before note-ons, so a repeated key is struck again
            events.append((end * ticks, 0, pitch, "note_off"))
            events.append((start * ticks, 1, pitch, "note_on"))
        events.sort()
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0),
                                mido.Message("program_change", program=program, channel=0, time=0)])
        now = 0
        for tick, _, pitch, kind in events:
            track.append(mido.Message(kind, note=pitch, velocity=velocity if kind == "note_on" else 0,
                                      channel=0, time=tick - now))
            now = tick
        track.append(mido.MetaMessage("end_of_track", time=end_tick - now))
        mid.tracks.append(track)
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return buffer.getvalue()


def check_steps_per_quarter(spq: int) -> int:
    if TICKS_PER_BEAT % spq:
        raise SeqkitError(f"--steps-per-quarter must divide {TICKS_PER_BEAT} "
                          f"(1, 2, 3, 4, 6, 8, 12, ...), not {spq}")
    return spq
