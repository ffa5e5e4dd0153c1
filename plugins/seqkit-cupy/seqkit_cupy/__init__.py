"""seqkit-cupy: seqkit's GPU backend, registered through the ``seqkit`` entry point.

Importing this package never imports CuPy: the backend class is registered
either way and says through ``unavailable_reason()`` why it cannot run here.
"""
from seqkit import hookimpl

from .backend import CupyBackend

__all__ = ["CupyBackend", "register_backends"]


@hookimpl
def register_backends(register):
    register(CupyBackend)
