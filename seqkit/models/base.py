"""The model protocol: what training, evaluation, prediction and sampling ask
of a model, whatever layers it is made of.

    z, state_n, backprop = model.begin_update(batch, state0)   # training
    loss, dz, n = model.head.loss(z, batch.y, batch.mask, ...)  # the head's own loss
    backprop(dz)                                               # BPTT, fills grads()
    z, state_n = model.predict(batch, state0)                  # inference, no caches

``state`` is the recurrent layers' final states (carried across windows by
truncated BPTT and fed back when sampling), opaque to the caller. Parameter
names are ``<layer>.<PyTorch name>``, e.g. ``rnn.weight_hh_l0``.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_backend
from ..examples import Kind
from ..layers import Context, Dropout, Layer, Recurrent


class Model:
    kind: Kind
    head: Layer

    training = True

    def __init__(self, kind, backend=None, dtype: str = "float32"):
        self.kind = Kind(kind)
        self.backend = get_backend(backend)
        self.xp, self.dtype = self.backend.xp, str(np.dtype(dtype))

    # -- what a model is made of ---------------------------------------------
    def named_layers(self) -> dict[str, Layer]:
        """Every layer holding parameters, by the name its parameters carry."""
        raise NotImplementedError

    def config(self) -> dict:
        """JSON that rebuilds the model (``seqkit.models.build_model``)."""
        raise NotImplementedError

    def begin_update(self, batch, state0=None):
        raise NotImplementedError

    def predict(self, batch, state0=None):
        raise NotImplementedError

    def dropouts(self) -> list[Dropout]:
        """Every dropout stream, in a fixed order (``seed_dropout``)."""
        out = []

        def walk(layer):
            if isinstance(layer, Dropout):
                out.append(layer)
            if isinstance(layer, Recurrent):
                out.append(layer.dropout)
            for child in layer.children():
                walk(child)

        for layer in self.roots():
            walk(layer)
        return out

    def reads_ahead(self) -> bool:
        """Whether some recurrent layer is bidirectional (its state cannot be carried
        forward across windows)."""
        found = []

        def walk(layer):
            found.append(isinstance(layer, Recurrent) and layer.num_directions == 2)
            for child in layer.children():
                walk(child)

        for layer in self.roots():
            walk(layer)
        return any(found)

    def roots(self) -> list[Layer]:
        return list(self.named_layers().values())

    # -- parameters ----------------------------------------------------------
    def params(self) -> dict:
        """Flat name -> backend array; the same arrays the layers use, so an
        optimizer updating them in place updates the model."""
        return {f"{p}.{n}": a for p, layer in self.named_layers().items()
                for n, a in layer.params.items()}

    def grads(self) -> dict:
        return {f"{p}.{n}": g for p, layer in self.named_layers().items()
                for n, g in layer.grads().items()}

    def zero_grad(self) -> None:
        for layer in self.named_layers().values():
            layer.zero_grad()

    def state_dict(self) -> dict:
        return {f"{p}.{n}": a for p, layer in self.named_layers().items()
                for n, a in layer.state_dict().items()}

    def load_state_dict(self, state: dict) -> None:
        for p, layer in self.named_layers().items():
            layer.load_state_dict({n[len(p) + 1:]: a for n, a in state.items()
                                   if n.startswith(p + ".")})

    def train(self, mode: bool = True):
        self.training = mode
        for layer in (*self.roots(), *self.dropouts()):
            layer.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def seed_dropout(self, seed: int) -> None:
        """Restart every dropout mask stream (per epoch, so a resumed run draws
        the same masks as an uninterrupted one)."""
        for i, d in enumerate(self.dropouts()):
            d.seed(seed if i == 0 else seed * 7 + i)

    # -- batches onto the backend -----------------------------------------------
    def context(self, batch, training: bool, state0=None) -> Context:
        """The batch's inputs as backend arrays (dense ones in the model's dtype)."""
        be = self.backend
        inputs = {k: be.asarray(v) if v.dtype.kind in "iu" else be.asarray(v, self.dtype)
                  for k, v in batch.inputs.items()}
        return Context(lengths=batch.lengths, training=training, inputs=inputs,
                       sublengths=dict(batch.sublengths), state0=dict(state0 or {}))

    def targets(self, batch):
        """The batch's labels and mask on the backend."""
        be = self.backend
        y = batch.y if np.issubdtype(batch.y.dtype, np.integer) else batch.y.astype(self.dtype)
        return be.asarray(y), be.asarray(batch.mask, self.dtype)


def unique_names(layers: list[Layer], base) -> dict[str, Layer]:
    """``base(layer)`` as each layer's name, ``_2``, ``_3``... for repeats."""
    names, seen = {}, {}
    for layer in layers:
        stem = base(layer)
        seen[stem] = seen.get(stem, 0) + 1
        names[stem if seen[stem] == 1 else f"{stem}_{seen[stem]}"] = layer
    return names
