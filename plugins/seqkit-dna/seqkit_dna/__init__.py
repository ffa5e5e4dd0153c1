"""seqkit-dna: the tasks ``dna-classify`` and ``dna-tag`` and the command
``seqkit dna-cv`` (k-fold / leave-one-out cross-validation). See docs/tasks/dna.md.

Cheap to import (every ``seqkit`` command imports it): Biopython is imported
only when a FASTA file is read.
"""
from seqkit import hookimpl

from .layers import LAYERS
from .tasks import DnaClassify, DnaTag

__all__ = ["DnaClassify", "DnaTag", "register_tasks", "register_layers", "register_commands"]


@hookimpl
def register_tasks(register):
    register(DnaClassify())
    register(DnaTag())


@hookimpl
def register_layers(register):
    for cls in LAYERS:
        register(cls)


@hookimpl
def register_commands(cli):
    from .cv import cv_command

    cli.add_command(cv_command())
