"""``seqkit new-plugin NAME --kind backend|cell|task``: a plugin that installs and passes
its own tests on creation.

The templates are package data (``seqkit/templates/<kind>/``), filled in with
``string.Template``: the standard library, so the core gains no dependency (a
cookiecutter or copier template would bring theirs, and a network fetch of the
template); the templates ship with, and are tested against, the very seqkit version
that makes them; and ``$name`` placeholders never clash with the braces of Python,
TOML or Markdown. ``*.tmpl`` files are filled in (``substitute``: a misspelled
placeholder is an error, not a silent gap); other files are copied as they are;
the path parts ``__package__`` and ``__name__`` become ``seqkit_NAME`` and ``NAME``.
"""
from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path
from string import Template

import click

from ..errors import SeqkitError

KINDS = ("backend", "cell", "task")
SUMMARIES = {"backend": "an array backend, computing with NumPy to start from",
             "cell": "a recurrent cell, the course's vanilla RNN to start from",
             "task": "one label per line of text"}
NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def template_files(kind: str) -> list:
    """Every file of the kind's template, as ``(path parts, Traversable)``."""
    found = []

    def walk(node, parts):
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.name == "__pycache__":
                continue
            if child.is_dir():
                walk(child, (*parts, child.name))
            else:
                found.append(((*parts, child.name), child))

    walk(files("seqkit") / "templates" / kind, ())
    return found


def fields(name: str, kind: str, summary: str | None = None) -> dict:
    """What the templates' placeholders stand for."""
    from .. import __version__

    return {"name": name, "Name": "".join(p.capitalize() for p in name.split("_") if p),
            "dist": f"seqkit-{name.replace('_', '-')}", "package": f"seqkit_{name}", "kind": kind,
            "summary": summary or SUMMARIES[kind],
            "seqkit_version": ".".join(__version__.split(".")[:2])}


def check_name(name: str, kind: str) -> None:
    """A lowercase identifier, not already taken by an installed plugin of that kind."""
    if not NAME.match(name):
        raise SeqkitError(f"plugin name {name!r} must be a lowercase identifier "
                          "(letters, digits, '_'; starting with a letter), e.g. 'indrnn'")
    from ..cells import cell_types
    from ..plugins import registry

    reg = registry()
    taken = {"backend": (reg.backends, lambda n: reg.backend_plugin[n]),
             "task": (reg.tasks, lambda n: reg.task_plugin[n]),
             "cell": (cell_types(), lambda n: next(iter(cell_types()[n].providers.values()), None))}
    names, provider = taken[kind]
    if name in names:
        info = provider(name)
        by = f" by {info.distribution or info.name}" if info else ""
        raise SeqkitError(f"a {kind} {name!r} is already installed{by}; pick another name")


def scaffold(name: str, kind: str, where: Path, summary: str | None = None) -> Path:
    """Write ``where/seqkit-NAME/`` from the kind's template; returns that folder."""
    if kind not in KINDS:
        raise SeqkitError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    check_name(name, kind)
    if summary is not None and (not summary.strip() or re.search(r'["\\\n]', summary)):
        raise SeqkitError("--description must be one line without quotes or backslashes")
    values = fields(name, kind, summary)
    root = Path(where) / values["dist"]
    if root.exists():
        raise SeqkitError(f"{root} already exists; remove it or choose another --dir")
    rename = {"__package__": values["package"], "__name__": name}
    written = []
    for parts, source in template_files(kind):
        *dirs, filename = (rename.get(p, p) for p in parts)
        target = root.joinpath(*dirs, filename.removesuffix(".tmpl").replace("__name__", name))
        target.parent.mkdir(parents=True, exist_ok=True)
        if filename.endswith(".tmpl"):
            try:
                text = Template(source.read_text(encoding="utf-8")).substitute(values)
            except (KeyError, ValueError) as e:  # a bug of the template, not the user's
                raise RuntimeError(f"template {'/'.join(parts)}: bad placeholder {e}") from e
            target.write_text(text, encoding="utf-8")
        else:
            target.write_bytes(source.read_bytes())
        written.append(target)
    return root


def register(cli):
    @cli.command("new-plugin")
    @click.argument("name")
    @click.option("--kind", type=click.Choice(KINDS), required=True,
                  help="What the plugin registers: an array backend, a recurrent cell or a task.")
    @click.option("--dir", "where", type=click.Path(file_okay=False), default=".", show_default=True,
                  help="Where to create the folder seqkit-NAME/.")
    @click.option("--description", default=None, help="One line describing the plugin.")
    def new_plugin(name, kind, where, description):
        """Create seqkit-NAME/: a plugin of that kind (pyproject with the entry point, the
        hook implementation, tests wired to the conformance kit, a docs page) that
        installs and passes its own tests as it is."""
        if not Path(where).is_dir():
            raise SeqkitError(f"--dir {where} is not a directory")
        root = scaffold(name, kind, Path(where), description)
        count = sum(1 for p in root.rglob("*") if p.is_file())
        click.echo(f"created {root}/ ({kind} plugin {name!r}, {count} files)")
        click.echo("next:")
        click.echo(f"  pip install -e {root}")
        click.echo(f"  cd {root} && pytest")
