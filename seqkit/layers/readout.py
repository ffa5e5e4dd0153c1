"""Many-to-one readout: each example's final recurrent output.

    ŷ = head(a<T_x>)   with a<T_x> taken at each example's own last valid step;
    bidirectional: [forward a<T_x> | backward a<1>], both directions' final states.

    y : (T, B, D*H) -> (B, D*H); the gradient flows back to those two steps only.
"""
from __future__ import annotations

import numpy as np

from .base import Context, Layer


def final_index(lengths, T: int, directions: int):
    """Time step each direction ends at: T_x - 1 forward, 0 backward."""
    lengths = np.asarray(lengths, dtype=np.int64)
    return [lengths - 1, np.zeros_like(lengths)][:directions]


class LastStep(Layer):
    type_name = "last_step"

    def __init__(self, directions: int = 1, backend=None, dtype: str = "float32"):
        super().__init__(backend, dtype)
        self.directions = directions

    def config(self) -> dict:
        return {"type": self.type_name, "directions": self.directions}

    def begin_update(self, y, ctx: Context):
        T, B, n = y.shape
        lengths = np.full(B, T) if ctx.lengths is None else np.asarray(ctx.lengths)
        H, xp, rows = n // self.directions, self.xp, self.xp.arange(B)
        steps = [xp.asarray(t) for t in final_index(lengths, T, self.directions)]
        parts = [y[t, rows, d * H:(d + 1) * H] for d, t in enumerate(steps)]

        def backprop(d_out):
            dy = xp.zeros((T, B, n), dtype=d_out.dtype)
            for d, t in enumerate(steps):
                dy[t, rows, d * H:(d + 1) * H] = d_out[:, d * H:(d + 1) * H]
            return dy

        return xp.concatenate(parts, axis=-1), backprop
