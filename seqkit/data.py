"""Batches: length-bucketed, shuffled, padded to the longest T_x in the batch.

An example's input is one array (named ``"x"``) or several named inputs per
step: ids (T_x,), dense features (T_x, n), or ragged ids (a list of T_x id
arrays, e.g. the characters of each word). Padding is described by
``lengths`` (and a 0/1 ``mask`` for losses, ``sublengths`` for ragged inputs),
never by a pad token: the kernels stop each example at its own T_x.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .examples import Example, Kind


@dataclass
class Batch:
    """Host (NumPy) arrays; the model moves them to its backend.

    inputs : name -> (T, B) int ids | (T, B, n) features | (T, B, L) ragged ids
    sublengths : name -> (T, B) int64, the lengths of a ragged input's rows
    lengths : (B,) int64
    y : (T, B) / (T, B, n_y) per step, (B,) / (B, n_y) many-to-one, (T_y, B) encoder-decoder
    mask : (T, B) float, 1 at valid steps ((B,) ones for many-to-one, (T_y, B) encoder-decoder)
    decoder_in, decoder_lengths : encoder-decoder only: <bos> y<1..T_y-1>, and T_y
    """

    inputs: dict
    lengths: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    decoder_in: np.ndarray | None = None
    decoder_lengths: np.ndarray | None = None
    sublengths: dict = field(default_factory=dict)

    @property
    def x(self) -> np.ndarray:
        """The input of a single-input batch."""
        return self.inputs["x"]

    @x.setter
    def x(self, value) -> None:
        self.inputs["x"] = value

    @property
    def size(self) -> int:
        return len(self.lengths)


def pad(seqs: list[np.ndarray], T: int) -> np.ndarray:
    """Stack sequences time-major (T, B, ...) with zeros after each one's end."""
    first = np.asarray(seqs[0])
    out = np.zeros((T, len(seqs), *first.shape[1:]), dtype=first.dtype)
    for b, s in enumerate(seqs):
        out[: len(s), b] = s
    return out


def pad_ragged(seqs: list[list], T: int) -> tuple[np.ndarray, np.ndarray]:
    """Ragged ids (for each example, T_x id arrays of their own lengths) as a
    (T, B, L_max) array and its (T, B) lengths."""
    sub = np.zeros((T, len(seqs)), dtype=np.int64)
    for b, rows in enumerate(seqs):
        sub[: len(rows), b] = [len(r) for r in rows]
    out = np.zeros((T, len(seqs), max(int(sub.max()), 1)), dtype=np.int64)
    for b, rows in enumerate(seqs):
        for t, r in enumerate(rows):
            out[t, b, : len(r)] = r
    return out, sub


def step_mask(lengths: np.ndarray, T: int, dtype="float32") -> np.ndarray:
    return (np.arange(T)[:, None] < lengths[None, :]).astype(dtype)


def collate(examples: list[Example], kind: Kind, bos_id: int | None = None,
            T: int | None = None) -> Batch:
    """One padded batch; ``T`` pads further than the longest example (a rank's
    share of a global batch is padded as the whole batch is)."""
    lengths = np.array([e.length for e in examples], dtype=np.int64)
    T = max(int(lengths.max()), T or 0)
    inputs, sublengths = {}, {}
    for name in examples[0].inputs:
        values = [e.inputs[name] for e in examples]
        if isinstance(values[0], (list, tuple)):
            inputs[name], sublengths[name] = pad_ragged(values, T)
        else:
            inputs[name] = pad([np.asarray(v) for v in values], T)
    if kind == Kind.MANY_TO_ONE:
        if any(e.y is None for e in examples):
            return Batch(inputs, lengths, None, np.ones(len(examples), dtype="float32"),
                         sublengths=sublengths)
        y = np.stack([np.asarray(e.y) for e in examples])
        return Batch(inputs, lengths, y, np.ones(len(examples), dtype="float32"),
                     sublengths=sublengths)
    if kind == Kind.ENCODER_DECODER:
        y_lengths = np.array([len(e.y) for e in examples], dtype=np.int64)
        y = pad([np.asarray(e.y) for e in examples], int(y_lengths.max()))
        # teacher forcing: the decoder reads the previous target, starting from <bos>
        decoder_in = np.concatenate([np.full((1, len(examples)), bos_id, dtype=y.dtype), y[:-1]])
        return Batch(inputs, lengths, y, step_mask(y_lengths, y.shape[0]), decoder_in, y_lengths,
                     sublengths)
    if any(e.y is None for e in examples):  # inputs to predict for: no labels
        return Batch(inputs, lengths, None, step_mask(lengths, T), sublengths=sublengths)
    y = pad([np.asarray(e.y) for e in examples], T)
    return Batch(inputs, lengths, y, step_mask(lengths, T), sublengths=sublengths)


def bucketed_batches(examples: list[Example], batch_size: int, rng: np.random.Generator | None,
                     pool: int = 50) -> list[list[int]]:
    """Index lists of batches. With ``rng``: shuffle, sort pools of ``pool`` batches by
    length so each batch pads little, then shuffle the batch order. Without: in order."""
    n = len(examples)
    if rng is None:
        return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]
    order = rng.permutation(n)
    lengths = np.array([examples[i].length for i in order])
    batches = []
    step = batch_size * pool
    for start in range(0, n, step):
        chunk = order[start:start + step]
        chunk = chunk[np.argsort(lengths[start:start + step], kind="stable")]
        batches += [chunk[i:i + batch_size].tolist() for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def time_chunks(batch: Batch, bptt: int | None):
    """Cut a per-step batch into windows of ``bptt`` steps for truncated BPTT.
    An example that has ended keeps a length of 1 in later windows (its loss is
    masked out), because the kernels need T_x >= 1."""
    T = next(iter(batch.inputs.values())).shape[0]
    if not bptt or T <= bptt:
        yield batch
        return
    for s in range(0, T, bptt):
        e = min(s + bptt, T)
        lengths = np.clip(batch.lengths - s, 1, e - s)
        yield Batch({k: v[s:e] for k, v in batch.inputs.items()}, lengths, batch.y[s:e],
                    batch.mask[s:e], sublengths={k: v[s:e] for k, v in batch.sublengths.items()})
