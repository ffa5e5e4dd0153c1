"""``seqkit explain`` (the lecture's forward and BPTT, step by step) and ``seqkit
parity`` (every cell across backends). The numbers come from ``seqkit.explain``
and ``seqkit.diagnostics``; this module only prints them."""
from __future__ import annotations

import json
import os
import unicodedata

import click
import numpy as np

from ..errors import SeqkitError
from .options import CellChoice, backend_option, require_matplotlib

LABELS = {"x": "x<{t}>", "gamma_f": "Γ_f<{t}>", "gamma_u": "Γ_u<{t}>", "gamma_r": "Γ_r<{t}>",
          "gamma_o": "Γ_o<{t}>", "c_tilde": "c̃<{t}>", "c": "c<{t}>", "a": "a<{t}>",
          "y_hat": "ŷ<{t}>", "dz": "dz<{t}> = ŷ<{t}> - y<{t}>", "da": "dL/da<{t}>",
          "dc": "dL/dc<{t}> from t+1", "dW_y": "dW_y += dz<{t}> a<{t}>ᵀ", "db_y": "db_y += dz<{t}>",
          "dW_a": "dW_a += step {t}", "db_a": "db_a += step {t}", "db_hh": "db_hh += step {t}"}

#: the row blocks of a gated cell's W_a, in PyTorch's order, with the lecture's names
BLOCKS = {"lstm": "; row blocks i, f, g, o = Γ_u, Γ_f, c̃, Γ_o",
          "gru": "; row blocks r, z, n = Γ_r, 1 - Γ_u, c̃"}


def _fmt(value) -> str:
    a = np.asarray(value, dtype=float)
    with np.printoptions(precision=4, suppress=True, floatmode="fixed", linewidth=100):
        text = np.array2string(a, separator=" ")
    return text.replace("\n", "\n" + " " * 34)


def _line(label: str, value) -> str:
    shape = str(tuple(np.shape(value)))
    # c̃ is two code points and one column: pad by columns, not characters
    width = 22 + sum(1 for ch in label if unicodedata.combining(ch))
    return f"  {label:<{width}} {shape:<9} {_fmt(value)}"


def render(r: dict) -> str:
    """The report of ``seqkit.explain.explain`` as the lecture would write it."""
    out = [f"{r['cell']} cell on backend {r['backend']}: one-to-many, T_x = {r['T_x']}, "
           f"n_x = n_y = {r['n_x']}, n_a = {r['n_a']}, seed {r['seed']}",
           "x<1> = 0, x<t> = one-hot y<t-1>;  ŷ<t> = softmax(W_y a<t> + b_y);  "
           "L<t> = -log ŷ<t>[y<t>];  a<0> = 0" + (", c<0> = 0" if "c" in r["forward"][0] else ""),
           "", "parameters (W_a = [W_aa | W_ax]" + BLOCKS.get(r["cell"], "") + "):"]
    out += [_line(k, v) for k, v in r["parameters"].items()]
    if not r["gates_known"]:
        out.append(f"  (the gates: backend {r['backend']}'s {r['cell']} cache does not say where it "
                   "keeps them)")
    out += ["", "forward"]
    for step in r["forward"]:
        t = step["t"]
        out.append(f" t = {t}")
        out += [_line(LABELS[k].format(t=t), step[k]) for k in step if k in LABELS]
        out.append(f"  y<{t}> = {step['y']}{'':<16}L<{t}> = {step['loss']:.6f}")
    out += ["", f"L = Σ_t L<t> = {r['loss']:.6f}", "",
            "BPTT (t = T_x .. 1): dL/da<t> = W_yᵀ dz<t> + what step t+1 sends back"]
    for step in r["bptt"]:
        t = step["t"]
        out.append(f" t = {t}")
        out += [_line(LABELS[k].format(t=t), step[k]) for k in step if k in LABELS]
    out += ["", "gradients (the sums over t)"]
    names = {"da0": "dL/da<0>", "dc0": "dL/dc<0>"}
    out += [_line(names.get(k, k), v) for k, v in r["gradients"].items()]
    return "\n".join(out)


def register(cli):
    @cli.command()
    @click.option("--cell", type=CellChoice(), default="lstm", show_default=True,
                  help="The cell of the tiny example.")
    @click.option("--steps", type=int, default=None,
                  help="T_x: time steps of the example (default 3; with --checkpoint, the "
                       "steps measured).")
    @click.option("--hidden", type=int, default=2, show_default=True, help="n_a, hidden units.")
    @click.option("--vocab", type=int, default=4, show_default=True, help="n_x = n_y, classes.")
    @click.option("--seed", type=int, default=0, show_default=True, help="Seeds weights and targets.")
    @click.option("--checkpoint", "checkpoints", multiple=True, type=click.Path(dir_okay=False),
                  help="Instead: measure ||dL<T_x>/da<t>|| against T_x - t on trained models "
                       "(repeatable; needs --data).")
    @click.option("--data", type=click.Path(), help="Data for --checkpoint, in the task's format.")
    @click.option("--examples", type=click.IntRange(1), default=256, show_default=True,
                  help="Examples averaged over with --checkpoint.")
    @click.option("--plot", type=click.Path(dir_okay=False), callback=require_matplotlib,
                  help="With --checkpoint: draw the norms against T_x - t to this PNG.")
    @click.option("--json", "as_json", is_flag=True, help="Print the same as JSON (for notebooks).")
    @backend_option
    def explain(cell, steps, hidden, vocab, seed, checkpoints, data, examples, plot, as_json,
                backend):
        """A tiny seeded example, forward and BPTT step by step in the lecture's notation."""
        from .. import explain as ex

        if checkpoints:
            return _through_time(checkpoints, data, steps, examples, plot, as_json, backend)
        if plot or data:
            raise SeqkitError("--data and --plot go with --checkpoint")
        report = ex.explain(cell, 3 if steps is None else steps, hidden, vocab, seed, backend)
        click.echo(json.dumps(report) if as_json else render(report))

    @cli.command()
    @click.option("--backends", "names", default="numpy,cupy", show_default=True,
                  help="Comma-separated backends; the first available one is the reference.")
    @click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float64",
                  show_default=True)
    @click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
    def parity(names, dtype, as_json):
        """Outputs and gradients of every registered cell across backends: max abs and rel difference."""
        from ..diagnostics import parity as run_parity

        result = run_parity([n.strip() for n in names.split(",") if n.strip()], dtype=dtype)
        if as_json:
            click.echo(json.dumps(result, indent=1))
            return
        for name, reason in result["skipped"].items():
            click.echo(f"skipped {name}: {reason}")
        click.echo(f"reference {result['reference']}, {dtype}, T {result['T']} B {result['B']} "
                   f"n_x {result['n_x']} n_a {result['n_a']} (ragged lengths, random da)")
        click.echo(f"{'cell':<12} {'backend':<8} {'quantity':<12} {'max abs':>10} {'max rel':>10}")
        for row in result["rows"]:
            click.echo(f"{row['cell']:<12} {row['backend']:<8} {row['quantity']:<12} "
                       f"{row['max_abs']:10.2e} {row['max_rel']:10.2e}")
        if not result["rows"]:
            click.echo(f"(nothing to compare: only {result['reference']} is available; it ran "
                       f"{', '.join(result['cells'])})")


def _through_time(checkpoints, data, steps, examples, plot, as_json, backend):
    from ..explain import trained_gradients
    from ..run import Run

    if not data:
        raise SeqkitError("--checkpoint needs --data to measure on")
    curves = {}
    for path in checkpoints:
        if not os.path.exists(path):
            raise SeqkitError(f"no such checkpoint: {path}")
        run = Run.load(path, backend=backend)
        records = run.task.read(data, run.options)
        records = [r for split in ("train", "valid", "test") for r in records.get(split) or []]
        curves[path] = trained_gradients(run, records, steps, examples)
        config = run.model.config()
        curves[path]["model"] = f"{config.get('cell', '?')} {config.get('hidden', '')}".strip()
    if as_json:
        click.echo(json.dumps(curves, indent=1))
    else:
        click.echo("||dL<T_x>/da<t>|| averaged over examples, by T_x - t")
        click.echo(f"{'T_x - t':>8} " + " ".join(f"{os.path.basename(p):>16}" for p in curves))
        longest = max(len(c["norms"]) for c in curves.values())
        for k in range(longest):
            cells = [c["norms"][-1 - k] if k < len(c["norms"]) else float("nan") for c in curves.values()]
            click.echo(f"{k:>8} " + " ".join(f"{v:16.3e}" for v in cells))
    if plot:
        from ..plot import plot_gradient_decay

        plot_gradient_decay(curves, plot)
        click.echo(f"saved {plot}", err=True)
