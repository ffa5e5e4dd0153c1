"""The training loop: minibatch BPTT, clipping, an optimizer, validation every
epoch, early stopping, a NaN guard, and a checkpoint after every epoch.

Reproducibility: epoch e shuffles with ``default_rng([seed, e])`` and restarts the
dropout streams from ``(seed, e)``, so a run resumed after epoch e draws exactly
what an uninterrupted run draws, with no RNG state to carry.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field

import click
import numpy as np

from .data import Batch, bucketed_batches, collate, time_chunks
from .errors import SeqkitError
from .losses import LOSSES, probabilities
from .optim import clip_grad_norm, clip_grad_value, decayed_lr
from .tasks import Kind


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    lr_decay: float = 1.0          # lr at epoch e = lr * lr_decay**e
    weight_decay: float = 0.0
    momentum: float = 0.0
    clip_norm: float | None = 5.0  # global L2 norm
    clip_value: float | None = None  # elementwise, the course's [-5, 5]
    seed: int = 0
    patience: int | None = None    # early stopping: epochs without improvement
    bptt: int | None = None        # truncated BPTT window (steps), state carried across
    reduction: str = "sum"         # "sum" over time steps (lecture) or per-token "mean"
    valid_fraction: float = 0.1    # held out of "train" when the data has no valid split

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class History:
    epochs: list = field(default_factory=list)  # one dict of metrics per finished epoch

    def best(self, monitor: tuple[str, str]):
        key, mode = monitor
        values = [(e[f"valid_{key}"], i) for i, e in enumerate(self.epochs) if f"valid_{key}" in e]
        if not values:
            return None
        return (min if mode == "min" else max)(values)


class NonFiniteError(SeqkitError):
    pass


def to_backend(model, batch: Batch):
    be, dtype = model.backend, model.dtype
    y = batch.y if np.issubdtype(batch.y.dtype, np.integer) else batch.y.astype(dtype)
    return (be.asarray(batch.x) if batch.x.dtype.kind in "iu" else be.asarray(batch.x, dtype),
            be.asarray(y), be.asarray(batch.mask, dtype))


def forward_loss(model, batch: Batch, reduction: str = "sum", h0=None, backward=True):
    """Forward (and BPTT) on one batch. Returns (loss, n_tokens, z, state): the batch's
    reduced loss, its number of valid steps, the logits and the final recurrent state."""
    x, y, mask = to_backend(model, batch)
    dec = None if batch.decoder_in is None else model.backend.asarray(batch.decoder_in)
    z, state = model.forward(x, batch.lengths, h0, dec, batch.decoder_lengths)
    loss, dz, n_tokens = LOSSES[model.spec.head](z, y, mask, batch.size, model.xp, reduction)
    if backward:
        model.backward(dz)
    return loss, n_tokens, z, state


def train_epoch(model, optimizer, examples, config: TrainConfig, epoch: int, bos_id=None,
                show_progress: bool = True) -> dict:
    """One pass over ``examples``; returns ``{"loss": nats per token, "tokens_per_s": ...}``."""
    model.train()
    model.seed_dropout(config.seed * 100_003 + epoch)
    rng = np.random.default_rng([config.seed, epoch])
    order = bucketed_batches(examples, config.batch_size, rng)
    optimizer.lr = decayed_lr(config.lr, epoch, config.lr_decay)
    total, tokens, start = 0.0, 0.0, time.perf_counter()

    def status(_):
        rate = tokens / max(time.perf_counter() - start, 1e-9)
        return f"loss {total / max(tokens, 1):.4f}  {rate:,.0f} tok/s" if tokens else ""

    # overflow is detected by check_finite and reported once, not as NumPy warnings
    bar = click.progressbar(order, label=f"epoch {epoch + 1}/{config.epochs}", file=sys.stderr,
                            item_show_func=status, show_eta=True, hidden=not show_progress)
    with np.errstate(over="ignore", invalid="ignore"), bar:
        for idx in bar:
            batch = collate([examples[i] for i in idx], model.spec.kind, bos_id)
            state = None
            for chunk in time_chunks(batch, config.bptt):
                model.zero_grad()
                loss, n, _, state = forward_loss(model, chunk, config.reduction, state)
                grads = model.grads()
                # with no --clip-norm, an infinite bound still measures the norm
                norm = clip_grad_norm(grads, config.clip_norm or math.inf)
                check_finite(loss, norm, epoch)
                if config.clip_value:
                    clip_grad_value(grads, config.clip_value)
                optimizer.step(grads)
                # truncated BPTT: the next window starts from this state, but no
                # gradient flows back into this window (arrays carry no graph)
                total += loss * (chunk.size if config.reduction == "sum" else n)
                tokens += n
    elapsed = time.perf_counter() - start
    return {"loss": total / max(tokens, 1), "tokens_per_s": tokens / max(elapsed, 1e-9)}


def check_finite(loss: float, norm: float, epoch: int) -> None:
    """Stop before a NaN/inf loss or gradient reaches the weights."""
    if not (math.isfinite(loss) and math.isfinite(norm)):
        what, value = ("loss", loss) if not math.isfinite(loss) else ("gradient norm", norm)
        raise NonFiniteError(f"the {what} became {value} in epoch {epoch + 1}; "
                             "try a smaller --lr or --clip-norm")


def evaluate(model, task, examples, encoders, batch_size: int = 64, bos_id=None) -> dict:
    """Loss (nats per token), accuracy for softmax heads, and the task's metrics."""
    if not examples:
        return {}
    model.eval()
    total, tokens, correct, outputs = 0.0, 0.0, 0.0, []
    for idx in bucketed_batches(examples, batch_size, None):
        batch = collate([examples[i] for i in idx], model.spec.kind, bos_id)
        loss, n, z, _ = forward_loss(model, batch, "mean", backward=False)
        total += loss * n
        tokens += n
        probs = probabilities(model.backend.to_numpy(z), model.spec.head)
        if model.spec.head == "softmax":
            correct += float(((probs.argmax(-1) == batch.y) * batch.mask).sum())
        outputs += split_per_example(probs, batch, model.spec.kind)
    model.train()
    result = {"loss": total / max(tokens, 1)}
    if model.spec.head == "softmax":
        result["accuracy"] = correct / max(tokens, 1)
    result.update({k: float(v) for k, v in task.metrics(outputs, examples, encoders).items()})
    return result


def split_per_example(probs, batch: Batch, kind: Kind) -> list:
    if kind == Kind.MANY_TO_ONE:
        return list(probs)
    lengths = batch.decoder_lengths if kind == Kind.ENCODER_DECODER else batch.lengths
    return [probs[: lengths[b], b] for b in range(batch.size)]
