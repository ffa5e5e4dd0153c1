"""The ``seqkit`` command line: a thin click layer over the library.

No maths here. One place (``SeqkitGroup.main``) turns user mistakes into a
single ``Error: ...`` line on stderr and a non-zero exit. Each command group
lives in its own module: ``info`` (plugins, backends, tasks, cells), ``train``,
``use`` (evaluate, predict, generate), ``check`` (gradcheck).
"""
from __future__ import annotations

import os
import sys
import traceback
import warnings

import click

from .. import __version__, memory, threads
from ..errors import SeqkitError
from ..plugins import call_each, failing_plugin, load_plugins
from . import check, info, scaffold, teach, train, use


class SeqkitGroup(click.Group):
    _plugins_loaded = False

    def load(self) -> None:
        """Load plugins once and let them add commands."""
        if SeqkitGroup._plugins_loaded:
            return
        SeqkitGroup._plugins_loaded = True
        load_plugins()
        call_each("register_commands", cli=self)

    def main(self, args=None, prog_name=None, **kwargs):
        warnings.showwarning = _one_line_warning
        try:
            self.load()
            return super().main(args=args, prog_name=prog_name or "seqkit",
                                standalone_mode=False, **kwargs)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.exceptions.Abort as e:
            # click turns Ctrl-C into Abort; the interrupt is still its cause
            if isinstance(e.__cause__ or e.__context__, KeyboardInterrupt):
                _interrupted()
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except click.ClickException as e:
            click.echo(f"Error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except SeqkitError as e:
            _debug(e)
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            _interrupted()
        except Exception as e:
            # the one boundary for plugin code: a failure inside a plugin (a kernel, a
            # backend method, a task's reader) is one line naming it, not a traceback
            plugin = failing_plugin(e)
            if plugin is None:
                raise  # a bug of seqkit itself: the traceback is what we need
            _debug(e)
            message = " ".join(str(e).split())
            click.echo(f"Error: plugin {plugin!r} failed: {type(e).__name__}: {message} "
                       "(SEQKIT_DEBUG=1 shows the traceback)", err=True)
            sys.exit(1)


def _interrupted():
    click.echo("Interrupted.", err=True)
    sys.exit(130)


def _debug(e: BaseException) -> None:
    if os.environ.get("SEQKIT_DEBUG", "") not in ("", "0"):
        traceback.print_exception(e)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings for the user (a broken plugin) as one line, without a source path."""
    click.echo(f"Warning: {message}", err=True)


class ThreadsType(click.ParamType):
    """``N`` (a positive int) or ``auto``; anything else is one line from click."""

    name = "N|auto"

    def convert(self, value, param, ctx):
        try:
            return threads.parse_threads(value) or "auto"
        except SeqkitError as e:
            self.fail(str(e), param, ctx)


@click.group(cls=SeqkitGroup)
@click.version_option(__version__, prog_name="seqkit")
@click.option("--threads", "threads_", type=ThreadsType(), default=None, metavar="N|auto",
              help=f"BLAS threads per GEMM (default: ${threads.ENV} or auto: as many as the "
                   "GEMM's size is worth and other processes leave free).")
def cli(threads_=None):
    """seqkit: recurrent networks (RNN, GRU, LSTM) with pluggable backends and tasks."""
    threads.configure(threads_)
    memory.configure()  # freed arrays stay for the next step (seqkit.memory; SEQKIT_MALLOC)


for module in (info, train, use, check, teach, scaffold):
    module.register(cli)


def main():
    cli.main(prog_name="seqkit")
