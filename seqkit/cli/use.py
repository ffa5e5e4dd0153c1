"""``seqkit evaluate``, ``predict`` and ``generate``: using a trained model."""
from __future__ import annotations

import json
import os

import click

from ..errors import SeqkitError
from ..run import Run, split_records
from .options import backend_option


def _load(model, backend) -> Run:
    if not os.path.exists(model):
        raise SeqkitError(f"no such checkpoint: {model}")
    return Run.load(model, backend=backend)


def register(cli):
    @cli.command()
    @click.argument("model", type=click.Path(dir_okay=False))
    @click.option("--data", required=True, type=click.Path(), help="Data in the task's format.")
    @click.option("--split", type=click.Choice(["train", "valid", "test"]),
                  help="Which split (default: test if the data has one, else valid).")
    @click.option("--json", "as_json", is_flag=True, help="Print the metrics as a JSON object.")
    @backend_option
    def evaluate(model, data, split, as_json, backend):
        """Print a trained model's metrics on a split of the data."""
        from ..train import evaluate as run_evaluate

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
    @click.option("--input", "input_file", type=click.Path(dir_okay=False),
                  help="A file of inputs in the task's format (by default one per line).")
    @click.option("--out", type=click.Path(dir_okay=False),
                  help="Write the predictions here in the task's format (default: print them).")
    @backend_option
    def predict(model, inputs, input_file, out, backend):
        """Predict for each INPUT (or the inputs of --input FILE) in the task's format."""
        from ..predict import predict_records

        run = _load(model, backend)
        task, enc = run.task, run.encoders
        records = [task.parse_input(text, enc) for text in inputs]
        if input_file:
            records += task.read_inputs(input_file, enc)
        if not records:
            raise SeqkitError("give inputs as arguments or with --input FILE")
        outputs = predict_records(run, records)
        if out:
            task.write_predictions(records, outputs, enc, out)
            click.echo(f"saved {out} ({len(records)} predictions)", err=True)
            return
        for record, output in zip(records, outputs):
            click.echo(task.render_prediction(record, output, enc))

    @cli.command()
    @click.argument("model", type=click.Path(dir_okay=False))
    @click.option("--length", default=100, show_default=True, type=click.IntRange(1),
                  help="Most steps per sample.")
    @click.option("--temperature", default=1.0, show_default=True,
                  type=click.FloatRange(0, min_open=True),
                  help="Divide the logits by this: below 1 safer, above 1 more adventurous.")
    @click.option("--top-k", type=click.IntRange(1), help="Draw from the k likeliest only.")
    @click.option("--primer", default="", help="What the samples start with (task's format).")
    @click.option("--seed", default=0, show_default=True,
                  help="Seed of the draws: same seed, same samples.")
    @click.option("-n", "--count", default=1, show_default=True, type=click.IntRange(1),
                  help="How many samples.")
    @click.option("--out", type=click.Path(dir_okay=False),
                  help="Write the samples here, in the task's format (default: print them).")
    @backend_option
    def generate(model, length, temperature, top_k, primer, seed, count, out, backend):
        """Sample novel sequences from a one-to-many model."""
        from ..sampling import sample

        run = _load(model, backend)
        task, enc = run.task, run.encoders
        start = task.primer_ids(primer, enc)
        samples = []
        for i in range(count):
            steps = sample(run.model, start, length, temperature, top_k, task.end_id(enc),
                           seed=seed + i)
            samples.append(task.render_sample(steps, enc, primer=primer))
        if out:
            task.write_samples(samples, out)
            click.echo(f"saved {out} ({count} sample{'s' * (count > 1)})", err=True)
        elif all(isinstance(s, str) for s in samples):
            click.echo("\n".join(samples))
        else:
            raise SeqkitError(f"task {task.name!r} generates files: give --out FILE")
