"""``seqkit gradcheck``: every gradient of the recurrent layers against finite differences."""
from __future__ import annotations

import click

from ..errors import SeqkitError
from .options import CellChoice, backend_option


def register(cli):
    @cli.command()
    @backend_option
    @click.option("--cell", "cells", multiple=True, type=CellChoice(),
                  help="Check only these cells (repeatable). Default: every registered cell.")
    @click.option("--tol", default=1e-6, show_default=True, help="Largest relative error allowed.")
    def gradcheck(backend, cells, tol):
        """Check every gradient of the recurrent layers against float64 finite differences."""
        from ..cells import get_cell
        from ..testing import check_recurrent, recurrent_cases

        for name in cells:
            get_cell(name).kernels_for(backend.name)  # one line if the backend lacks it
        cases = recurrent_cases(cells or None, backend=backend.name)
        if not cases:
            raise SeqkitError(f"backend {backend.name!r} has no cell kernels to check")
        worst_overall, failed = 0.0, 0
        click.echo(f"backend {backend.name}: relative error, worst tensor per case (tol {tol:g})")
        for case in cases:
            errors = check_recurrent(case, backend=backend)
            name, err = max(errors.items(), key=lambda kv: kv[1])
            ok = err <= tol
            failed += not ok
            worst_overall = max(worst_overall, err)
            click.echo(f"  {str(case):<28} {err:9.2e}  {name:<22} {'ok' if ok else 'FAIL'}")
        if failed:
            raise SeqkitError(f"{failed} case(s) above tolerance {tol:g} (worst {worst_overall:.2e})")
        click.echo(f"all cases within tolerance (worst {worst_overall:.2e})")
