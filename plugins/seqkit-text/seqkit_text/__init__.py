"""seqkit-text: the ``chars`` task, a character-level language model."""
from seqkit import hookimpl

from .chars import CharLM

__all__ = ["CharLM", "register_tasks"]


@hookimpl
def register_tasks(register):
    register(CharLM())
