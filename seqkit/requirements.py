"""The plugins a model needs, recorded in its checkpoint and checked on load.

A checkpoint names the distribution (and version) of its task, of every cell
its recurrent layers use and of every layer type a plugin supplied, so that
loading it where one is missing says which ``pip install`` brings it back.
"""
from __future__ import annotations

from .cells import cell_types
from .errors import SeqkitError
from .layers import Layer, Recurrent
from .plugins import registry


def _walk(model):
    def walk(layer: Layer):
        yield layer
        for child in layer.children():
            yield from walk(child)

    for root in model.roots():
        yield from walk(root)


def plugin_requirements(model) -> dict:
    """``{"cells": [...], "layers": [...]}``: name, distribution and version of each
    cell and plugin layer type in ``model``."""
    reg, backend = registry(), model.backend.name
    cells, layers = {}, {}
    for layer in _walk(model):
        if isinstance(layer, Recurrent):
            info = layer.cell_type.providers.get(backend)
            cells[layer.cell] = {"name": layer.cell, "distribution": info and info.distribution,
                                 "version": info and info.version}
        if layer.type_name in reg.layers and reg.layers[layer.type_name] is type(layer):
            info = reg.layer_plugin[layer.type_name]
            layers[layer.type_name] = {"name": layer.type_name, "distribution": info.distribution,
                                       "version": info.version}
    return {"cells": [cells[k] for k in sorted(cells)], "layers": [layers[k] for k in sorted(layers)]}


def check_requirements(path: str, manifest: dict) -> None:
    """A one-line error naming the first missing cell or layer plugin and how to get it."""
    installed = {"cell": cell_types(), "layer type": registry().layers}
    for what, key in (("cell", "cells"), ("layer type", "layers")):
        for need in manifest.get(key) or []:
            if need["name"] in installed[what] or (what == "layer type" and _is_core(need["name"])):
                continue
            dist = need.get("distribution")
            where = f"{dist} {need.get('version') or ''}".strip() if dist else "its plugin"
            raise SeqkitError(f"{path} needs {what} {need['name']!r} from {where}, which is not "
                              "installed" + (f" (pip install {dist})" if dist else ""))


def _is_core(type_name: str) -> bool:
    from .models.build import core_layers

    return type_name in core_layers()
