"""Output heads: the layer after the last one, owning the loss, the decoding
and the draw. Each head turns logits (or scores) z into

    loss(z, y, mask, n_examples, reduction) -> (loss, dz, n_tokens)   training
    probabilities(z, lengths) -> ŷ (host float64)                      evaluation
    decode(z, lengths) -> labels (host)                                prediction
    draw(z, rng, temperature, top_k) -> a sample of labels (host)      generation

    softmax:  ŷ<t> = softmax(z<t>), one class per step: argmax; a categorical draw
    sigmoid:  ŷ<t> = σ(z<t>), independent units (multi-hot): ŷ > 0.5; a Bernoulli draw
    crf:      a linear-chain CRF over the steps: Viterbi; marginals as ŷ (seqkit.heads.crf)

z : (T, B, n_y) per step, or (B, n_y) for many-to-one; mask (T, B) / (B,) 0/1.
Losses are summed over time steps as in the lecture (``seqkit.losses``).
"""
from __future__ import annotations

import numpy as np

from ..errors import SeqkitError
from ..layers.base import Layer
from ..losses import probabilities, sigmoid_binary_cross_entropy, softmax_cross_entropy


def next_token_distribution(z: np.ndarray, temperature: float = 1.0,
                            top_k: int | None = None) -> np.ndarray:
    """Probabilities from one step's logits z (n_y,), float64 for a stable draw:
    softmax(z / temperature), restricted to the top-k most likely classes."""
    if temperature <= 0:
        raise SeqkitError("temperature must be positive")
    z = np.asarray(z, dtype=np.float64) / temperature
    if not np.isfinite(z).all():
        raise SeqkitError("the model's outputs are not finite (NaN or inf): its weights are "
                          "unusable, e.g. trained with too large a learning rate")
    if top_k is not None and 0 < top_k < len(z):
        cutoff = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= cutoff, z, -np.inf)
    p = np.exp(z - z.max())
    return p / p.sum()


class Head(Layer):
    #: labels are class ids (accuracy is reported), not multi-hot vectors
    categorical = True
    #: draws one step at a time, so a one-to-many model can feed its draws back
    generates = True

    def __init__(self, n_y: int, backend=None, dtype: str = "float32"):
        super().__init__(backend, dtype)
        self.n_y = n_y

    def config(self) -> dict:
        return {"type": self.type_name, "n_y": self.n_y}

    def begin_update(self, z, ctx=None):
        return z, lambda dz: dz

    def loss(self, z, y, mask, n_examples: int, reduction: str = "sum", accumulate: bool = True):
        """``(loss, dz, n_tokens)``; a head with parameters adds their gradients
        when ``accumulate`` (a forward that will not be backpropagated passes False)."""
        raise NotImplementedError

    def probabilities(self, z, lengths=None) -> np.ndarray:
        raise NotImplementedError

    def decode(self, z, lengths=None) -> np.ndarray:
        raise NotImplementedError

    def draw(self, z, rng: np.random.Generator, temperature: float = 1.0, top_k=None,
             lengths=None) -> np.ndarray:
        raise SeqkitError(f"the {self.type_name} head does not draw samples")


class SoftmaxHead(Head):
    type_name = "softmax"

    def loss(self, z, y, mask, n_examples, reduction="sum", accumulate=True):
        return softmax_cross_entropy(z, y, mask, n_examples, self.xp, reduction)

    def probabilities(self, z, lengths=None):
        return probabilities(self.backend.to_numpy(z).astype(np.float64), "softmax")

    def decode(self, z, lengths=None):
        return self.backend.to_numpy(z).argmax(-1)

    def draw(self, z, rng, temperature=1.0, top_k=None, lengths=None):
        """One categorical draw per position of z (..., n_y), at ``temperature``,
        from the ``top_k`` likeliest classes only if given."""
        z = self.backend.to_numpy(z)
        flat = z.reshape(-1, z.shape[-1])
        out = np.empty(len(flat), dtype=np.int64)
        for i, row in enumerate(flat):
            p = next_token_distribution(row, temperature, top_k)
            out[i] = rng.choice(len(p), p=p)
        return out.reshape(z.shape[:-1])


class SigmoidHead(Head):
    type_name = "sigmoid"
    categorical = False

    def loss(self, z, y, mask, n_examples, reduction="sum", accumulate=True):
        return sigmoid_binary_cross_entropy(z, y, mask, n_examples, self.xp, reduction)

    def probabilities(self, z, lengths=None):
        return probabilities(self.backend.to_numpy(z).astype(np.float64), "sigmoid")

    def decode(self, z, lengths=None):
        return (self.backend.to_numpy(z) > 0).astype(np.int64)   # σ(z) > 0.5

    def draw(self, z, rng, temperature=1.0, top_k=None, lengths=None):
        """Each unit on with probability σ(z / temperature), independently (a
        multi-hot frame per position)."""
        if temperature <= 0:
            raise SeqkitError("temperature must be positive")
        p = probabilities(self.backend.to_numpy(z).astype(np.float64) / temperature, "sigmoid")
        if not np.isfinite(p).all():
            raise SeqkitError("the model's outputs are not finite (NaN): its weights are unusable")
        return (rng.random(p.shape) < p).astype(np.int64)
