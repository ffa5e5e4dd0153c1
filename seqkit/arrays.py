"""Which array module an array belongs to, and the way to the host.

Imports nothing of seqkit, so every module (kernels, optimizers, layers) can
use it without pulling in the plugin machinery.
"""
from __future__ import annotations

import importlib
from typing import Any

import numpy as np


def array_module(a) -> Any:
    """The array module an array belongs to: ``cupy`` for a CuPy array, else
    ``numpy``. CuPy is imported only when the array already comes from it."""
    if type(a).__module__.split(".")[0] == "cupy":
        return importlib.import_module("cupy")
    return np


def to_host(a) -> np.ndarray:
    """A NumPy array from a NumPy or CuPy array (or anything array-like)."""
    return a.get() if array_module(a) is not np else np.asarray(a)
