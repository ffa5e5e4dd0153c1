"""The ``seqkit`` command line: a thin click layer over the library.

No maths here. One place (``SeqkitGroup.main``) turns user mistakes into a
single ``Error: ...`` line on stderr and a non-zero exit.
"""
from __future__ import annotations

import json
import sys
import warnings

import click

from . import __version__
from .backend import DEFAULT_BACKEND, available_backends, get_backend
from .errors import SeqkitError
from .plugins import call_each, load_plugins, plugin_info, pm, registry


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
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        except click.ClickException as e:
            click.echo(f"Error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except SeqkitError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings for the user (a broken plugin) as one line, without a source path."""
    click.echo(f"Warning: {message}", err=True)


def _backend_callback(ctx, param, value):
    return get_backend(value)  # raises a one-line BackendError


backend_option = click.option(
    "-b", "--backend", envvar="SEQKIT_BACKEND", default=DEFAULT_BACKEND, show_default=True,
    callback=_backend_callback, help="Array backend (numpy, cupy, ...); env SEQKIT_BACKEND.")


@click.group(cls=SeqkitGroup)
@click.version_option(__version__, prog_name="seqkit")
def cli():
    """seqkit: recurrent networks (RNN, GRU, LSTM) with pluggable backends and tasks."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def plugins(as_json):
    """List loaded plugins: name, version, distribution and hooks."""
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        info = plugin_info(name)
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        rows.append({"name": name, "version": info.version, "distribution": info.distribution,
                     "hooks": hooks})
    rows.sort(key=lambda r: r["name"])
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif not rows:
        click.echo("no plugins loaded")
    for r in rows if not as_json else ():
        click.echo(f"{r['name']:<12} {r['version'] or '-':<10} {r['distribution'] or '-':<20} "
                   f"{', '.join(r['hooks'])}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def backends(as_json):
    """List installed backends, whether each is usable here, and why not."""
    rows = []
    for name, reason in available_backends().items():
        device = get_backend(name).device if reason is None else None
        rows.append({"name": name, "available": reason is None, "device": device,
                     "reason": reason, "plugin": registry().backend_plugin[name].distribution})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no backends installed")
    for r in rows:
        status = f"available on {r['device']}" if r["available"] else f"unavailable: {r['reason']}"
        click.echo(f"{r['name']:<8} {status}")


@cli.command()
@backend_option
@click.option("--cell", "cells", multiple=True, type=click.Choice(["rnn", "gru", "lstm"]),
              help="Check only these cells (repeatable). Default: all.")
@click.option("--tol", default=1e-6, show_default=True, help="Largest relative error allowed.")
def gradcheck(backend, cells, tol):
    """Check every gradient of the recurrent layers against float64 finite differences."""
    from .testing import check_recurrent, recurrent_cases

    worst_overall, failed = 0.0, 0
    click.echo(f"backend {backend.name}: relative error, worst tensor per case (tol {tol:g})")
    for case in recurrent_cases(cells or ("rnn", "gru", "lstm")):
        errors = check_recurrent(case, backend=backend)
        name, err = max(errors.items(), key=lambda kv: kv[1])
        ok = err <= tol
        failed += not ok
        worst_overall = max(worst_overall, err)
        click.echo(f"  {str(case):<28} {err:9.2e}  {name:<22} {'ok' if ok else 'FAIL'}")
    if failed:
        raise SeqkitError(f"{failed} case(s) above tolerance {tol:g} (worst {worst_overall:.2e})")
    click.echo(f"all cases within tolerance (worst {worst_overall:.2e})")


from .cli_models import register as _register_model_commands  # noqa: E402

_register_model_commands(cli)


def main():
    cli.main(prog_name="seqkit")
