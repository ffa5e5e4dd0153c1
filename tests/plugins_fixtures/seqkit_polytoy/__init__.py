"""A test task plugin: a polyphonic toy, multi-hot frames in and out.

Data: a text file, one frame per line as 0/1 characters (one per key), a blank
line between pieces. The model is the core's default one with dense inputs
and a sigmoid head (each key an independent Bernoulli given the history);
``seqkit generate`` draws frame after frame from it and writes them back in
the same format.
"""
from __future__ import annotations

import numpy as np

from seqkit import Example, Kind, SeqkitError, Task, hookimpl
from seqkit.textio import read_lines


def read_pieces(path: str) -> list[np.ndarray]:
    pieces, frames = [], []
    for n, line in enumerate(read_lines(path) + [""], 1):
        if not line.strip():
            if frames:
                pieces.append(np.array(frames, dtype=np.float32))
            frames = []
        elif set(line.strip()) <= {"0", "1"}:
            frames.append([int(c) for c in line.strip()])
        else:
            raise SeqkitError(f"{path}:{n}: a frame is a row of 0/1 characters")
    if not pieces or len({p.shape[1] for p in pieces}) != 1:
        raise SeqkitError(f"{path}: no pieces, or frames of different widths")
    return pieces


class PolyToy(Task):
    name = "polytoy"
    kind = Kind.ONE_TO_MANY
    input, head = "dense", "sigmoid"
    description = "polyphonic toy (test plugin): multi-hot frames"
    defaults = {"cell": "gru", "hidden": 32, "epochs": 30, "lr": 0.01, "batch_size": 8}

    def read(self, path, options):
        return {"train": read_pieces(path)}

    def build_encoders(self, train, options):
        return {"keys": int(train[0].shape[1])}

    def encode(self, record, encoders):
        # x<1> = 0 (a silent frame), then each frame predicts the next one
        x = np.concatenate([np.zeros((1, record.shape[1]), np.float32), record[:-1]])
        return Example(x, record.astype(np.int64))

    def dims(self, encoders):
        return {"n_in": encoders["keys"], "n_y": encoders["keys"]}

    def primer_ids(self, primer, encoders):
        return np.zeros((1, encoders["keys"]), dtype=np.float32)

    def render_sample(self, steps, encoders, primer=""):
        return "\n".join("".join(str(int(v)) for v in frame) for frame in steps) + "\n"


@hookimpl
def register_tasks(register):
    register(PolyToy())
