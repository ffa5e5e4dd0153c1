"""seqkit-music: tasks ``music-melody`` and ``music-poly``, MIDI in and out."""
from seqkit import hookimpl

from .layers import LAYERS
from .melody import MusicMelody
from .poly import MusicPoly

__all__ = ["MusicMelody", "MusicPoly", "register_tasks", "register_layers", "register_commands"]


@hookimpl
def register_tasks(register):
    register(MusicPoly())
    register(MusicMelody())


@hookimpl
def register_layers(register):
    for cls in LAYERS:
        register(cls)


@hookimpl
def register_commands(cli):
    from .cli import add_generate_plot, add_predict_split

    add_generate_plot(cli)
    add_predict_split(cli)
