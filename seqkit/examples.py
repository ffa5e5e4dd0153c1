"""Task kinds and what flows between a task and the core: examples and outputs.

The lecture's RNN types, by how x and y line up:

    many-to-many     T_y = T_x, a label y<t> at every step (tagging)
    many-to-one      one label per sequence, read at the last valid step
    one-to-many      a language model: y<t> = x<t+1>, trained with teacher forcing,
                     sampled by feeding ŷ<t-1> back in as x<t>
    encoder-decoder  T_y != T_x: the encoder's final state starts the decoder
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np


class Kind(str, Enum):
    MANY_TO_MANY = "many-to-many"
    MANY_TO_ONE = "many-to-one"
    ONE_TO_MANY = "one-to-many"
    ENCODER_DECODER = "encoder-decoder"


@dataclass
class Example:
    """One encoded sequence.

    x : (T_x,) int token ids, or (T_x, n_x) float features; or several named
        inputs per step, ``{"words": (T_x,) ids, "case": (T_x,) ids,
        "chars": [T_x arrays of character ids]}`` (a list is a ragged input)
    y : many-to-many / one-to-many: (T_x,) int ids, or (T_x, n_y) multi-hot (sigmoid head);
        many-to-one: int class id, or (n_y,) multi-hot; encoder-decoder: (T_y,) int ids
    meta : anything the task keeps with the example (e.g. which sequence and
        offset a window comes from, for ``Task.stitch``)
    """

    x: Any
    y: Any
    meta: dict = field(default_factory=dict)

    @property
    def inputs(self) -> dict:
        return self.x if isinstance(self.x, dict) else {"x": self.x}

    @property
    def length(self) -> int:
        """T_x: the number of steps (of the first named input)."""
        return len(next(iter(self.inputs.values())))


@dataclass
class Output:
    """What a model gave one example: ``probs`` the head's ŷ (host float64:
    (T_x, n_y) per step, (n_y,) for many-to-one, CRF marginals for a CRF head)
    and ``labels`` its decoding (argmax, threshold or Viterbi path)."""

    probs: np.ndarray
    labels: np.ndarray
