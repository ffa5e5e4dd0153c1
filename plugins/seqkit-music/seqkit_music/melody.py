"""Task ``music-melody``: a monophonic event language model (one-to-many).

One token per time step (``seqkit_music.events``): note-on of a pitch, hold, or
note-off, as in Magenta's melody encoding. With <start> standing for x<1> = 0:

    x = <start> e<1> ... e<T-1>        y = e<1> ... e<T>

Melodies come from one voice of the voices layout (``--voice``, the soprano by
default), or from the top line of piano rolls and MIDI files (at each step the
highest sounding note). Metrics: ``nll`` (nats per step), ``accuracy`` (the
likeliest token is the next one) and ``perplexity``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import click
import numpy as np

from seqkit import Example, Kind, SeqkitError

from .base import SHARED_OPTIONS, MusicTask, split_notes
from .events import (
    FIRST_PITCH,
    START,
    events_from_line,
    events_from_notes,
    events_from_tokens,
    notes_from_events,
    tokens_from_events,
    transpose_tokens,
)
from .pianoroll import HIGHEST, LOWEST, check_pitch


@dataclass
class Melody:
    name: str
    events: list
    steps_per_quarter: int = 4

    def pitches(self) -> list[int]:
        return [e for e in self.events if e >= 0]


class MusicMelody(MusicTask):
    name = "music-melody"
    kind = Kind.ONE_TO_MANY
    input, head = "tokens", "softmax"
    description = "monophonic melody model: note-on, hold or off per step (MIDI in and out)"
    data_help = ("Melodies: a .json/.json.gz of train/valid/test pieces (one voice of the voices "
                 "layout, e.g. jsb_satb_16th's soprano, or the top line of piano rolls), a .mid "
                 "file, or a directory of MIDI files (their top line).")
    options = SHARED_OPTIONS + [
        click.Option(["--voice"], type=click.IntRange(0), default=None,
                     help="Voices layout: which voice is the melody (0: the first, the soprano "
                          "in jsb_satb_16th) [default: 0]."),
        click.Option(["--min-pitch"], type=click.IntRange(LOWEST, HIGHEST), default=None,
                     help="Lowest pitch of the vocabulary [default: 21, the piano's lowest]."),
        click.Option(["--max-pitch"], type=click.IntRange(LOWEST, HIGHEST), default=None,
                     help="Highest pitch of the vocabulary [default: 108, the piano's highest]."),
    ]
    defaults = {"cell": "lstm", "hidden": 128, "embed_dim": 32, "dropout": 0.3, "lr": 3e-3,
                "batch_size": 16, "bptt": 64, "clip_norm": 5.0, "epochs": 60, "patience": 8,
                "reduction": "mean"}

    # -- records and examples ---------------------------------------------------------
    def record(self, source, options):
        if source.voices is not None:
            voice = int(options.get("voice") or 0)
            if voice >= source.voices.shape[1]:
                raise SeqkitError(f"{source.name}: --voice {voice}, but the pieces have "
                                  f"{source.voices.shape[1]} voices (0..{source.voices.shape[1] - 1})")
            events = events_from_line(source.voices[:, voice])
        else:
            events = events_from_notes(source.notes, len(source.roll))
        return Melody(source.name, events, source.steps_per_quarter)

    def build_encoders(self, train, options):
        if not any(m.pitches() for m in train):
            raise SeqkitError("the training melodies hold no notes")
        # the whole piano by default, so no validation, test or primer note falls outside
        lo, hi = options.get("min_pitch") or LOWEST, options.get("max_pitch") or HIGHEST
        if lo > hi:
            raise SeqkitError(f"--min-pitch {lo} is above --max-pitch {hi}")
        return {"min_pitch": int(lo), "max_pitch": int(hi), "voice": int(options.get("voice") or 0),
                **self.output_encoders(train, options)}

    def n_pitches(self, encoders):
        return encoders["max_pitch"] - encoders["min_pitch"] + 1

    def encode(self, record, encoders):
        lo, hi = encoders["min_pitch"], encoders["max_pitch"]
        tokens = tokens_from_events(record.events, lo, hi, record.name)
        x = np.concatenate([[START], tokens[:-1]]).astype(np.int64)
        pitches = record.pitches()
        span = (min(pitches) - lo, max(pitches) - lo) if pitches else None
        return Example(x, tokens, meta={"span": span, "n_pitches": self.n_pitches(encoders),
                                        "transpose": encoders.get("transpose", 0)})

    def dims(self, encoders):
        n = FIRST_PITCH + self.n_pitches(encoders)
        return {"n_in": n, "n_y": n}

    def shift(self, a, k):
        return transpose_tokens(a, k)

    # -- results -------------------------------------------------------------------------
    def metrics(self, outputs, examples, encoders):
        nats = sum(token_nll(o.probs, e.y) for o, e in zip(outputs, examples))
        per_step = nats / max(sum(len(e.y) for e in examples), 1)
        return {"nll": per_step, "perplexity": math.exp(min(per_step, 700.0))}

    def render_prediction(self, record, output, encoders):
        y = self.encode(record, encoders).y
        return f"{record.name}\t{len(y)} steps\t{token_nll(output.probs, y) / len(y):.4f} nats/step"

    # -- generation -------------------------------------------------------------------------
    def source_of_primer(self, source, encoders):
        melody = self.record(source, {"voice": 0})
        for p in melody.pitches():
            check_pitch(p, source.name)
        tokens_from_events(melody.events, encoders["min_pitch"], encoders["max_pitch"],
                           f"primer {source.name}")
        return melody

    def primer_start(self, record, encoders):
        if record is None:
            return [START]
        tokens = tokens_from_events(record.events, encoders["min_pitch"], encoders["max_pitch"],
                                    record.name)
        return [START, *tokens.tolist()]

    def sample_notes(self, record, steps, encoders):
        primer = record.events if record is not None else []
        events = list(primer) + events_from_tokens(steps, encoders["min_pitch"])
        primed, generated = split_notes(notes_from_events(events), len(primer))
        return primed, generated, len(events)


def token_nll(probs: np.ndarray, y: np.ndarray) -> float:
    """-Σ_t log ŷ<t>[y<t>] in nats."""
    with np.errstate(divide="ignore"):
        return float(-np.log(np.asarray(probs, np.float64)[np.arange(len(y)), y]).sum())
