"""``seqkit train TASK``, ``evaluate``, ``predict``, ``generate`` and ``tasks``.

``train`` is a group with one subcommand per installed task, so each task's own
options show in ``seqkit train TASK --help``. No maths here: the library does it.
"""
from __future__ import annotations

import json
import os
from dataclasses import fields

import click

from .errors import SeqkitError
from .plugins import registry
from .tasks import Kind
from .train import TrainConfig

# name, click type, help; defaults come from the task, then from TrainConfig/ModelSpec
MODEL_OPTIONS = [
    ("cell", click.Choice(["rnn", "gru", "lstm"]), "Recurrent cell."),
    ("hidden", click.IntRange(1), "Hidden units n_a per direction."),
    ("layers", click.IntRange(1), "Stacked recurrent layers."),
    ("embed-dim", click.IntRange(1), "Embedding size for token inputs."),
    ("dropout", click.FloatRange(0, 1, max_open=True), "Dropout on inputs and between layers."),
    ("nonlinearity", click.Choice(["tanh", "relu"]), "Vanilla RNN activation."),
]
TRAIN_OPTIONS = [
    ("optimizer", click.Choice(["sgd", "adagrad", "rmsprop", "adam"]), "Optimizer."),
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
     "Held-out share of the training data when it has no valid split (default 0.1)."),
]
DEFAULT_MODEL = {"cell": "lstm", "hidden": 128, "layers": 1, "embed_dim": 64, "dropout": 0.0,
                 "nonlinearity": "tanh", "bidirectional": False}


def _option(name, type_, help_):
    return click.Option([f"--{name}"], type=type_, default=None, help=help_)


def _require_matplotlib(ctx, param, value):
    if value:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise SeqkitError("--plot needs matplotlib: pip install 'seqkit[plot]'") from None
    return value


class TrainGroup(click.Group):
    """One subcommand per installed task, built on demand."""

    def list_commands(self, ctx):
        return sorted(registry().tasks)

    def get_command(self, ctx, name):
        from .run import get_task

        return make_train_command(get_task(name))  # unknown task: one-line error


def make_train_command(task) -> click.Command:
    from .cli import backend_option

    params = [
        click.Option(["--data"], required=True, type=click.Path(), help="Data for this task."),
        click.Option(["--out"], required=True, type=click.Path(dir_okay=False),
                     help="Checkpoint (.npz) written after every epoch."),
        click.Option(["--resume"], type=click.Path(dir_okay=False),
                     help="Continue training from this checkpoint."),
        click.Option(["--bidirectional/--unidirectional"], default=None,
                     help="Read each sequence both ways."),
        click.Option(["--dtype"], type=click.Choice(["float32", "float64"]), default=None,
                     help="Parameter dtype (default float32)."),
        click.Option(["--plot"], type=click.Path(dir_okay=False), callback=_require_matplotlib,
                     help="Save the training and validation curves to this PNG."),
        click.Option(["--quiet", "-q"], is_flag=True, help="No progress bar."),
        *[_option(*o) for o in MODEL_OPTIONS + TRAIN_OPTIONS],
        *task.options,
    ]
    command = click.Command(task.name, params=params, callback=lambda **kw: _train(task, **kw),
                            help=f"{task.description} ({Kind(task.kind).value}).")
    return backend_option(command)


def _train(task, data, out, resume, backend, dtype, plot, quiet, **given):
    from .run import MODEL_HPARAMS, Run, split_records

    given = {k: v for k, v in given.items() if v is not None}
    names = {f.name for f in fields(TrainConfig)}
    task_options = {o.name: given.pop(o.name) for o in task.options if o.name in given}
    if resume:
        run = Run.load(resume, backend=backend)
        if run.task.name != task.name:
            raise SeqkitError(f"{resume} was trained on task {run.task.name!r}, not {task.name!r}")
        # the split is the original run's (its seed and fraction), whatever is given now
        splits = split_records(task, task.read(data, run.options), run.config.valid_fraction,
                               run.config.seed)
        fixed = [k for k in given if k in MODEL_HPARAMS or k == "valid_fraction"] + list(task_options)
        fixed += ["dtype"] if dtype else []
        if fixed:
            click.echo(f"Warning: ignoring {', '.join('--' + k.replace('_', '-') for k in fixed)} "
                       "when resuming: the model and data come from the checkpoint", err=True)
        for k, v in given.items():
            if k in names and k != "valid_fraction":
                setattr(run.config, k, v)
        if run.config.epochs <= run.epoch:
            raise SeqkitError(f"{resume} has already trained {run.epoch} epoch(s); --epochs is the "
                              f"total, so pass --epochs {run.epoch + 1} or more to continue")
    else:
        settings = {**DEFAULT_MODEL, **task.defaults, **given}
        config = TrainConfig(**{k: v for k, v in settings.items() if k in names})
        splits = split_records(task, task.read(data, task_options), config.valid_fraction,
                               config.seed)
        run = Run.create(task, splits["train"], settings, config, task_options, backend,
                         dtype or "float32")
    train, valid = run.encode(splits["train"]), run.encode(splits.get("valid", []))
    click.echo(f"{task.name}: {len(train)} training / {len(valid)} validation examples, "
               f"{run.model.spec.cell} {run.model.spec.hidden}x{run.model.spec.layers} "
               f"on {run.model.backend.name}", err=True)
    try:
        run.fit(train, valid, out, progress=not quiet, log=lambda s: click.echo(s, err=True))
    finally:
        if plot and run.history.epochs:
            from .plot import plot_history

            plot_history(run.history.epochs, plot, title=f"seqkit {task.name}")
            click.echo(f"saved {plot}", err=True)
    click.echo(f"saved {out} (epoch {run.epoch})", err=True)
    best = run.history.best(task.monitor)
    if best:
        from .run import best_path

        click.echo(f"best valid_{task.monitor[0]} {best[0]:.4f} at epoch {best[1] + 1}: "
                   f"{best_path(out)}", err=True)


def _load(model, backend):
    from .run import Run

    if not os.path.exists(model):
        raise SeqkitError(f"no such checkpoint: {model}")
    return Run.load(model, backend=backend)


def register(cli):
    from .cli import backend_option

    cli.add_command(TrainGroup("train", help="Train a model for a task: seqkit train TASK ..."))

    @cli.command()
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
    def tasks(as_json):
        """List installed tasks with their kind and plugin."""
        reg = registry()
        rows = [{"name": n, "kind": Kind(t.kind).value, "description": t.description,
                 "plugin": reg.task_plugin[n].distribution} for n, t in sorted(reg.tasks.items())]
        if as_json:
            click.echo(json.dumps(rows, indent=2))
        for r in rows if not as_json else ():
            click.echo(f"{r['name']:<10} {r['kind']:<16} {r['plugin'] or '-':<16} {r['description']}")
        if not rows and not as_json:
            click.echo("no tasks installed")

    @cli.command()
    @click.argument("model", type=click.Path(dir_okay=False))
    @click.option("--data", required=True, type=click.Path())
    @click.option("--split", type=click.Choice(["train", "valid", "test"]),
                  help="Which split (default: test if the data has one, else valid).")
    @click.option("--json", "as_json", is_flag=True)
    @backend_option
    def evaluate(model, data, split, as_json, backend):
        """Print a trained model's metrics on a split of the data."""
        from .run import split_records
        from .train import evaluate as run_evaluate

        run = _load(model, backend)
        splits = run.task.read(data, run.options)
        split = split or ("test" if splits.get("test") else "valid")
        if split in ("train", "valid") and not splits.get("valid"):
            # the same held-out part the model was validated on while training
            splits = split_records(run.task, splits, run.config.valid_fraction, run.config.seed)
        if not splits.get(split):
            raise SeqkitError(f"{data} has no {split!r} split (it has: "
                              f"{', '.join(k for k, v in splits.items() if v) or 'none'})")
        metrics = run_evaluate(run.model, run.task, run.encode(splits[split]), run.encoders,
                               bos_id=run.bos_id)
        if as_json:
            click.echo(json.dumps(metrics, indent=2))
        for k, v in metrics.items() if not as_json else ():
            click.echo(f"{k:<16} {v:.4f}")

    @cli.command()
    @click.argument("model", type=click.Path(dir_okay=False))
    @click.argument("inputs", nargs=-1)
    @click.option("--input", "input_file", type=click.File("r"), help="One input per line.")
    @backend_option
    def predict(model, inputs, input_file, backend):
        """Predict for each INPUT (or each line of --input) in the task's format."""
        from .predict import predict_lines

        run = _load(model, backend)
        lines = list(inputs) + ([ln.rstrip("\n") for ln in input_file] if input_file else [])
        if not lines:
            raise SeqkitError("give inputs as arguments or with --input FILE")
        for text in predict_lines(run, lines):
            click.echo(text)

    @cli.command()
    @click.argument("model", type=click.Path(dir_okay=False))
    @click.option("--length", default=100, show_default=True, type=click.IntRange(1),
                  help="Most tokens per sample.")
    @click.option("--temperature", default=1.0, show_default=True,
                  type=click.FloatRange(0, min_open=True))
    @click.option("--top-k", type=click.IntRange(1), help="Draw from the k likeliest only.")
    @click.option("--primer", default="", help="Text the samples start with.")
    @click.option("--seed", default=0, show_default=True)
    @click.option("-n", "--count", default=1, show_default=True, type=click.IntRange(1),
                  help="How many samples.")
    @click.option("--out", type=click.Path(dir_okay=False), help="Write the samples here.")
    @backend_option
    def generate(model, length, temperature, top_k, primer, seed, count, out, backend):
        """Sample novel sequences from a one-to-many model."""
        from .sampling import sample

        run = _load(model, backend)
        task, enc = run.task, run.encoders
        start = task.primer_ids(primer, enc)
        samples = []
        for i in range(count):
            ids = sample(run.model, start, length, temperature, top_k, task.end_id(enc),
                         seed=seed + i)
            samples.append(task.render_sample(ids, enc, primer=primer))
        text = "\n".join(samples)
        if out:
            with open(out, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        else:
            click.echo(text)
