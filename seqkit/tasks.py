"""Task kinds, examples, and the interface a task plugin implements.

The lecture's RNN types, by how x and y line up:

    many-to-many     T_y = T_x, a label y<t> at every step (tagging)
    many-to-one      one label per sequence, read at the last valid step
    one-to-many      a language model: y<t> = x<t+1>, trained with teacher forcing,
                     sampled by feeding ŷ<t-1> back in as x<t>
    encoder-decoder  T_y != T_x: the encoder's final state starts the decoder
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar

import numpy as np

from .errors import SeqkitError


class Kind(str, Enum):
    MANY_TO_MANY = "many-to-many"
    MANY_TO_ONE = "many-to-one"
    ONE_TO_MANY = "one-to-many"
    ENCODER_DECODER = "encoder-decoder"


@dataclass
class Example:
    """One encoded sequence.

    x : (T_x,) int token ids, or (T_x, n_x) float features
    y : many-to-many / one-to-many: (T_x,) int ids, or (T_x, n_y) multi-hot (sigmoid head);
        many-to-one: int class id, or (n_y,) multi-hot; encoder-decoder: (T_y,) int ids
    """

    x: np.ndarray
    y: Any


class Task:
    """Base class of a task: subclass it in a plugin and ``register(MyTask())``
    from the ``register_tasks`` hook. See docs/writing-a-task-plugin.md."""

    name: ClassVar[str] = ""
    kind: ClassVar[Kind] = Kind.MANY_TO_MANY
    description: ClassVar[str] = ""
    input: ClassVar[str] = "tokens"      # "tokens" (through an Embedding) or "dense"
    head: ClassVar[str] = "softmax"      # "softmax" or "sigmoid" (multi-hot targets)
    #: model and training hyper-parameters this task trains well with
    defaults: ClassVar[dict] = {}
    #: extra click options for ``seqkit train TASK``; their values reach ``read`` and
    #: ``build_encoders`` as ``options``
    options: ClassVar[list] = []
    #: the metric early stopping watches, and whether lower ("min") or higher is better
    monitor: ClassVar[tuple[str, str]] = ("loss", "min")

    # -- data --------------------------------------------------------------------
    def read(self, path: str, options: dict) -> dict[str, list]:
        """Read raw records from ``path``: ``{"train": [...], "valid": [...], "test": [...]}``.
        A missing "valid" is carved out of "train" by the core. Bad files raise SeqkitError."""
        raise NotImplementedError

    def build_encoders(self, train: list, options: dict) -> dict:
        """Vocabularies and other encoders from the training records, as a JSON-able dict
        (stored in the checkpoint)."""
        raise NotImplementedError

    def encode(self, record, encoders: dict) -> Example:
        raise NotImplementedError

    def dims(self, encoders: dict) -> dict:
        """``{"n_in": ..., "n_y": ...}`` (and ``n_in_decoder`` for encoder-decoder)."""
        raise NotImplementedError

    # -- results -----------------------------------------------------------------
    def metrics(self, outputs: list, examples: list, encoders: dict) -> dict[str, float]:
        """Task metrics from per-example outputs (probabilities, NumPy) and examples.
        The core already reports loss (nats per token) and accuracy for softmax heads."""
        return {}

    def parse_input(self, text: str, encoders: dict):
        """One raw record from a line of user input (``seqkit predict``)."""
        raise SeqkitError(f"task {self.name!r} does not predict from text input")

    def render_prediction(self, record, output: np.ndarray, encoders: dict) -> str:
        """A line (or lines) showing the prediction for ``record``; ``output`` holds
        the probabilities the model gave it: (T_x, n_y) per step, (n_y,) for
        many-to-one, and for encoder-decoder the (T_y, n_y) steps of a greedy decode
        that stopped at ``end_id``."""
        raise SeqkitError(f"task {self.name!r} does not render predictions")

    # -- generation (one-to-many) ------------------------------------------------
    def primer_ids(self, primer: str, encoders: dict) -> list[int]:
        """Token ids that start a sample: at least the start token."""
        raise SeqkitError(f"task {self.name!r} does not generate")

    def end_id(self, encoders: dict) -> int | None:
        """The token whose sampling ends a generated sequence (None: none)."""
        return None

    def render_sample(self, ids: list[int], encoders: dict, primer: str = "") -> str:
        """Text for generated ``ids`` (which follow ``primer``)."""
        raise SeqkitError(f"task {self.name!r} does not generate")


def check_examples(kind: Kind, head: str, examples: list[Example], dims: dict,
                   what: str = "example") -> None:
    """Fail with one line before training when labels do not fit the task kind."""
    if not examples:
        raise SeqkitError("no examples to train on")
    n_y = dims["n_y"]
    for i, ex in enumerate(examples):
        x, y = np.asarray(ex.x), np.asarray(ex.y)
        where = f"{what} {i}"
        if len(x) == 0:
            raise SeqkitError(f"{where} is empty (T_x = 0)")
        if kind in (Kind.MANY_TO_MANY, Kind.ONE_TO_MANY):
            want = (len(x),) if head == "softmax" else (len(x), n_y)
        elif kind == Kind.MANY_TO_ONE:
            want = () if head == "softmax" else (n_y,)
        else:
            want = y.shape if y.ndim == 1 and len(y) else None
        if want is None or y.shape != want:
            expected = "(T_y,) with T_y > 0" if want is None else str(want)
            raise SeqkitError(f"{where}: labels of shape {y.shape} do not fit the {kind.value} "
                              f"task with a {head} head (expected {expected})")
        if head == "softmax" and y.size and (y.min() < 0 or y.max() >= n_y):
            raise SeqkitError(f"{where}: label ids must be in [0, {n_y})")
