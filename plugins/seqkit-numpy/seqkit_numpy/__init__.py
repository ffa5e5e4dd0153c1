"""seqkit-numpy: seqkit's CPU backend, registered through the ``seqkit`` entry point."""
from seqkit import hookimpl

from .backend import NumpyBackend

__all__ = ["NumpyBackend", "register_backends"]


@hookimpl
def register_backends(register):
    register(NumpyBackend)
