"""Layers from their JSON configs, and back: how a checkpoint rebuilds a model.

A config is ``{"type": NAME, ...constructor arguments}``; combinators hold
their children's configs under ``"layers"``. Core layers and heads are known
here; plugins add theirs through the ``register_layers`` hook. Nothing in a
config is code: an unknown type is a one-line error naming it.
"""
from __future__ import annotations

import inspect
import warnings

from .. import heads, layers
from ..errors import SeqkitError
from ..layers import Layer
from ..plugins import PluginWarning, registry


def core_layers() -> dict[str, type[Layer]]:
    """Every layer and head class the core exports, by its ``type_name``."""
    classes = [getattr(m, n) for m in (layers, heads) for n in m.__all__]
    # RNN, GRU and LSTM are Recurrent with a fixed cell: the config names Recurrent
    return {c.type_name: c for c in classes
            if isinstance(c, type) and issubclass(c, Layer) and vars(c).get("type_name")}


def layer_types() -> dict[str, type[Layer]]:
    """Core layers and plugins' (``register_layers``); a plugin cannot replace a core type."""
    core, plugins = core_layers(), registry().layers
    for name in core.keys() & plugins.keys():
        if plugins[name] is not core[name]:
            warnings.warn(f"plugin {registry().layer_plugin[name].name!r} registers layer type "
                          f"{name!r}, which is the core's; using the core's", PluginWarning,
                          stacklevel=2)
    return {**plugins, **core}


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
