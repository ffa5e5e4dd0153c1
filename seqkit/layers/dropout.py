"""Inverted dropout: zero each unit with probability p while training and
scale the survivors by 1/(1-p), so evaluation needs no rescaling."""
from __future__ import annotations

from ..errors import SeqkitError
from .base import Layer


class Dropout(Layer):
    type_name = "dropout"

    def __init__(self, p: float = 0.0, backend=None, dtype: str = "float32", seed: int = 0):
        super().__init__(backend, dtype)
        if not 0.0 <= p < 1.0:
            raise SeqkitError(f"dropout must be in [0, 1), not {p}")
        self.p = p
        self.seed(seed)

    def config(self) -> dict:
        return {"type": self.type_name, "p": self.p}

    def seed(self, seed: int) -> None:
        """Restart the mask stream (a fixed mask for gradient checks, resumable training)."""
        self.rng = self.backend.rng(seed)

    def draw_mask(self, shape):
        """A fresh mask: 0 or 1/(1-p) per unit."""
        keep = self.rng.random(shape, dtype=self.dtype) >= self.p
        return keep.astype(self.dtype) * self.dtype.type(1.0 / (1.0 - self.p))

    def begin_update(self, x, ctx=None, training: bool | None = None):
        if training is None:
            training = self.training if ctx is None else ctx.training and self.training
        if not training or self.p == 0.0:
            return x, lambda dy: dy
        mask = self.draw_mask(x.shape)
        return x * mask, lambda dy: dy * mask
