"""seqkit-ner: task ``ner``, named-entity recognition on CoNLL column files
(a word + casing + character-BiLSTM -> BiLSTM -> CRF tagger)."""
from seqkit import hookimpl

from .task import NERTask

__all__ = ["NERTask", "register_tasks"]


@hookimpl
def register_tasks(register):
    register(NERTask())
