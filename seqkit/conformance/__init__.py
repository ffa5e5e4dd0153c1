"""seqkit's conformance kit: the tests every backend and cell plugin must pass.

A pytest plugin (the core's ``pytest11`` entry point ``seqkit``, module
``seqkit.conformance.plugin``) adds two options::

    pytest --seqkit-backend NAME    every cell kernel the backend NAME registers
    pytest --seqkit-cell NAME       the cell NAME on every backend that has its kernels

(both may repeat, and combine: the cells named, on the backends named). A plugin's
own test file runs the same kit by importing it and naming its target with a marker::

    import pytest
    from seqkit.conformance.suite import *  # noqa: F403  (the kit's tests)

    pytestmark = pytest.mark.seqkit(cell="indrnn")     # or backend="mine"

What it checks, per backend, cell and option combination (``seqkit.conformance.suite``):
float64 central-difference gradients over the grid (direction x 1, 2 layers x equal,
ragged, length-1 lengths), agreement with the NumPy backend in float32 and float64,
the kernel contract (shapes, dtypes, read-only NumPy outputs, inputs untouched),
padded steps (zeros out, state carried, no gradient), ragged bidirectional batches,
inference without caches (``Recurrent.predict`` equals the training forward), seeds
and dtypes; and, for a backend, its array services. A failure names the cell, the
backend, the tensor and the relative error.
"""
