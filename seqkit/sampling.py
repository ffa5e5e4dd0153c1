"""Sampling novel sequences from a one-to-many model.

    a<0> = 0, x<1> = the primer's tokens (at least the start token)
    ŷ<t> = softmax(z<t> / temperature), restricted to the top-k most likely tokens
    x<t+1> = a token drawn from ŷ<t>        (fed back as the next input)

Encoder-decoder models decode greedily instead: the encoder's final state starts
the decoder at <bos>, and each step feeds back its most likely token.

The draws use a NumPy generator on the host seeded by ``seed``, so the same
seed and backend give the same sequence.
"""
from __future__ import annotations

import numpy as np

from .errors import SeqkitError
from .tasks import Kind


def next_token_distribution(z: np.ndarray, temperature: float = 1.0,
                            top_k: int | None = None) -> np.ndarray:
    """Probabilities from one step's logits z (n_y,), float64 for a stable draw."""
    if temperature <= 0:
        raise SeqkitError("temperature must be positive")
    z = np.asarray(z, dtype=np.float64) / temperature
    if top_k is not None and 0 < top_k < len(z):
        cutoff = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cutoff, z, -np.inf)
    p = np.exp(z - z.max())
    return p / p.sum()


def sample(model, primer_ids: list[int], max_length: int = 100, temperature: float = 1.0,
           top_k: int | None = None, end_id: int | None = None, seed: int = 0) -> list[int]:
    """Generate up to ``max_length`` new token ids after ``primer_ids``; stops after
    drawing ``end_id``. Returns the generated ids (the end token included)."""
    if model.spec.kind != Kind.ONE_TO_MANY:
        raise SeqkitError(f"only one-to-many models generate; this one is {model.spec.kind}")
    if not primer_ids:
        raise SeqkitError("sampling needs at least one primer token")
    rng = np.random.default_rng(seed)
    model.eval()
    be = model.backend
    # the primer runs in one forward; then one step at a time, carrying the state
    x = be.asarray(np.asarray(primer_ids, dtype=np.int64)[:, None])
    z, state = model.forward(x, np.array([len(primer_ids)]))
    out: list[int] = []
    for _ in range(max_length):
        p = next_token_distribution(be.to_numpy(z[-1, 0]), temperature, top_k)
        token = int(rng.choice(len(p), p=p))
        out.append(token)
        if token == end_id:
            break
        z, state = model.forward(be.asarray(np.array([[token]], dtype=np.int64)),
                                 np.array([1]), state)
    model.train()
    return out


def greedy_decode(model, x, length: int, bos_id: int, end_id: int | None = None,
                  max_length: int = 100) -> np.ndarray:
    """Decode one input sequence x (T_x,) with an encoder-decoder model, feeding
    back the most likely token until ``end_id`` or ``max_length`` steps.
    Returns the probabilities of each decoded step, (T_y, n_y), float64."""
    if model.spec.kind != Kind.ENCODER_DECODER:
        raise SeqkitError(f"greedy decoding needs an encoder-decoder model, not {model.spec.kind}")
    model.eval()
    be = model.backend
    state = model.encoder_state(be.asarray(np.asarray(x)[:, None]), np.array([length]))
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
