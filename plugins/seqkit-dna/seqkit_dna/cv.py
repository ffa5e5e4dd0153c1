"""``seqkit dna-cv TASK``: k-fold cross-validation (``--cv K``) or leave-one-out
(``--cv loo``) of a DNA task, with every option of ``seqkit train TASK``.

The data are de-duplicated first (``seqkit_dna.splits``), then dealt into
stratified, seeded folds. Each fold trains a fresh model on the other folds
(its own validation part, ``--valid-fraction`` of them, picks the best epoch
and drives ``--patience``) and predicts the held-out fold with that best
epoch. The held-out predictions of all folds are pooled into one set of
metrics (accuracy, errors, per-class precision / recall / F1 / error rate,
confusion matrix), printed with the per-fold accuracies.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import fields

import click
import numpy as np

from seqkit import Output, SeqkitError

from .splits import fold_ids


class CvChoice(click.ParamType):
    name = "K|loo"

    def convert(self, value, param, ctx):
        if str(value).lower() in ("loo", "leave-one-out"):
            return "loo"
        try:
            k = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number of folds nor 'loo'", param, ctx)
        if k < 2:
            self.fail("at least 2 folds", param, ctx)
        return k


def cv_command() -> click.Group:
    from seqkit.plugins import registry
    from seqkit.run import get_task

    class CvGroup(click.Group):
        def list_commands(self, ctx):
            return sorted(n for n in registry().tasks if n.startswith("dna-"))

        def get_command(self, ctx, name):
            if not name.startswith("dna-"):
                raise SeqkitError(f"seqkit dna-cv runs the DNA tasks (dna-classify, dna-tag), "
                                  f"not {name!r}")
            return make_cv_command(get_task(name))

    return CvGroup("dna-cv", help="Cross-validate a DNA task: seqkit dna-cv TASK --data PATH "
                                  "--cv K|loo (de-duplicated, stratified folds).")


def make_cv_command(task) -> click.Command:
    from seqkit.cli.train import make_train_command

    base = make_train_command(task)
    skip = {"out", "resume", "overwrite", "plot"}
    params = [p for p in base.params if p.name not in skip] + [
        click.Option(["--cv", "cv"], type=CvChoice(), default="10", show_default=True,
                     help="Number of folds, or 'loo' for leave-one-out."),
        click.Option(["--fold-seed"], type=click.INT, default=0, show_default=True,
                     help="Seed of the fold assignment."),
        click.Option(["--folds", "only"], default=None, metavar="A-B",
                     help="Run only folds A to B (1-based), e.g. to share a leave-one-out "
                          "run between processes; each fold's result does not depend on it."),
        click.Option(["--out"], type=click.Path(file_okay=False),
                     help="Keep each fold's checkpoints in this folder (default: a temporary one)."),
        click.Option(["--overwrite"], is_flag=True, help="Replace fold checkpoints in --out."),
        click.Option(["--json", "as_json"], is_flag=True, help="Print the results as JSON."),
        click.Option(["--predictions"], type=click.Path(dir_okay=False),
                     help="Write the held-out predictions: id, true, predicted, probabilities, fold."),
    ]
    return click.Command(task.name, params=params, callback=lambda **kw: run_cv(task, **kw),
                         help=f"Cross-validate {task.name}: {task.description}.")


def run_cv(task, data, cv, fold_seed, only, out, overwrite, as_json, predictions, backend, dtype,
           quiet, **given):
    from seqkit.cli.train import DEFAULT_MODEL
    from seqkit.predict import predict_records
    from seqkit.run import Run, best_path, split_records
    from seqkit.train import TrainConfig

    given = {k: v for k, v in given.items() if v is not None}
    task_options = {o.name: given.pop(o.name) for o in task.options if o.name in given}
    settings = {**DEFAULT_MODEL, **task.defaults, **given}
    names = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in settings.items() if k in names})
    records = task.load_records(data, task_options)
    stats = dict(task.dedup_stats)
    k = None if cv == "loo" else int(cv)
    if k is not None and k > len(records):
        raise SeqkitError(f"--cv {k} needs at least {k} sequences; {data} has {len(records)}")
    folds = fold_ids(records, k, seed=fold_seed)
    n_folds = int(folds.max()) + 1
    first, last = 1, n_folds
    if only:
        try:
            first, last = (int(v) for v in only.split("-"))
        except ValueError:
            raise SeqkitError(f"--folds takes A-B (1-based fold numbers), not {only!r}") from None
        if not 1 <= first <= last <= n_folds:
            raise SeqkitError(f"--folds {only}: there are folds 1 to {n_folds}")
    tmp = out is None
    out = tempfile.mkdtemp(prefix="seqkit-dna-cv-") if tmp else out
    os.makedirs(out, exist_ok=True)
    say = (lambda s: None) if quiet and as_json else (lambda s: click.echo(s, err=True))
    say(f"{task.name}: {stats['rows']} records, {stats['unique']} distinct sequences "
        f"({stats['duplicate_rows']} rows in duplicate groups, {stats['conflicting']} with "
        f"conflicting labels); {n_folds} folds")
    labels = sorted({lab for r in records for lab in _labels_of(task, r)})
    pooled_probs, pooled_y, per_fold, rows = [], [], [], []
    start = time.perf_counter()
    try:
        for f in range(first - 1, last):
            t0 = time.perf_counter()
            test = [r for r, i in zip(records, folds) if i == f]
            train = [r for r, i in zip(records, folds) if i != f]
            path = os.path.join(out, f"fold{f + 1}.npz")
            for p in (path, best_path(path)):
                if os.path.exists(p):
                    if not overwrite:
                        raise SeqkitError(f"{p} exists: give --overwrite or another --out")
                    os.remove(p)
            splits = split_records(task, {"train": train}, config.valid_fraction, config.seed)
            run = Run.create(task, splits["train"], settings, config, task_options, backend,
                             dtype or "float32")
            run.fit(run.encode(splits["train"]), run.encode(splits.get("valid", [])), path,
                    progress=False, log=lambda s: None)
            best = run.history.best(task.monitor)
            if best is not None and os.path.exists(best_path(path)):
                run = Run.load(best_path(path), backend=backend)
            outputs = predict_records(run, test)
            examples = run.encode(test)
            m = task.metrics(outputs, examples, run.encoders)
            fold_labels = run.encoders["labels"]
            remap = [labels.index(lab) for lab in fold_labels]
            for r, o, e in zip(test, outputs, examples):
                probs = np.zeros((*np.shape(o.probs)[:-1], len(labels)))
                probs[..., remap] = o.probs
                y = np.asarray(remap)[np.asarray(e.y)]
                pooled_probs.append(probs)
                pooled_y.append(y)
                if task.classify:
                    rows.append((r.id, labels[int(y)], labels[int(probs.argmax())], probs, f + 1))
            epoch = (best[1] + 1) if best else run.epoch
            per_fold.append({"fold": f + 1, "n": len(test), "epoch": epoch,
                             "seconds": round(time.perf_counter() - t0, 1),
                             **{key: m[key] for key in ("accuracy", "errors", "f1") if key in m}})
            say(f"fold {f + 1}/{n_folds}: {len(test)} held out, best epoch {epoch}, "
                f"accuracy {m['accuracy']:.4f}"
                + (f", errors {int(m['errors'])}" if "errors" in m else "")
                + (f", f1 {m['f1']:.4f}" if "f1" in m else "")
                + f" ({time.perf_counter() - t0:.0f} s)")
    finally:
        if tmp:
            shutil.rmtree(out, ignore_errors=True)
    if task.classify:
        from .tasks import classification_metrics

        pooled = classification_metrics([Output(p, p.argmax()) for p in pooled_probs], pooled_y,
                                        labels)
    else:
        from .tasks import tagging_metrics

        pooled = tagging_metrics([Output(p, p.argmax(-1)) for p in pooled_probs], pooled_y,
                                 labels)
    accs = [f["accuracy"] for f in per_fold]
    result = {"task": task.name, "data": os.fspath(data), "folds": n_folds,
              "folds_run": [first, last], "held_out": len(pooled_y),
              "scheme": "leave-one-out" if k is None else f"{k}-fold", "fold_seed": fold_seed,
              "dedup": stats, "labels": labels, "pooled": pooled,
              "fold_accuracy_mean": float(np.mean(accs)),
              "fold_accuracy_sd": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
              "per_fold": per_fold, "seconds": round(time.perf_counter() - start, 1),
              "settings": {k_: v for k_, v in settings.items()}, "options": task_options}
    if predictions and rows:
        with open(predictions, "w") as fh:
            fh.write("#id\ttrue\tpredicted\tprobabilities\tfold\n")
            for rid, true, pred, probs, fold in rows:
                ps = ",".join(f"{lab}={p:.4f}" for lab, p in zip(labels, probs))
                fh.write(f"{rid}\t{true}\t{pred}\t{ps}\t{fold}\n")
    if as_json:
        click.echo(json.dumps(_plain(result), indent=2))
        return
    click.echo(summary(result))


def _labels_of(task, r):
    if task.classify:
        return [r.label]
    return set(r.tags) if r.tags is not None else set()


def summary(result: dict) -> str:
    p, labels = result["pooled"], result["labels"]
    lines = [f"{result['scheme']} cross-validation of {result['task']} on {result['data']} "
             f"({result['dedup']['unique']} distinct sequences, {result['seconds']:.0f} s)",
             f"accuracy {p['accuracy']:.4f} pooled (mean of folds {result['fold_accuracy_mean']:.4f}"
             f" ± {result['fold_accuracy_sd']:.4f})"]
    if "errors" in p:
        lines.append(f"errors {int(p['errors'])} of {result['held_out']}")
        lines.append("class      precision  recall  f1      error %")
        for lab in labels:
            lines.append(f"{lab:<10} {p[f'precision_{lab}']:.4f}     {p[f'recall_{lab}']:.4f}  "
                         f"{p[f'f1_{lab}']:.4f}  {100 * p[f'error_{lab}']:.2f}")
        lines.append("confusion (rows true, columns predicted): " + " ".join(labels))
        for a in labels:
            lines.append(f"  {a:<8} " + " ".join(f"{int(p[f'confusion_{a}_{b}']):>6}" for b in labels))
    else:
        for lab in labels[1:]:
            if f"f1_{lab}" in p:
                lines.append(f"{lab}: precision {p[f'precision_{lab}']:.4f} recall "
                             f"{p[f'recall_{lab}']:.4f} f1 {p[f'f1_{lab}']:.4f}")
    return "\n".join(lines)


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: seqkit dna-cv TASK ...")
