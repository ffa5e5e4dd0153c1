"""Options shared by several commands, and the one place that turns click's
parameter errors into one line."""
from __future__ import annotations

import click

from ..backend import DEFAULT_BACKEND, get_backend
from ..errors import SeqkitError


def _backend_callback(ctx, param, value):
    return get_backend(value)  # raises a one-line BackendError


backend_option = click.option(
    "-b", "--backend", envvar="SEQKIT_BACKEND", default=DEFAULT_BACKEND, show_default=True,
    callback=_backend_callback, help="Array backend (numpy, cupy, ...); env SEQKIT_BACKEND.")


def require_matplotlib(ctx, param, value):
    if value:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SeqkitError("--plot needs matplotlib: pip install 'seqkit[plot]'") from None
    return value


class CellChoice(click.ParamType):
    """A registered cell name; the choices are read from the registry when used,
    so cells from plugins appear in ``--help`` and are accepted."""

    name = "cell"

    def _names(self):
        from ..cells import cell_types

        return sorted(cell_types())

    def get_metavar(self, param, ctx=None):
        return "[" + "|".join(self._names()) + "]"

    def convert(self, value, param, ctx):
        if value in self._names():
            return value
        self.fail(f"{value!r} is not an installed cell (installed: {', '.join(self._names())})",
                  param, ctx)
