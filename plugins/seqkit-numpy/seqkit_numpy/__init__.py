"""seqkit-numpy: seqkit's CPU backend and its rnn, gru and lstm kernels,
registered through the ``seqkit`` entry point."""
from seqkit import hookimpl

from .backend import CELLS, NumpyBackend

__all__ = ["NumpyBackend", "CELLS", "register_backends", "register_cells"]


@hookimpl
def register_backends(register):
    register(NumpyBackend)


@hookimpl
def register_cells(register):
    for cell in CELLS:
        register(cell)
