"""A training run as one object: task, encoders, model, optimizer, history,
and its checkpoint (one ``.npz``: weights by state_dict name, optimizer slots,
and a JSON manifest; see ``seqkit.checkpoint``).
"""
from __future__ import annotations

import math
import os
import uuid
from dataclasses import dataclass, field

import numpy as np

from .atomic import link_atomic
from .checkpoint import check_writable, load_checkpoint, save_checkpoint
from .distributed import Single
from .errors import SeqkitError
from .models import Model, ModelSpec, SequenceModel, build_model
from .optim import make_optimizer
from .outputs import best_is_ours_to_replace
from .plugins import registry
from .requirements import check_requirements, plugin_requirements
from .tasks import Kind, Task, check_examples
from .train import History, NonFiniteError, TrainConfig, evaluate, train_epoch

MODEL_HPARAMS = ("cell", "hidden", "layers", "bidirectional", "embed_dim", "dropout", "nonlinearity")


def get_task(name: str) -> Task:
    tasks = registry().tasks
    if name not in tasks:
        known = ", ".join(sorted(tasks)) or "none (install a task plugin)"
        raise SeqkitError(f"unknown task {name!r}; installed tasks: {known}")
    return tasks[name]


def split_records(task: Task, splits: dict, valid_fraction: float, seed: int) -> dict:
    """Carve a validation split out of "train" (seeded) when the data has none."""
    splits = dict(splits)
    if not splits.get("train"):
        raise SeqkitError("the data holds no training examples")
    if not splits.get("valid") and valid_fraction > 0 and len(splits["train"]) > 1:
        train = splits["train"]
        order = np.random.default_rng(seed).permutation(len(train))
        n_valid = max(1, int(round(len(train) * valid_fraction)))
        splits["valid"] = [train[i] for i in sorted(order[:n_valid])]
        splits["train"] = [train[i] for i in sorted(order[n_valid:])]
    return splits


@dataclass
class Run:
    task: Task
    encoders: dict
    model: Model
    config: TrainConfig
    options: dict = field(default_factory=dict)
    history: History = field(default_factory=History)
    epoch: int = 0  # epochs finished
    optimizer: object = None
    #: model hyper-parameters it was built with (what --resume compares against)
    hparams: dict = field(default_factory=dict)
    #: identifies this run across resumes, so another run's best checkpoint is recognised
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def bos_id(self):
        return self.encoders.get("bos_id")

    # -- building ------------------------------------------------------------
    @classmethod
    def create(cls, task: Task, train_records: list, hparams: dict, config: TrainConfig,
               options: dict, backend=None, dtype: str = "float32") -> Run:
        encoders = task.build_encoders(train_records, options)
        dims = task.dims(encoders)
        if Kind(task.kind) == Kind.ENCODER_DECODER and not isinstance(encoders.get("bos_id"), int):
            raise SeqkitError(f"task {task.name!r} is encoder-decoder: its encoders need an int "
                              "'bos_id', the decoder's start token")
        model = task.build_model(dims, dict(hparams), backend, dtype, config.seed)
        if model is None:
            spec = ModelSpec(kind=Kind(task.kind).value, input=task.input, head=task.head,
                             n_in=dims["n_in"], n_y=dims["n_y"],
                             n_in_decoder=dims.get("n_in_decoder", 0),
                             **{k: v for k, v in hparams.items() if k in MODEL_HPARAMS})
            model = SequenceModel(spec, backend=backend, dtype=dtype, seed=config.seed)
        elif model.kind != Kind(task.kind):
            raise SeqkitError(f"task {task.name!r} built a {model.kind.value} model for a "
                              f"{Kind(task.kind).value} task")
        run = cls(task, encoders, model, config, options,
                  hparams={k: v for k, v in hparams.items() if k in MODEL_HPARAMS})
        run.make_optimizer()
        return run

    def make_optimizer(self) -> None:
        c = self.config
        kw = {"weight_decay": c.weight_decay}
        if c.optimizer in ("sgd", "rmsprop"):
            kw["momentum"] = c.momentum
        self.optimizer = make_optimizer(c.optimizer, self.model.params(), c.lr, **kw)

    def encode(self, records: list) -> list:
        return [self.task.encode(r, self.encoders) for r in records]

    # -- training --------------------------------------------------------------
    def fit(self, train: list, valid: list, out: str, progress: bool = True, log=print,
            resumed_from: str | None = None, diagnostics=None, dist=None) -> None:
        """Train from ``self.epoch`` up to ``config.epochs`` (a total), validating and
        checkpointing to ``out`` after every epoch. Stops early after ``patience``
        epochs without improvement of the task's monitored metric. With ``dist``
        (``seqkit.distributed``) every rank trains and validates; rank 0 alone writes."""
        dist = dist or Single()
        if dist.is_root:
            check_writable(out)
        if self.config.bptt and (Kind(self.task.kind) not in (Kind.MANY_TO_MANY, Kind.ONE_TO_MANY)
                                 or self.model.reads_ahead()):
            raise SeqkitError("--bptt (truncated BPTT) needs a unidirectional per-step task "
                              "(many-to-many or one-to-many): the state is carried forward only")
        dims = self.task.dims(self.encoders)
        head = self.model.head.type_name
        check_examples(Kind(self.task.kind), head, train, dims, "training example")
        if valid:
            check_examples(Kind(self.task.kind), head, valid, dims, "validation example")
        c = self.config
        start = self.epoch
        while self.epoch < c.epochs:
            try:
                stats = train_epoch(self.model, self.optimizer, train, c, self.epoch, self.bos_id,
                                    show_progress=progress, task=self.task, diagnostics=diagnostics,
                                    dist=dist)
                # the epoch's last step can make the weights non-finite with a finite
                # gradient: check them before they reach a checkpoint
                check_weights(self.model, self.epoch)
            except NonFiniteError as e:
                raise NonFiniteError(f"{e}{self._last_good(out, start, resumed_from)}") from None
            record = {"epoch": self.epoch + 1, "train_loss": stats.pop("loss"),
                      "tokens_per_s": stats.pop("tokens_per_s"), **stats}
            for k, v in evaluate(self.model, self.task, valid, self.encoders,
                                 bos_id=self.bos_id).items():
                record[f"valid_{k}"] = v
            record = dist.broadcast_record(record)  # one decision on every rank
            dist.check_same_weights(self.model)
            if not math.isfinite(record.get("valid_loss", 0.0)):
                # finite but huge weights can still overflow: such a model is not kept either
                raise NonFiniteError(f"the validation loss became {record['valid_loss']} in epoch "
                                     f"{self.epoch + 1}; try a smaller --lr or --clip-norm"
                                     f"{self._last_good(out, start, resumed_from)}")
            self.epoch += 1
            self.history.epochs.append(record)
            if dist.is_root:
                self.save(out)
            best = self.history.best(self.task.monitor)
            if best is None and valid and self.epoch == 1:
                log(f"Warning: task {self.task.name!r} monitors {self.task.monitor[0]!r}, which "
                    "evaluation does not report: no best checkpoint, no early stopping")
            if best and best[1] == self.epoch - 1 and dist.is_root:
                # out is the latest epoch (what --resume continues); the best one is kept beside it
                ours, why = best_is_ours_to_replace(best_path(out), self.run_id, best[0],
                                                    self.task.monitor)
                if ours:
                    # out holds this very state: a hard link spares a second write and fsync
                    if not link_atomic(out, best_path(out)):
                        self.save(best_path(out))   # a file system without hard links
                elif why != getattr(self, "_kept", None):
                    log(why)
                    self._kept = why
            log("  ".join(_show(k, v) for k, v in record.items() if not k.startswith("grad_")))
            if c.patience and best and self.epoch - 1 - best[1] >= c.patience:
                log(f"early stop: no better valid_{self.task.monitor[0]} for {c.patience} epochs")
                break

    def _last_good(self, out: str, start: int, resumed_from: str | None) -> str:
        """Where the last good state is, naming only a file that exists."""
        if self.epoch > start and os.path.exists(out):
            return f"; the last good checkpoint is {out} (epoch {self.epoch})"
        if resumed_from and os.path.exists(resumed_from):
            return f"; the last good checkpoint is {resumed_from} (epoch {start})"
        return "; no checkpoint was written"

    # -- checkpoint --------------------------------------------------------------
    def manifest(self) -> dict:
        reg = registry()
        plugin = reg.task_plugin.get(self.task.name)
        return {
            "task": {"name": self.task.name, "kind": Kind(self.task.kind).value,
                     "distribution": plugin.distribution if plugin else None,
                     "version": plugin.version if plugin else None},
            "model": self.model.config(),
            "encoders": self.encoders,
            "options": self.options,
            "dtype": str(np.dtype(self.model.dtype)),
            "backend": self.model.backend.name,
            "seed": self.config.seed,
            "config": self.config.to_json(),
            "optimizer": self.config.optimizer,
            "epoch": self.epoch,
            # the RNG state is derived from (seed, epoch): see seqkit.train
            "rng": {"scheme": "numpy default_rng([seed, epoch])", "seed": self.config.seed,
                    "epoch": self.epoch},
            "history": self.history.epochs,
            "hparams": self.hparams,
            "run_id": self.run_id,
            # the plugins that provide its cells and layers, so a missing one can be named
            **plugin_requirements(self.model),
        }

    def save(self, path: str) -> None:
        arrays = {f"model/{k}": v for k, v in self.model.state_dict().items()}
        if self.optimizer is not None:
            arrays.update({f"optim/{k}": v for k, v in self.optimizer.state_dict().items()})
        save_checkpoint(path, arrays, _finite_json(self.manifest()))

    @classmethod
    def load(cls, path: str, backend=None) -> Run:
        from .manifest import validate

        arrays, m = load_checkpoint(path)
        validate(path, m, arrays)  # every key and size, before anything is allocated
        try:
            name, dist = m["task"]["name"], m["task"]["distribution"]
            tasks = registry().tasks
            if name not in tasks:
                need = f"{dist} {m['task']['version'] or ''}".strip() if dist else "its plugin"
                raise SeqkitError(f"{path} needs task {name!r} from {need}, which is not "
                                  f"installed (pip install {dist or 'seqkit-' + name})")
            task = tasks[name]
            check_requirements(path, m)
            config = TrainConfig(**m["config"])
            # trained on any backend, loads on any other: weights are plain NumPy
            model = build_model(m["model"], backend=backend, dtype=m["dtype"], seed=config.seed)
            model.load_state_dict({k[6:]: v for k, v in arrays.items() if k.startswith("model/")})
        except (KeyError, TypeError, ValueError) as e:
            raise SeqkitError(f"{path} has an invalid manifest: {type(e).__name__}: {e}") from None
        run = cls(task, m["encoders"], model, config, m.get("options", {}),
                  History(list(m.get("history", []))), int(m["epoch"]),
                  hparams=dict(m.get("hparams") or _spec_hparams(m["model"])),
                  run_id=str(m.get("run_id") or uuid.uuid4().hex))
        run.make_optimizer()
        optim = {k[6:]: v for k, v in arrays.items() if k.startswith("optim/")}
        if optim:
            run.optimizer.load_state_dict(optim)
        return run


def _spec_hparams(model_config: dict) -> dict:
    """A format-1 (or pre-hparams) checkpoint: its default model's spec holds them."""
    return {k: v for k, v in model_config.items() if k in MODEL_HPARAMS}


def check_weights(model, epoch: int) -> None:
    """Every weight finite, or a NonFiniteError before anything is saved."""
    xp = model.xp
    for name, p in model.params().items():
        if not bool(xp.isfinite(p).all()):
            raise NonFiniteError(f"the weights ({name}) became non-finite in epoch {epoch + 1}; "
                                 "try a smaller --lr or --clip-norm")


def _show(key: str, value) -> str:
    if key == "tokens_per_s":
        return f"{value:,.0f} tok/s"
    return f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"


def best_path(out: str) -> str:
    """Where the epoch with the best validation metric is kept: m.npz -> m.best.npz."""
    stem, ext = os.path.splitext(out)
    return f"{stem}.best{ext or '.npz'}"


def _finite_json(obj):
    """Plain JSON: NumPy scalars as Python numbers, NaN/inf (which JSON lacks) as strings."""
    if isinstance(obj, dict):
        return {k: _finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite_json(v) for v in obj]
    if isinstance(obj, np.generic):  # NumPy scalars from metrics
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    return obj
