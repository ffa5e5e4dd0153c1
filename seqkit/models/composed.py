"""A task's own model: a tree of the core's layers (or plugins') and a head.

    body : a layer (usually ``chain(...)``) from the batch's named inputs to
           scores z: (T, B, n_y) per step, or (B, n_y) after ``LastStep``
    head : softmax, sigmoid or CRF (``seqkit.heads``), owning loss and decoding

Example (the NER tagger)::

    body = chain(concatenate(chain(Input("words"), Embedding(V, 100)),
                             chain(Input("case"), Embedding(4, 8)),
                             CharEncoder("chars", C, 25, 25)),
                 Dropout(0.5), Recurrent("lstm", 158, 200, bidirectional=True),
                 Dropout(0.5), Dense(400, n_tags))
    model = ComposedModel("many-to-many", body, CRF(n_tags, *transition_constraints(tags)))

Parameters are named after their layers' types (``embedding``, ``embedding_2``,
``lstm``, ``char_encoder.embedding``, ``dense``, ``crf``), in tree order, so the
same config always gives the same names. The config is JSON (``config()``),
rebuilt by ``seqkit.models.build_model`` without running any code from the file.
"""
from __future__ import annotations

from ..errors import SeqkitError
from ..examples import Kind
from ..layers import Layer, Recurrent
from .base import Model, unique_names
from .build import build


def _base_name(layer: Layer) -> str:
    return layer.cell if isinstance(layer, Recurrent) else layer.type_name


def _leaves(layer: Layer) -> list[Layer]:
    """Layers that own parameters or name their children, in tree order."""
    if hasattr(layer, "named_children"):
        return [layer]
    out = [layer] if layer.params else []
    for child in layer.children():
        out += _leaves(child)
    return out


class ComposedModel(Model):
    def __init__(self, kind, body: Layer, head: Layer):
        super().__init__(kind, body.backend, str(body.dtype))
        if self.kind == Kind.ENCODER_DECODER:
            raise SeqkitError("a composed model is many-to-many, many-to-one or one-to-many; "
                              "encoder-decoder tasks use the core's default model")
        self.body, self.head = body, head
        names = unique_names(_leaves(body) + [head], _base_name)
        self._layers = {}
        for name, layer in names.items():
            if hasattr(layer, "named_children"):
                for child_name, child in layer.named_children().items():
                    self._layers[f"{name}.{child_name}"] = child
            else:
                self._layers[name] = layer

    def named_layers(self):
        return dict(self._layers)

    def roots(self):
        return [self.body, self.head]

    def config(self) -> dict:
        return {"type": "composed", "kind": self.kind.value, "body": self.body.config(),
                "head": self.head.config()}

    @classmethod
    def from_config(cls, config: dict, backend=None, dtype="float32", seed=0) -> ComposedModel:
        return cls(config["kind"], build(config["body"], backend, dtype, seed),
                   build(config["head"], backend, dtype, seed + 1))

    def begin_update(self, batch, state0=None):
        ctx = self.context(batch, training=True, state0=state0)
        z, backprop = self.body.begin_update(ctx.inputs, ctx)
        return z, ctx.state_n, backprop

    def predict(self, batch, state0=None):
        ctx = self.context(batch, training=False, state0=state0)
        return self.body.predict(ctx.inputs, ctx), ctx.state_n
