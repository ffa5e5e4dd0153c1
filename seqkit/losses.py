"""Output heads' losses, summed over time steps as in the lecture.

    softmax:  ŷ<t> = softmax(z<t>),  L = -Σ_t log ŷ<t>[y<t>]          dz<t> = ŷ<t> - onehot(y<t>)
    sigmoid:  ŷ<t> = σ(z<t>),        L = -Σ_t Σ_k y_k log ŷ_k + (1-y_k) log(1-ŷ_k)   dz<t> = ŷ<t> - y<t>

``mask`` (same leading shape as the targets) is 1 at valid steps, 0 at padded
ones, so padding adds nothing to the loss or the gradient. Reductions:
``"sum"`` sums over time steps and averages over the examples of the batch
(the lecture's per-sequence loss, with a learning rate that does not depend on
the batch size); ``"mean"`` averages over valid tokens.
Each function returns ``(loss, dz, n_tokens)``: the loss as a Python float, dz
the gradient w.r.t. the logits, and the number of valid tokens.
"""
from __future__ import annotations

import numpy as np

from .errors import SeqkitError


def _scale(mask, n_examples, reduction):
    n_tokens = float(mask.sum())
    if reduction == "sum":
        return 1.0 / max(n_examples, 1), n_tokens
    if reduction == "mean":
        return 1.0 / max(n_tokens, 1.0), n_tokens
    raise SeqkitError(f"reduction must be 'sum' or 'mean', not {reduction!r}")


def log_softmax(z, xp):
    """Numerically stable log softmax over the last axis."""
    z = z - z.max(axis=-1, keepdims=True)
    return z - xp.log(xp.exp(z).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(z, y, mask, n_examples, xp, reduction="sum"):
    """z : (..., n_y) logits; y : (...) int class ids; mask : (...) 0/1."""
    scale, n_tokens = _scale(mask, n_examples, reduction)
    logp = log_softmax(z, xp)
    rows = xp.arange(y.size)
    flat_y = y.reshape(-1).astype(xp.int64)
    picked = logp.reshape(-1, z.shape[-1])[rows, flat_y].reshape(y.shape)
    loss = -float((picked * mask).sum()) * scale
    dz = xp.exp(logp)
    # ŷ - onehot(y): subtract 1 at each target index instead of building the one-hot
    dz.reshape(-1, z.shape[-1])[rows, flat_y] -= 1
    dz *= (mask * scale)[..., None].astype(dz.dtype)
    return loss, dz, n_tokens


def sigmoid_binary_cross_entropy(z, y, mask, n_examples, xp, reduction="sum"):
    """z : (..., n_y) logits; y : (..., n_y) multi-hot 0/1 targets; mask : (...) 0/1."""
    scale, n_tokens = _scale(mask, n_examples, reduction)
    y = y.astype(z.dtype)
    # log σ(z) = -softplus(-z), log(1-σ(z)) = -softplus(z); softplus written stably
    softplus_z = xp.logaddexp(0, z)
    per_unit = softplus_z - y * z  # = -(y log σ + (1-y) log(1-σ))
    loss = float((per_unit.sum(axis=-1) * mask).sum()) * scale
    dz = 1 / (1 + xp.exp(-z)) - y
    dz *= (mask * scale)[..., None].astype(dz.dtype)
    return loss, dz, n_tokens


def probabilities(z, head: str):
    """The head's output ŷ from host logits z: softmax over the last axis, or
    independent sigmoids."""
    if head == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


LOSSES = {"softmax": softmax_cross_entropy, "sigmoid": sigmoid_binary_cross_entropy}
