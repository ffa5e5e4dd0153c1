"""What the two music tasks share: the options, reading, transposition
augmentation, primers, MIDI output and prediction files.

A subclass says how a ``Source`` (a piece as read) becomes its record
(``record``), how a record is encoded, and how a generated sequence becomes
notes (``sample_notes``).
"""
from __future__ import annotations

import io
import os

import click
import numpy as np

from seqkit import Example, SeqkitError, Task
from seqkit.textio import write_bytes

from .data import SPLITS, Source, read_midi_source, read_sources, split_of
from .midi import check_steps_per_quarter, midi_bytes

#: what one step of a benchmark file is, in steps per quarter note (for MIDI output)
KNOWN_STEPS_PER_QUARTER = {"jsb_chorales": 1, "nottingham": 2, "jsb_satb_16th": 4}
DEFAULT_STEPS_PER_QUARTER = 4   # MIDI input: a 16th-note grid

SHARED_OPTIONS = [
    click.Option(["--steps-per-quarter"], type=click.IntRange(1, 480), default=None,
                 help="Time steps per quarter note: the grid MIDI input is quantised to, and "
                      "what a step of generated music lasts [default: 4 for MIDI; for JSON the "
                      "file's own (1 for jsb_chorales, 2 for nottingham, 4 for jsb_satb_16th), "
                      "else 1]."),
    click.Option(["--transpose"], type=click.IntRange(0, 24), default=None,
                 help="Augment: move each training piece by a random number of semitones in "
                      "[-N, N] every epoch (kept inside the range) [default: 0]."),
    click.Option(["--layout"], type=click.Choice(["rolls", "voices"]), default=None,
                 help="What a JSON time step is: a list of sounding pitches (rolls) or one pitch "
                      "per voice, -1 silent (voices) [default: detected]."),
    click.Option(["--tempo"], type=click.FloatRange(1, 1000), default=None,
                 help="Beats per minute of generated MIDI files [default: 100]."),
    click.Option(["--program"], type=click.IntRange(0, 127), default=None,
                 help="General MIDI program of generated files (0: acoustic grand piano) "
                      "[default: 0]."),
    click.Option(["--velocity"], type=click.IntRange(1, 127), default=None,
                 help="Velocity of every generated note [default: 80]."),
]


def steps_per_quarter(path: str, options: dict) -> int:
    given = options.get("steps_per_quarter")
    if given:
        return check_steps_per_quarter(int(given))
    stem = os.path.basename(path.rstrip("/")).split(".")[0]
    if stem in KNOWN_STEPS_PER_QUARTER:
        return KNOWN_STEPS_PER_QUARTER[stem]
    return 1 if path.lower().endswith((".json", ".json.gz")) else DEFAULT_STEPS_PER_QUARTER


class MusicTask(Task):
    options = SHARED_OPTIONS
    monitor = ("nll", "min")

    # -- what a subclass provides -----------------------------------------------
    def record(self, source: Source, options: dict):
        """The task's record for one piece as read."""
        raise NotImplementedError

    def source_of_primer(self, source: Source, encoders: dict):
        """The record of a primer file, checked against the encoders."""
        return self.record(source, encoders)

    def shift(self, a, k: int):
        """An encoded input or target moved by ``k`` semitones."""
        raise NotImplementedError

    def span(self, example) -> tuple[int, int] | None:
        """Lowest and highest pitch index of an encoded example (for transposition)."""
        return example.meta["span"]

    def transposed(self, example, k: int):
        lo, hi = example.meta["span"]
        return Example(self.shift(example.x, k), self.shift(example.y, k),
                       meta={**example.meta, "span": (lo + k, hi + k)})

    def primer_start(self, record, encoders: dict):
        raise NotImplementedError

    def sample_notes(self, record, steps: list, encoders: dict) -> tuple[list, list, int]:
        """(primer notes, generated notes, n_steps) for a primer record and drawn steps."""
        raise NotImplementedError

    # -- data ------------------------------------------------------------------
    def read(self, path, options):
        spq = steps_per_quarter(path, options)
        splits = read_sources(path, spq, options.get("layout"))
        return {s: [self.record(src, {**options, "steps_per_quarter": spq}) for src in pieces]
                for s, pieces in splits.items()}

    def output_encoders(self, train: list, options: dict) -> dict:
        return {"steps_per_quarter": int(train[0].steps_per_quarter),
                "layout": options.get("layout"),
                "transpose": int(options.get("transpose") or 0),
                "tempo": float(options.get("tempo") or 100.0),
                "program": int(options.get("program") or 0),
                "velocity": int(options.get("velocity") or 80)}

    # -- batching: transposition augmentation -------------------------------------
    def prepare(self, examples, training, rng=None):
        limit = 0
        if training and rng is not None and examples:
            limit = examples[0].meta.get("transpose", 0)
        if not limit:
            return examples
        out = []
        for ex in examples:
            lo_hi = self.span(ex)
            n = ex.meta["n_pitches"]
            if lo_hi is None:
                out.append(ex)
                continue
            choices = np.arange(max(-limit, -lo_hi[0]), min(limit, n - 1 - lo_hi[1]) + 1)
            k = int(rng.choice(choices)) if choices.size else 0
            out.append(self.transposed(ex, k) if k else ex)
        return out

    # -- prediction: every piece of a split, per-step probabilities ------------------
    def read_inputs(self, path, encoders, split=None):
        path, named = split_of(path)
        split = split or named
        # read as in training: the encoders hold the grid, the layout and the voice
        splits = self.read(path, encoders)
        if split is None:  # the test split when there is one, else every piece in order
            split = "test" if splits.get("test") else None
        if split is not None and not splits.get(split):
            have = ", ".join(s for s in SPLITS if splits.get(s)) or "none"
            raise SeqkitError(f"{path} has no {split!r} split (it has: {have})")
        return splits[split] if split else [r for s in SPLITS for r in splits.get(s, [])]

    def write_predictions(self, records, outputs, encoders, path):
        """``.npz``: ``piece_0000``, ... the per-step probabilities (T, n_y) float64 of
        each record in order, under the conditioning of ``evaluate``. Other files:
        one line per piece."""
        if not path.lower().endswith(".npz"):
            return super().write_predictions(records, outputs, encoders, path)
        arrays = {f"piece_{i:04d}": np.asarray(o.probs, dtype=np.float64)
                  for i, o in enumerate(outputs)}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        write_bytes(path, buffer.getvalue())

    # -- generation -----------------------------------------------------------------
    def _primer(self, primer: str, encoders: dict):
        if not primer:
            return None
        source = read_midi_source(primer, encoders["steps_per_quarter"])  # no notes: one line
        return self.source_of_primer(source, encoders)

    def primer_ids(self, primer, encoders):
        return self.primer_start(self._primer(primer, encoders), encoders)

    def render_sample(self, steps, encoders, primer=""):
        primed, generated, n_steps = self.sample_notes(self._primer(primer, encoders), steps,
                                                       encoders)
        parts = ([("primer", primed)] if primer else []) + [("generated", generated)]
        return midi_bytes(parts, n_steps, encoders["steps_per_quarter"], encoders["tempo"],
                          encoders["program"], encoders["velocity"],
                          marker=(n_steps - len(steps), "generated"))

    def plot_samples(self, samples: list, encoders: dict, path: str, names=None, title="") -> None:
        """``generate --plot FILE``: the piano roll of each sample (MIDI bytes) as a PNG."""
        from .plot import plot_midi

        names = names or [f"sample {i + 1}" for i in range(len(samples))]
        plot_midi(samples, names, path, encoders["steps_per_quarter"], title)

    def write_samples(self, samples, path):
        if not path.lower().endswith((".mid", ".midi")):
            raise SeqkitError(f"{self.name} writes MIDI files: give --out a name ending in .mid, "
                              f"not {path}")
        super().write_samples(samples, path)


def split_notes(notes: list, n_primer: int) -> tuple[list, list]:
    """Notes that start in the primer's steps, and the rest (a primer note held on
    into the generated part stays one note, in the primer's track)."""
    return ([n for n in notes if n[1] < n_primer], [n for n in notes if n[1] >= n_primer])
