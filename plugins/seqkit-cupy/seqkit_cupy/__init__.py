"""seqkit-cupy: seqkit's GPU backend and its rnn, gru and lstm kernels,
registered through the ``seqkit`` entry point.

Importing this package or registering never imports CuPy: the backend class
is registered either way and says through ``unavailable_reason()`` why it
cannot run here, and the cells' kernels import CuPy on their first call.
"""
from seqkit import hookimpl

from .backend import CELLS, CupyBackend

__all__ = ["CupyBackend", "CELLS", "register_backends", "register_cells"]


@hookimpl
def register_backends(register):
    register(CupyBackend)


@hookimpl
def register_cells(register):
    for cell in CELLS:
        register(cell)
