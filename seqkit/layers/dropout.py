"""Inverted dropout: zero each unit with probability p while training and
scale the survivors by 1/(1-p), so evaluation needs no rescaling."""
from __future__ import annotations

from .base import Layer


class Dropout(Layer):
    def __init__(self, p: float = 0.0, backend=None, dtype: str = "float32", seed: int = 0):
        super().__init__(backend, dtype)
        if not 0.0 <= p < 1.0:
            from ..errors import SeqkitError

            raise SeqkitError(f"dropout must be in [0, 1), not {p}")
        self.p = p
        self.seed(seed)
        self.mask = None

    def seed(self, seed: int) -> None:
        """Restart the mask stream (a fixed mask for gradient checks, resumable training)."""
        self.rng = self.backend.rng(seed)

    def forward(self, x, training: bool | None = None):
        training = self.training if training is None else training
        if not training or self.p == 0.0:
            self.mask = None
            return x
        keep = self.rng.random(x.shape, dtype=self.dtype) >= self.p
        self.mask = keep.astype(self.dtype) * self.dtype.type(1.0 / (1.0 - self.p))
        return x * self.mask

    def backward(self, dy):
        return dy if self.mask is None else dy * self.mask
