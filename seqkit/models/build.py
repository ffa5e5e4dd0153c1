"""Layers from their JSON configs, and back: how a checkpoint rebuilds a model.

A config is ``{"type": NAME, ...constructor arguments}``; combinators hold
their children's configs under ``"layers"``. Core layers and heads are known
here; plugins add theirs through the ``register_layers`` hook. Nothing in a
config is code: an unknown type is a one-line error naming it.
"""
from __future__ import annotations

import inspect

from ..errors import SeqkitError
from ..heads import CRF, SigmoidHead, SoftmaxHead
from ..layers import (
    Chain,
    CharEncoder,
    Concatenate,
    Dense,
    Dropout,
    Embedding,
    Input,
    LastStep,
    Layer,
    Recurrent,
)
from ..plugins import registry


def core_layers() -> dict[str, type[Layer]]:
    return {cls.type_name: cls for cls in (
        Input, Chain, Concatenate, Dense, Dropout, Embedding, Recurrent, LastStep, CharEncoder,
        SoftmaxHead, SigmoidHead, CRF)}


def layer_types() -> dict[str, type[Layer]]:
    return {**registry().layers, **core_layers()}


def build(config: dict, backend=None, dtype: str = "float32", seed: int = 0) -> Layer:
    """The layer a ``config()`` describes (children first, each seeded apart)."""
    if not isinstance(config, dict) or "type" not in config:
        raise SeqkitError(f"a layer config must be a dict with a 'type', not {config!r:.80}")
    types = layer_types()
    name = config["type"]
    if name not in types:
        raise SeqkitError(f"unknown layer type {name!r} (is the plugin that provides it installed?)")
    kwargs = {k: v for k, v in config.items() if k != "type"}
    common = {"backend": backend, "dtype": dtype}
    if "layers" in kwargs:
        children = [build(c, backend, dtype, seed + 10 * i) for i, c in enumerate(kwargs.pop("layers"))]
        return types[name](*children, **common, **kwargs)
    if hasattr(types[name], "from_config"):
        return types[name].from_config(config, seed=seed, **common)
    try:
        return types[name](**kwargs, **common, **({"seed": seed} if _takes_seed(types[name]) else {}))
    except TypeError as e:
        raise SeqkitError(f"layer config of type {name!r} does not fit: {e}") from None


def _takes_seed(cls) -> bool:
    return "seed" in inspect.signature(cls.__init__).parameters
