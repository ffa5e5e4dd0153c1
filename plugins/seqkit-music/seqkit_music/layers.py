"""The plugin's own layer, registered through ``register_layers`` so that a
checkpoint rebuilds it:

    music_activation   y = g(x) elementwise, g = relu or tanh (the hidden layer of
                       music-poly's deep output, ``--output-hidden``)
"""
from __future__ import annotations

from seqkit import Layer, SeqkitError

ACTIVATIONS = ("relu", "tanh")


class Activation(Layer):
    """y = relu(x) (dy/dx = [x > 0]) or y = tanh(x) (dy/dx = 1 - y²), elementwise."""

    type_name = "music_activation"

    def __init__(self, fn: str = "relu", backend=None, dtype: str = "float32"):
        super().__init__(backend, dtype)
        if fn not in ACTIVATIONS:
            raise SeqkitError(f"activation must be one of {', '.join(ACTIVATIONS)}, not {fn!r}")
        self.fn = fn

    def config(self) -> dict:
        return {"type": self.type_name, "fn": self.fn}

    def begin_update(self, x, ctx=None):
        if self.fn == "relu":
            on = x > 0
            return x * on, lambda dy: dy * on
        y = self.xp.tanh(x)
        return y, lambda dy: dy * (1 - y * y)


LAYERS = [Activation]
