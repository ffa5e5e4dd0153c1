"""Task ``music-poly``: a polyphonic piano-roll language model (one-to-many).

Each of the 88 keys is an independent Bernoulli given the history (a sigmoid
head), the setting of the standard benchmarks. With the lecture's x<1> = 0:

    x<1> = 0 (a silent frame),  x<t> = v<t-1>      y<t> = v<t>   (the frame at step t)
    a<t> = GRU(a<t-1>, x<t>),  ŷ<t> = σ(W_y [dropout(a<t>) | x<t>] + b_y)

so the first frame of every piece is predicted from the zero frame alone, and
generation draws each frame from ŷ<t> and feeds it back as x<t+1>.

Metric ``nll``, in nats per time step (Boulanger-Lewandowski et al. 2012; Chung
et al. 2014), over all N steps of the split:

    nll = -(1/N) Σ_pieces Σ_t Σ_k [ v_k<t> log ŷ_k<t> + (1 - v_k<t>) log(1 - ŷ_k<t>) ]
"""
from __future__ import annotations

import click
import numpy as np

from seqkit import (
    ComposedModel,
    Dense,
    Dropout,
    Example,
    Input,
    Kind,
    Recurrent,
    SigmoidHead,
    chain,
    concatenate,
    get_cell,
)

from .base import SHARED_OPTIONS, MusicTask, split_notes
from .layers import Activation
from .pianoroll import KEYS, key_span, notes_from_roll, transpose


def frame_nll(probs: np.ndarray, frames: np.ndarray) -> float:
    """Σ_t Σ_k of the Bernoulli log-loss of 0/1 ``frames`` (T, K) under ``probs`` (T, K)."""
    p = np.asarray(probs, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return float(-np.where(np.asarray(frames) > 0, np.log(p), np.log1p(-p)).sum())


#: dropout on the recurrent stack's input frame, when --input-dropout is not given
INPUT_DROPOUT = 0.2
#: units of the deep output's hidden layer, when --output-hidden is not given (0: none)
OUTPUT_HIDDEN = 512


def poly_model(dims: dict, hparams: dict, backend, dtype: str, seed: int) -> ComposedModel:
    """The recurrent stack, dropout on its input and output, and a skip path that
    hands the input frame x<t> = v<t-1> straight to the output layer:

        ŷ<t> = σ(W_y [dropout(GRU(dropout_in(x<t>))) | x<t>] + b_y)

    so the order-1 part (which key follows which) is a logistic regression on the
    previous (clean) frame, and the GRU models the rest."""
    p = float(hparams.get("dropout") or 0.0)
    p_in = float(dims.get("input_dropout") or 0.0)
    n_out = int(dims.get("output_hidden") or 0)
    common = {"backend": backend, "dtype": dtype}
    cell, hidden, layers = hparams["cell"], int(hparams["hidden"]), int(hparams.get("layers") or 1)
    options = ({"nonlinearity": hparams["nonlinearity"]}
               if hparams.get("nonlinearity") and "nonlinearity" in get_cell(cell).options else {})
    front = [Dropout(p_in, seed=seed + 7, **common)] if p_in else []
    recurrent = chain(*front, Recurrent(cell, dims["n_in"], hidden, num_layers=layers, dropout=p,
                                seed=seed + 1, **common, **options),
                      Dropout(p, seed=seed + 6, **common),
                      *([Dense(hidden, n_out, seed=seed + 8, **common), Activation("relu", **common),
                         Dropout(p, seed=seed + 9, **common)] if n_out else []))
    body = chain(Input("x", **common),
                 concatenate(recurrent, Input("x", **common)),   # Input on an array: identity
                 Dense((n_out or hidden) + dims["n_in"], dims["n_y"], seed=seed + 4, **common))
    return ComposedModel(Kind.ONE_TO_MANY, body, SigmoidHead(dims["n_y"], **common))


class MusicPoly(MusicTask):
    name = "music-poly"
    kind = Kind.ONE_TO_MANY
    input, head = "dense", "sigmoid"
    description = "polyphonic piano-roll model: 88 keys per step (MIDI in and out)"
    data_help = ("Piano rolls: a .json/.json.gz of train/valid/test pieces (the Boulanger-"
                 "Lewandowski benchmarks, or voices as in jsb_satb_16th), a .mid file, or a "
                 "directory of MIDI files.")
    options = SHARED_OPTIONS + [
        click.Option(["--input-dropout"], type=click.FloatRange(0, 1, max_open=True), default=None,
                     help="Dropout on the frame the recurrent layer reads (the skip path to the "
                          f"output keeps it whole) [default: {INPUT_DROPOUT}]."),
        click.Option(["--output-hidden"], type=click.IntRange(0), default=None,
                     help="Units of a ReLU layer between the recurrent output and the sigmoid "
                          f"layer (a deep output; 0: none) [default: {OUTPUT_HIDDEN}]."),
    ]
    defaults = {"cell": "gru", "hidden": 256, "dropout": 0.5, "optimizer": "adam", "lr": 2e-3,
                "lr_decay": 0.97, "weight_decay": 1e-4, "batch_size": 4, "bptt": 25,
                "clip_norm": 5.0, "epochs": 200, "patience": 10, "reduction": "mean"}

    # -- records and examples ------------------------------------------------------
    def record(self, source, options):
        return source

    def build_encoders(self, train, options):
        p_in, n_out = options.get("input_dropout"), options.get("output_hidden")
        return {"keys": KEYS, "lowest": 21, **self.output_encoders(train, options),
                "input_dropout": float(INPUT_DROPOUT if p_in is None else p_in),
                "output_hidden": int(OUTPUT_HIDDEN if n_out is None else n_out)}

    def encode(self, record, encoders):
        roll = record.roll.astype(np.float32)
        x = np.concatenate([np.zeros((1, roll.shape[1]), np.float32), roll[:-1]])
        return Example(x, roll, meta={"span": key_span(record.roll), "n_pitches": KEYS,
                                      "transpose": encoders.get("transpose", 0)})

    def dims(self, encoders):
        return {"n_in": KEYS, "n_y": KEYS, "input_dropout": encoders.get("input_dropout", 0.0),
                "output_hidden": encoders.get("output_hidden", 0)}

    def build_model(self, dims, hparams, backend, dtype, seed):
        return poly_model(dims, hparams, backend, dtype, seed)

    def shift(self, a, k):
        return transpose(a, k)

    # -- results -----------------------------------------------------------------------
    def metrics(self, outputs, examples, encoders):
        total = sum(frame_nll(o.probs, e.y) for o, e in zip(outputs, examples))
        return {"nll": total / max(sum(len(e.y) for e in examples), 1)}

    def render_prediction(self, record, output, encoders):
        roll = record.roll
        return f"{record.name}\t{len(roll)} steps\t{frame_nll(output.probs, roll) / len(roll):.4f} nats/step"

    # -- generation ------------------------------------------------------------------------
    def primer_start(self, record, encoders):
        zero = np.zeros((1, KEYS), dtype=np.float32)
        if record is None:
            return zero
        return np.concatenate([zero, record.roll.astype(np.float32)])

    def sample_notes(self, record, steps, encoders):
        primer = record.roll if record is not None else np.zeros((0, KEYS), np.uint8)
        drawn = np.asarray(steps, dtype=np.uint8).reshape(len(steps), KEYS)
        roll = np.concatenate([primer, drawn])
        primed, generated = split_notes(notes_from_roll(roll), len(primer))
        return primed, generated, len(roll)
