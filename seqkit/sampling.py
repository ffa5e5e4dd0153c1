"""Sampling novel sequences from a one-to-many model.

    a<0> = 0, x<1> = the primer's tokens (at least the start token)
    ŷ<t> = softmax(z<t> / temperature), restricted to the top-k most likely tokens
    x<t+1> = a token drawn from ŷ<t>        (fed back as the next input)

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
