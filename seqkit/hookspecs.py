"""Every hook a seqkit plugin can implement, in one place.

Hooks receive a register object and are called with keyword arguments, so a
spec can grow new arguments without breaking existing plugins.
"""
from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("seqkit")
hookimpl = pluggy.HookimplMarker("seqkit")


@hookspec
def register_backends(register):
    """Register array backends: call ``register(BackendSubclass)`` once per backend.

    The class (not an instance) is registered so an unavailable backend, e.g. CuPy
    without a GPU, can still be listed with the reason it cannot run.
    """


@hookspec
def register_tasks(register):
    """Register tasks: call ``register(task)`` with a ``seqkit.Task`` instance.

    The registry records which plugin (distribution and version) provided it;
    checkpoints store that so loading can name a missing plugin.
    """


@hookspec
def register_cells(register):
    """Register recurrent cells: call ``register(seqkit.cells.Cell(...))`` once per
    cell and backend, giving its gate count, states, options and the backend's
    forward and BPTT kernels. Cells of one name from several plugins merge."""


@hookspec
def register_layers(register):
    """Register layer or head classes (``seqkit.layers.Layer`` subclasses with a
    ``type_name``) so that models using them can be rebuilt from a checkpoint."""


@hookspec
def register_commands(cli):
    """Add click commands to the ``seqkit`` command group: ``@cli.command()``."""
