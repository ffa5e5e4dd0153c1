"""Sampling novel sequences from a one-to-many model.

    a<0> = 0, x<1> = the primer (at least the start token, or a zero frame)
    ŷ<t> = the head's distribution at step t (softmax(z<t> / temperature),
           restricted to the top-k classes; or σ(z<t> / temperature) per unit)
    x<t+1> = a draw from ŷ<t>  (a token id, or a multi-hot frame), fed back as the next input

Encoder-decoder models decode greedily instead: the encoder's final state starts
the decoder at <bos>, and each step feeds back its most likely token.

Draws use a NumPy generator on the host seeded by ``seed``, so the same seed
and backend give the same sequence. Nothing is kept for BPTT.
"""
from __future__ import annotations

import numpy as np

from .data import Batch
from .errors import SeqkitError
from .examples import Kind
from .heads import next_token_distribution

__all__ = ["sample", "greedy_decode", "next_token_distribution", "input_batch"]


def input_batch(x: np.ndarray, lengths) -> Batch:
    """A batch of inputs only (no labels), ``x`` (T, B) ids or (T, B, n) features.
    Generation feeds the input named ``"x"``: a composed one-to-many model reads it
    with ``Input("x")``."""
    return Batch({"x": x}, np.asarray(lengths, dtype=np.int64), None, None)


def sample(model, primer, max_length: int = 100, temperature: float = 1.0,
           top_k: int | None = None, end_id: int | None = None, seed: int = 0) -> list:
    """Generate up to ``max_length`` steps after ``primer`` (token ids (T0,), or
    dense frames (T0, n_x)); stops after drawing ``end_id``. Returns the drawn
    steps (ints, or (n_y,) 0/1 frames), the end token included."""
    if model.kind != Kind.ONE_TO_MANY:
        raise SeqkitError(f"only one-to-many models generate; this one is {model.kind.value}")
    if not model.head.generates:
        raise SeqkitError(f"a model with a {model.head.type_name} head does not generate step by step")
    primer = np.asarray(primer)
    if primer.size == 0 or len(primer) == 0:
        raise SeqkitError("sampling needs at least one primer step")
    dense = primer.dtype.kind == "f"
    rng = np.random.default_rng(seed)
    model.eval()
    # the primer runs in one forward; then one step at a time, carrying the state
    z, state = model.predict(input_batch(primer[:, None], [len(primer)]))
    out: list = []
    for _ in range(max_length):
        drawn = model.head.draw(z[-1, 0][None], rng, temperature, top_k)[0]
        out.append(int(drawn) if np.ndim(drawn) == 0 else drawn)
        if np.ndim(drawn) == 0 and int(drawn) == end_id:
            break
        x = np.asarray(drawn, dtype=primer.dtype if dense else np.int64)[None, None]
        z, state = model.predict(input_batch(x, [1]), state)
    model.train()
    return out


def greedy_decode(model, x, length: int, bos_id: int, end_id: int | None = None,
                  max_length: int = 100) -> np.ndarray:
    """Decode one input sequence x (T_x,) with an encoder-decoder model, feeding
    back the most likely token until ``end_id`` or ``max_length`` steps.
    Returns the probabilities of each decoded step, (T_y, n_y), float64."""
    if model.kind != Kind.ENCODER_DECODER:
        raise SeqkitError(f"greedy decoding needs an encoder-decoder model, not {model.kind.value}")
    model.eval()
    be = model.backend
    state = model.encoder_state(input_batch(np.asarray(x)[:, None], [length]))
    token, steps = bos_id, []
    for _ in range(max_length):
        z, state = model.decoder_step(be.asarray(np.array([token], dtype=np.int64)), state)
        p = next_token_distribution(be.to_numpy(z[0]))
        steps.append(p)
        token = int(p.argmax())
        if token == end_id:
            break
    model.train()
    return np.stack(steps)
