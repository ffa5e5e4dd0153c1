"""The training loop: minibatch BPTT, clipping, an optimizer, validation every
epoch, early stopping, a NaN guard, and a checkpoint after every epoch.

Reproducibility: epoch e shuffles with ``default_rng([seed, e])`` and restarts the
dropout streams from ``(seed, e)``, so a run resumed after epoch e draws exactly
what an uninterrupted run draws, with no RNG state to carry.
"""
from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import asdict, dataclass, field

import click
import numpy as np

from .data import Batch, bucketed_batches, collate, time_chunks
from .distributed import Single
from .errors import SeqkitError
from .examples import Kind, Output
from .optim import clip_grad_norm, clip_grad_value, decayed_lr


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
        values = [(e[f"valid_{key}"], i) for i, e in enumerate(self.epochs)
                  if isinstance(e.get(f"valid_{key}"), (int, float)) and math.isfinite(e[f"valid_{key}"])]
        if not values:
            return None
        return (min if mode == "min" else max)(values)


class NonFiniteError(SeqkitError):
    pass


def forward_loss(model, batch: Batch, reduction: str = "sum", state0=None, backward=True):
    """Forward (and BPTT) on one batch. Returns (loss, n_tokens, z, state): the batch's
    reduced loss (the head's), its number of valid steps, the scores and the final
    recurrent state. A model in eval mode without ``backward`` keeps nothing for BPTT
    (in training mode it runs the training forward, dropout included, for gradient checks)."""
    y, mask = model.targets(batch)
    if backward or model.training:
        z, state, backprop = model.begin_update(batch, state0)
    else:
        z, state = model.predict(batch, state0)
    loss, dz, n_tokens = model.head.loss(z, y, mask, batch.size, reduction, accumulate=backward)
    if backward:
        backprop(dz)
    return loss, n_tokens, z, state


def train_epoch(model, optimizer, examples, config: TrainConfig, epoch: int, bos_id=None,
                show_progress: bool = True, task=None, diagnostics=None, dist=None) -> dict:
    """One pass over ``examples``; returns ``{"loss": nats per token, "tokens_per_s": ...}``.
    The task (if given) prepares the examples and batches them. A
    ``seqkit.diagnostics.GradientDiagnostics`` adds its per-step gradient norms.
    With ``dist`` (``seqkit.distributed``), each of its ranks works on its share of
    global batches of ``dist.size * batch_size`` examples."""
    dist = dist or Single()
    model.train()
    # each rank its own dropout masks (rank 0 draws what one process draws)
    model.seed_dropout(config.seed * 100_003 + epoch + 1_000_003 * dist.rank)
    rng = np.random.default_rng([config.seed, epoch])
    global_batch = config.batch_size * dist.size
    if task is not None:
        examples = task.prepare(examples, training=True, rng=rng)
        order = task.batches(examples, global_batch, rng)
    else:
        order = bucketed_batches(examples, global_batch, rng)
    optimizer.lr = decayed_lr(config.lr, epoch, config.lr_decay)
    total, tokens, start = 0.0, 0.0, time.perf_counter()

    def status(_):
        rate = tokens / max(time.perf_counter() - start, 1e-9)
        return f"loss {total / max(tokens, 1):.4f}  {rate:,.0f} tok/s" if tokens else ""

    # overflow is detected by check_finite and reported once, not as NumPy warnings
    bar = click.progressbar(order, label=f"epoch {epoch + 1}/{config.epochs}", file=sys.stderr,
                            item_show_func=status, show_eta=True, hidden=not show_progress)
    watch = diagnostics.watch(model) if diagnostics is not None else contextlib.nullcontext()
    with np.errstate(over="ignore", invalid="ignore"), bar, watch:
        for idx in bar:
            state = None
            for chunk in _my_chunks(examples, idx, dist, model.kind, bos_id, config.bptt):
                model.zero_grad()
                loss, n, error = 0.0, 0, None
                try:
                    if chunk is not None:  # None: this rank's share of the batch is empty
                        loss, n, _, state = forward_loss(model, chunk, config.reduction, state)
                except SeqkitError as e:
                    error = e
                weight = (chunk.size if config.reduction == "sum" else n) if chunk is not None else 0
                grads = model.grads()
                # one process: unchanged; N ranks: the global batch's mean gradient and loss
                loss, n, weight = dist.reduce_step(grads, loss, n, weight, error, model.backend)
                # with no --clip-norm, an infinite bound still measures the norm
                norm = clip_grad_norm(grads, config.clip_norm or math.inf)
                check_finite(loss, norm, epoch)
                if diagnostics is not None:
                    diagnostics.clipped(norm, grads, config)
                if config.clip_value:
                    clip_grad_value(grads, config.clip_value)
                optimizer.step(grads)
                # truncated BPTT: the next window starts from this state, but no
                # gradient flows back into this window (arrays carry no graph)
                total += loss * weight
                tokens += n
    elapsed = time.perf_counter() - start
    stats = {"loss": total / max(tokens, 1), "tokens_per_s": tokens / max(elapsed, 1e-9)}
    return stats if diagnostics is None else {**stats, **diagnostics.epoch()}


def _my_chunks(examples, idx, dist, kind, bos_id, bptt):
    """This rank's windows of the global batch ``idx``. Padded to the global batch's
    T, so that every rank cuts the same number of truncated-BPTT windows (an empty
    share is ``None`` once per window)."""
    mine = dist.shard(idx)
    if dist.size == 1:
        return time_chunks(collate([examples[i] for i in mine], kind, bos_id), bptt)
    T = max(examples[i].length for i in idx)
    if not mine:
        return [None] * (math.ceil(T / bptt) if bptt and T > bptt else 1)
    return time_chunks(collate([examples[i] for i in mine], kind, bos_id, T=T), bptt)


def check_finite(loss: float, norm: float, epoch: int) -> None:
    """Stop before a NaN/inf loss or gradient reaches the weights."""
    if not (math.isfinite(loss) and math.isfinite(norm)):
        what, value = ("loss", loss) if not math.isfinite(loss) else ("gradient norm", norm)
        raise NonFiniteError(f"the {what} became {value} in epoch {epoch + 1}; "
                             "try a smaller --lr or --clip-norm")


def evaluate(model, task, examples, encoders, batch_size: int = 64, bos_id=None) -> dict:
    """Loss (nats per token), accuracy for categorical heads, and the task's metrics,
    computed without keeping anything for BPTT."""
    if not examples:
        return {}
    model.eval()
    head = model.head
    prepared = task.prepare(examples, training=False)
    total, tokens, correct, outputs = 0.0, 0.0, 0.0, []
    with np.errstate(over="ignore", invalid="ignore"):
        for idx in task.batches(prepared, batch_size, None):
            batch = collate([prepared[i] for i in idx], model.kind, bos_id)
            loss, n, z, _ = forward_loss(model, batch, "mean", backward=False)
            total += loss * n
            tokens += n
            lengths = batch.decoder_lengths if model.kind == Kind.ENCODER_DECODER else batch.lengths
            probs, labels = head.probabilities(z, lengths), head.decode(z, lengths)
            if head.categorical:
                correct += float(((labels == batch.y) * batch.mask).sum())
            outputs += split_per_example(probs, labels, batch, model.kind)
    model.train()
    outputs = task.stitch(outputs, prepared, examples)
    result = {"loss": total / max(tokens, 1)}
    if head.categorical:
        result["accuracy"] = correct / max(tokens, 1)
    result.update({k: float(v) for k, v in task.metrics(outputs, examples, encoders).items()})
    return result


def split_per_example(probs, labels, batch: Batch, kind: Kind) -> list[Output]:
    if kind == Kind.MANY_TO_ONE:
        return [Output(p, lab) for p, lab in zip(probs, labels)]
    lengths = batch.decoder_lengths if kind == Kind.ENCODER_DECODER else batch.lengths
    return [Output(probs[: lengths[b], b], labels[: lengths[b], b]) for b in range(batch.size)]
