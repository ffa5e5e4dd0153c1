"""``seqkit train TASK``: a group with one subcommand per installed task, so each
task's own options show in ``seqkit train TASK --help``. No maths here."""
from __future__ import annotations

import contextlib
import sys
from dataclasses import fields

import click

from ..backend import get_backend
from ..diagnostics import GradientDiagnostics
from ..distributed import Distributed, Single, launched_ranks
from ..errors import SeqkitError
from ..examples import Kind
from ..optim import OPTIMIZERS
from ..outputs import check_fresh_out, output_lock
from ..plugins import registry
from ..run import Run, best_path, get_task, split_records
from ..train import TrainConfig
from .options import CellChoice, backend_option, require_matplotlib

# name, click type, help; defaults come from the task, then from TrainConfig/ModelSpec
MODEL_OPTIONS = [
    ("cell", CellChoice(), "Recurrent cell (any registered: seqkit cells)."),
    ("hidden", click.IntRange(1), "Hidden units n_a per direction."),
    ("layers", click.IntRange(1), "Stacked recurrent layers."),
    ("embed-dim", click.IntRange(1), "Embedding size for token inputs."),
    ("dropout", click.FloatRange(0, 1, max_open=True), "Dropout on inputs and between layers."),
    ("nonlinearity", click.Choice(["tanh", "relu"]),
     "Activation of cells that have one (default: the cell's own, tanh for rnn)."),
]
TRAIN_OPTIONS = [
    ("optimizer", click.Choice(list(OPTIMIZERS)),
     "Optimizer (sparse-adam: lazy Adam on embedding rows, as torch's SparseAdam)."),
    ("lr", click.FloatRange(0, min_open=True), "Learning rate."),
    ("lr-decay", click.FloatRange(0, 1, min_open=True), "lr at epoch e = lr * decay**e."),
    ("weight-decay", click.FloatRange(0), "L2 weight decay."),
    ("momentum", click.FloatRange(0, 1), "Momentum (sgd, rmsprop)."),
    ("clip-norm", click.FloatRange(0), "Clip gradients to this global L2 norm (0: off)."),
    ("clip-value", click.FloatRange(0), "Clip each gradient entry to [-v, v] (0: off)."),
    ("batch-size", click.IntRange(1), "Examples per batch."),
    ("epochs", click.IntRange(1), "Total epochs (a resumed run continues up to it)."),
    ("seed", click.INT, "Seed for initialisation, shuffling and dropout."),
    ("patience", click.IntRange(1), "Early stopping: epochs without improvement."),
    ("bptt", click.IntRange(1), "Truncated BPTT window in steps (state carried across)."),
    ("reduction", click.Choice(["sum", "mean"]), "Loss summed over steps, or per-token mean."),
    ("valid-fraction", click.FloatRange(0, 1, max_open=True),
     "Held-out share of the training data when it has no valid split."),
]
DEFAULT_MODEL = {"cell": "lstm", "hidden": 128, "layers": 1, "embed_dim": 64, "dropout": 0.0,
                 "bidirectional": False}


def _option(name, type_, help_, default=None):
    # default=None so that "given" means given; the effective default is shown in --help
    shown = f" [default: {default}]" if default is not None else ""
    return click.Option([f"--{name}"], type=type_, default=None, help=help_ + shown)


def effective_defaults(task) -> dict:
    """What a fresh run uses when an option is not given: the task's defaults over
    the core's (TrainConfig, DEFAULT_MODEL)."""
    return {**{f.name: f.default for f in fields(TrainConfig)}, **DEFAULT_MODEL, **task.defaults}


class TrainGroup(click.Group):
    """One subcommand per installed task, built on demand."""

    def list_commands(self, ctx):
        return sorted(registry().tasks)

    def get_command(self, ctx, name):
        return make_train_command(get_task(name))  # unknown task: one-line error


def make_train_command(task) -> click.Command:
    defaults = effective_defaults(task)
    params = [
        click.Option(["--data"], required=True, type=click.Path(),
                     help=task.data_help or "Data for this task, in its format."),
        click.Option(["--out"], required=True, type=click.Path(dir_okay=False),
                     help="Checkpoint (.npz) written after every epoch; the best epoch goes to "
                          "OUT.best.npz."),
        click.Option(["--resume"], type=click.Path(dir_okay=False),
                     help="Continue training from this checkpoint (into --out)."),
        click.Option(["--overwrite"], is_flag=True,
                     help="Replace an existing --out (a fresh run refuses to otherwise)."),
        click.Option(["--bidirectional/--unidirectional"], default=None,
                     help="Read each sequence both ways."),
        click.Option(["--dtype"], type=click.Choice(["float32", "float64"]), default=None,
                     help="Parameter dtype (default float32)."),
        click.Option(["--plot"], type=click.Path(dir_okay=False), callback=require_matplotlib,
                     help="Save the training and validation curves to this PNG."),
        click.Option(["--diagnostics"], is_flag=True,
                     help="Record ||dL/da<t>|| per time step (first recurrent layer) and how often "
                          "clipping fired, per epoch; --plot draws them as heat maps."),
        click.Option(["--quiet", "-q"], is_flag=True, help="No progress bar."),
        click.Option(["--distributed"], is_flag=True,
                     help="Data-parallel over the ranks of an MPI launch (mpiexec -n N ...): "
                          "global batch N x --batch-size; rank 0 writes. See docs/distributed.md."),
        *[_option(*o, default=defaults.get(o[0].replace("-", "_"))) for o in MODEL_OPTIONS + TRAIN_OPTIONS],
        *task.options,
    ]
    command = click.Command(task.name, params=params, callback=lambda **kw: _train(task, **kw),
                            help=f"{task.description} ({Kind(task.kind).value}).")
    return backend_option(command)


#: may differ on --resume; every other option is the checkpoint's and is refused if different
RESUMABLE = {"epochs", "lr", "lr_decay", "weight_decay", "clip_norm", "clip_value", "batch_size",
             "patience", "bptt", "reduction"}


def _train(task, data, out, resume, overwrite, backend, dtype, plot, quiet, diagnostics=False,
           distributed=False, **given):
    ranks = launched_ranks()
    if not distributed and ranks > 1:
        raise SeqkitError(f"this is one of {ranks} processes started by an MPI launcher: add "
                          "--distributed to train them as one, or run seqkit without mpiexec")
    if distributed and diagnostics:
        raise SeqkitError("--diagnostics records one process's gradients: run it without "
                          "--distributed")
    dist = Distributed.connect() if distributed else Single()
    try:
        if dist.size > 1:
            dist.agreed(lambda: get_backend(backend).select_device(dist.local_rank))
        run = _train_ranks(task, data, out, resume, overwrite, backend, dtype, plot, quiet,
                           diagnostics, dist, given)
    except SeqkitError:
        if not dist.is_root:
            sys.exit(1)  # every rank has the same error; rank 0 prints it
        raise
    finally:
        dist.close()
    if not dist.is_root:
        return
    click.echo(f"saved {out} (epoch {run.epoch})", err=True)
    best = run.history.best(task.monitor)
    if best:
        click.echo(f"best valid_{task.monitor[0]} {best[0]:.4f} at epoch {best[1] + 1}: "
                   f"{best_path(out)}", err=True)


def _train_ranks(task, data, out, resume, overwrite, backend, dtype, plot, quiet, diagnostics,
                 dist, given) -> Run:
    given = {k: v for k, v in given.items() if v is not None}
    task_options = {o.name: given.pop(o.name) for o in task.options if o.name in given}
    say = (lambda s: click.echo(s, err=True)) if dist.is_root else (lambda s: None)
    with contextlib.ExitStack() as owned:
        def claim_out():
            if dist.is_root:  # one writer: rank 0 owns --out
                check_fresh_out(out, overwrite, resume)
                owned.enter_context(output_lock(out))

        def build():
            if resume:
                run = _resume(task, resume, given, task_options, dtype, backend)
                splits = split_records(task, task.read(data, run.options),
                                       run.config.valid_fraction, run.config.seed)
            else:
                run, splits = fresh_run(task, data, given, task_options, backend, dtype or "float32")
            return run, run.encode(splits["train"]), run.encode(splits.get("valid", []))

        dist.agreed(claim_out)
        run, train, valid = dist.agreed(build)
        dist.agreed(lambda: dist.broadcast_state(run))  # rank 0's initial (or resumed) state
        ranks = f", {dist.size} ranks" if dist.size > 1 else ""
        say(f"{task.name}: {len(train)} training / {len(valid)} validation examples, "
            f"{describe(run.model)} on {run.model.backend.name}{ranks}")
        try:
            run.fit(train, valid, out, progress=not quiet and dist.is_root, log=say,
                    resumed_from=resume, diagnostics=GradientDiagnostics() if diagnostics else None,
                    dist=dist)
        finally:
            if plot and run.history.epochs and dist.is_root:
                from ..plot import plot_history

                plot_history(run.history.epochs, plot, title=f"seqkit {task.name}")
                say(f"saved {plot}")
    return run


def fresh_run(task, data, given: dict | None = None, task_options: dict | None = None,
              backend=None, dtype: str = "float32") -> tuple[Run, dict]:
    """A new run of ``task`` on ``data``: the options ``given`` over the task's defaults
    over the core's, as ``seqkit train`` builds it; with the data's splits (a
    validation split carved out of "train" when the data has none)."""
    settings = {**DEFAULT_MODEL, **task.defaults, **(given or {})}
    config = TrainConfig(**{k: v for k, v in settings.items() if k in TRAIN_CONFIG_FIELDS})
    splits = split_records(task, task.read(data, task_options or {}), config.valid_fraction,
                           config.seed)
    run = Run.create(task, splits["train"], settings, config, task_options or {}, backend, dtype)
    return run, splits


TRAIN_CONFIG_FIELDS = {f.name for f in fields(TrainConfig)}


def _resume(task, resume, given, task_options, dtype, backend) -> Run:
    """The run in ``resume``, with the options that may change applied (and recorded);
    an option that would change the model, the data split or the optimizer's state
    is refused in one line."""
    run = Run.load(resume, backend=backend)
    if run.task.name != task.name:
        raise SeqkitError(f"{resume} was trained on task {run.task.name!r}, not {task.name!r}")
    stored = {**run.config.to_json(), **run.hparams, **{f"option {k}": v for k, v in run.options.items()},
              "dtype": str(run.model.dtype)}
    wanted = {**given, **{f"option {k}": v for k, v in task_options.items()},
              **({"dtype": dtype} if dtype else {})}
    for key, value in wanted.items():
        if key in RESUMABLE or stored.get(key, _MISSING) == value:
            continue
        flag = "--" + key.removeprefix("option ").replace("_", "-")
        was = stored.get(key, "unset")
        shown = flag if value is True else f"{flag} {value}"
        raise SeqkitError(f"{shown} cannot change on --resume ({resume} was trained with {flag} "
                          f"{was}); start a new run with another --out to change it")
    for key in RESUMABLE & given.keys():
        setattr(run.config, key, given[key])
    # the optimizer was rebuilt from the stored config: give it what may change
    run.optimizer.weight_decay = float(run.config.weight_decay)
    if run.config.epochs <= run.epoch:
        raise SeqkitError(f"{resume} has already trained {run.epoch} epoch(s); --epochs is the "
                          f"total, so pass --epochs {run.epoch + 1} or more to continue")
    return run


_MISSING = object()


def describe(model) -> str:
    """``lstm 128x1`` for a default model; the composition's layer types otherwise."""
    spec = getattr(model, "spec", None)
    if spec is not None:
        return f"{spec.cell} {spec.hidden}x{spec.layers}"
    return "+".join(model.named_layers())


def register(cli):
    cli.add_command(TrainGroup("train", help="Train a model for a task: seqkit train TASK ..."))
