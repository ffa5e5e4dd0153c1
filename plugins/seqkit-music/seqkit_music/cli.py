"""Two options the core's commands lack yet, added to them by this plugin:

    seqkit generate MODEL ... --out song.mid --plot roll.png   the piano roll of the sample
    seqkit predict MODEL --input FILE.json.gz --split test      which split of the file

Each is added only when the core's command has no option of that name, so once
the core grows its own (a task hook for generate options, a ``--split`` handed to
``Task.read_inputs``) this module steps aside. Both work for the music tasks only
and say so in one line for any other task's model.
"""
from __future__ import annotations

import functools
import os

import click

from seqkit import SeqkitError
from seqkit.outputs import read_manifest

from .data import SPLITS

MUSIC_TASKS = ("music-melody", "music-poly")


def _music_manifest(model: str, option: str) -> dict | None:
    """The checkpoint's manifest when it is a music task's; None when there is no
    readable checkpoint (the command itself then says what is wrong)."""
    m = read_manifest(model) if os.path.exists(model) else None
    if not isinstance(m, dict) or not isinstance(m.get("task"), dict):
        return None
    if m["task"].get("name") not in MUSIC_TASKS:
        raise SeqkitError(f"{option} is for the music tasks ({', '.join(MUSIC_TASKS)}); "
                          f"{model} is a {m['task'].get('name')!r} model")
    return m


def _has_option(command: click.Command, name: str) -> bool:
    return any(p.name == name for p in command.params)


def add_generate_plot(cli: click.Group) -> None:
    command = cli.commands.get("generate")
    if command is None or _has_option(command, "plot"):
        return
    command.params.append(click.Option(
        ["--plot"], type=click.Path(dir_okay=False), default=None,
        help="Music tasks: save the piano roll of each sample (the primer in another colour) "
             "to this PNG."))
    original = command.callback

    @functools.wraps(original)
    def generate(plot=None, **kwargs):
        if not plot:
            return original(**kwargs)
        m = _music_manifest(kwargs["model"], "--plot")
        if m is not None and not kwargs.get("out"):
            raise SeqkitError("--plot draws the MIDI files generate writes: give --out FILE.mid")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SeqkitError("--plot needs matplotlib: pip install 'seqkit-music[plot]'") from None
        original(**kwargs)
        from seqkit.run import get_task

        out, count = kwargs["out"], kwargs.get("count") or 1
        stem, ext = os.path.splitext(out)
        paths = [out] + [f"{stem}-{i}{ext}" for i in range(2, count + 1)]
        samples = []
        for p in paths:
            with open(p, "rb") as f:
                samples.append(f.read())
        get_task(m["task"]["name"]).plot_samples(
            samples, m["encoders"], plot, names=[os.path.basename(p) for p in paths],
            title=f"seqkit {m['task']['name']}: {os.path.basename(kwargs['model'])}, "
                  f"seed {kwargs.get('seed')}, temperature {kwargs.get('temperature')}")
        click.echo(f"saved {plot}", err=True)

    command.callback = generate


def add_predict_split(cli: click.Group) -> None:
    command = cli.commands.get("predict")
    if command is None or _has_option(command, "split"):
        return
    command.params.append(click.Option(
        ["--split"], type=click.Choice(SPLITS), default=None,
        help="Music tasks: the split of --input FILE.json.gz to predict for "
             "[default: test if the file has one]."))
    original = command.callback

    @functools.wraps(original)
    def predict(split=None, **kwargs):
        if split:
            _music_manifest(kwargs["model"], "--split")
            if not kwargs.get("input_file"):
                raise SeqkitError("--split picks a split of --input FILE: give --input")
            # the music tasks read FILE:SPLIT (seqkit_music.data.split_of)
            kwargs["input_file"] = f"{kwargs['input_file']}:{split}"
        return original(**kwargs)

    command.callback = predict
