"""Composing layers: pick a named input, chain layers, concatenate their outputs.

    chain(f, g, h)(X)        = h(g(f(X)))              backprop runs h, g, f in reverse
    concatenate(f, g)(X)     = [f(X) | g(X)] on the last axis, dX = df + dg
    Input("words")(inputs)   = inputs["words"]         a batch's named input

A model is one such tree; ``Context`` carries the lengths and states through it.
"""
from __future__ import annotations

from .base import Context, Layer


class Input(Layer):
    """The batch's input called ``name``: (T, B) ids, (T, B, n) features, or a
    ragged (T, B, L) id array whose lengths are ``ctx.sublengths[name]``."""

    type_name = "input"

    def __init__(self, name: str = "x", backend=None, dtype: str = "float32"):
        super().__init__(backend, dtype)
        self.name = name

    def config(self) -> dict:
        return {"type": self.type_name, "name": self.name}

    def begin_update(self, X, ctx: Context):
        value = ctx.inputs[self.name] if X is None or isinstance(X, dict) else X
        # ids carry no gradient; dense features pass theirs on for gradient checks
        return value, lambda dY: dY


class _Combinator(Layer):
    """A layer made of ``layers``, described by their configs."""

    def __init__(self, *layers: Layer, backend=None, dtype: str = "float32"):
        super().__init__(backend, dtype)
        self.layers = list(layers)

    def children(self):
        return self.layers

    def config(self) -> dict:
        return {"type": self.type_name, "layers": [la.config() for la in self.layers]}


class Chain(_Combinator):
    type_name = "chain"

    def begin_update(self, X, ctx: Context):
        backprops = []
        for layer in self.layers:
            X, bp = layer.begin_update(X, ctx)
            backprops.append(bp)

        def backprop(dY):
            for bp in reversed(backprops):
                dY = bp(dY)
            return dY

        return X, backprop

    def predict(self, X, ctx: Context):
        for layer in self.layers:
            X = layer.predict(X, ctx)
        return X


class Concatenate(_Combinator):
    type_name = "concatenate"

    def begin_update(self, X, ctx: Context):
        outs, backprops = zip(*(layer.begin_update(X, ctx) for layer in self.layers))
        widths = [o.shape[-1] for o in outs]

        def backprop(dY):
            dX, start = None, 0
            for bp, w in zip(backprops, widths):
                d = bp(dY[..., start:start + w])
                start += w
                if d is not None and not isinstance(d, dict):
                    dX = d if dX is None else dX + d
            return dX

        return self.xp.concatenate(outs, axis=-1), backprop

    def predict(self, X, ctx: Context):
        return self.xp.concatenate([layer.predict(X, ctx) for layer in self.layers], axis=-1)


def chain(*layers: Layer) -> Chain:
    return Chain(*layers, backend=layers[0].backend, dtype=str(layers[0].dtype))


def concatenate(*layers: Layer) -> Concatenate:
    return Concatenate(*layers, backend=layers[0].backend, dtype=str(layers[0].dtype))
