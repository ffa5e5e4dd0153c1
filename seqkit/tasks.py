"""The interface a task plugin implements, and the check of its examples.

A task reads its data, encodes records into ``Example``s of one ``Kind``
(``seqkit.examples``), and owns what differs between tasks: the model (or the
core's default), batching, stitching outputs back, metrics, prediction I/O and
what generation writes. Every method has a default that suits a simple task.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from .data import bucketed_batches
from .errors import SeqkitError
from .examples import Example, Kind, Output
from .textio import read_lines, write_samples, write_text

__all__ = ["Task", "Kind", "Example", "Output", "check_examples"]


class Task:
    """Base class of a task: subclass it in a plugin and ``register(MyTask())``
    from the ``register_tasks`` hook. See docs/writing-a-task-plugin.md."""

    name: ClassVar[str] = ""
    kind: ClassVar[Kind] = Kind.MANY_TO_MANY
    description: ClassVar[str] = ""
    #: what ``--data`` takes, for ``seqkit train TASK --help``
    data_help: ClassVar[str] = ""
    input: ClassVar[str] = "tokens"      # default model: "tokens" (an Embedding) or "dense"
    head: ClassVar[str] = "softmax"      # default model: "softmax" or "sigmoid" (multi-hot)
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

    # -- the model ----------------------------------------------------------------
    def build_model(self, dims: dict, hparams: dict, backend, dtype: str, seed: int):
        """A model of the task's own (``seqkit.models.ComposedModel`` from the core's
        layers and heads), or None for the core's default ``SequenceModel`` built from
        ``input``, ``head`` and the model hyper-parameters."""
        return None

    # -- batching ----------------------------------------------------------------
    def prepare(self, examples: list, training: bool, rng=None) -> list:
        """The examples the model sees, e.g. windows of long sequences (batched
        across sequences). ``rng`` is the epoch's generator while training."""
        return examples

    def batches(self, examples: list, batch_size: int, rng) -> list[list[int]]:
        """Index lists of batches; ``rng`` is None for evaluation (in order)."""
        return bucketed_batches(examples, batch_size, rng)

    def stitch(self, outputs: list, prepared: list, examples: list) -> list:
        """Per-example ``Output``s from the outputs of the prepared examples (e.g.
        windows stitched back into whole sequences) before metrics are computed."""
        return outputs

    # -- results -----------------------------------------------------------------
    def metrics(self, outputs: list, examples: list, encoders: dict) -> dict[str, float]:
        """Task metrics from per-example ``Output``s (probs, labels; NumPy) and the
        examples. The core already reports loss (nats per token) and accuracy for
        categorical heads."""
        return {}

    def parse_input(self, text: str, encoders: dict):
        """One raw record from a line of user input (``seqkit predict``)."""
        raise SeqkitError(f"task {self.name!r} does not predict from text input")

    def read_inputs(self, path: str, encoders: dict) -> list:
        """Raw records from a file for ``seqkit predict --input FILE``: by default
        one per non-empty line, through ``parse_input``."""
        return [self.parse_input(line, encoders) for line in read_lines(path) if line.strip()]

    def render_prediction(self, record, output: Output, encoders: dict) -> str:
        """A line (or lines) showing the prediction for ``record``; ``output`` is the
        ``Output`` the model gave it (for encoder-decoder, the steps of a greedy
        decode that stopped at ``end_id``)."""
        raise SeqkitError(f"task {self.name!r} does not render predictions")

    def write_predictions(self, records: list, outputs: list, encoders: dict, path: str) -> None:
        """``seqkit predict --out FILE``: by default the rendered lines."""
        write_text(path, "".join(self.render_prediction(r, o, encoders) + "\n"
                                 for r, o in zip(records, outputs)))

    # -- generation (one-to-many) ------------------------------------------------
    def primer_ids(self, primer: str, encoders: dict):
        """What starts a sample: token ids (T0,) with at least the start token, or
        dense frames (T0, n_x) for a model with dense inputs (a zero frame: x<1> = 0)."""
        raise SeqkitError(f"task {self.name!r} does not generate")

    def end_id(self, encoders: dict) -> int | None:
        """The token whose sampling ends a generated sequence (None: none)."""
        return None

    def render_sample(self, steps: list, encoders: dict, primer: str = ""):
        """Text (str) or file contents (bytes) for the generated ``steps`` (token ids,
        or multi-hot frames), which follow ``primer``."""
        raise SeqkitError(f"task {self.name!r} does not generate")

    def write_samples(self, samples: list, path: str) -> None:
        """``seqkit generate --out FILE``: text samples one per line; a bytes sample
        (a MIDI file) as the file itself, numbered ``name-2.mid``... when several."""
        write_samples(samples, path)


def check_examples(kind: Kind, head: str, examples: list[Example], dims: dict,
                   what: str = "example") -> None:
    """Fail with one line before training when labels do not fit the task kind."""
    if not examples:
        raise SeqkitError("no examples to train on")
    n_y = dims["n_y"]
    categorical = head != "sigmoid"
    for i, ex in enumerate(examples):
        T_x, y = ex.length, np.asarray(ex.y)
        where = f"{what} {i}"
        if T_x == 0:
            raise SeqkitError(f"{where} is empty (T_x = 0)")
        lengths = {name: len(v) for name, v in ex.inputs.items()}
        if len(set(lengths.values())) > 1:
            raise SeqkitError(f"{where}: its inputs have different lengths {lengths}")
        if kind in (Kind.MANY_TO_MANY, Kind.ONE_TO_MANY):
            want = (T_x,) if categorical else (T_x, n_y)
        elif kind == Kind.MANY_TO_ONE:
            want = () if categorical else (n_y,)
        else:
            want = y.shape if y.ndim == 1 and len(y) else None
        if want is None or y.shape != want:
            expected = "(T_y,) with T_y > 0" if want is None else str(want)
            raise SeqkitError(f"{where}: labels of shape {y.shape} do not fit the {kind.value} "
                              f"task with a {head} head (expected {expected})")
        if categorical and y.size and (y.min() < 0 or y.max() >= n_y):
            raise SeqkitError(f"{where}: label ids must be in [0, {n_y})")
