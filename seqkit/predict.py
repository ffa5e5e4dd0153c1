"""Predictions for raw inputs: the task parses, the model runs without caches,
the head decodes, the task renders or writes."""
from __future__ import annotations

import numpy as np

from .data import collate
from .examples import Kind, Output
from .sampling import greedy_decode
from .train import split_per_example


def predict_records(run, records: list, batch_size: int = 64,
                    probabilities: bool | None = None) -> list[Output]:
    """One ``Output`` per raw record (windows stitched back by the task).

    ``probabilities`` False: labels only, each ``Output.probs`` None (a CRF then
    runs Viterbi alone, not its marginals too); None: the task's
    ``prediction_probabilities`` (True unless the task says it never reads them)."""
    task, enc, model = run.task, run.encoders, run.model
    if probabilities is None:
        probabilities = getattr(task, "prediction_probabilities", True)
    examples = [task.encode(r, enc) for r in records]
    model.eval()
    if model.kind == Kind.ENCODER_DECODER:
        # no targets to teacher-force with: decode greedily from <bos>
        outputs = []
        for ex in examples:
            probs = greedy_decode(model, ex.x, ex.length, run.bos_id, task.end_id(enc),
                                  max_length=2 * ex.length + 10)
            outputs.append(Output(probs, probs.argmax(-1)))
        return outputs
    prepared = task.prepare(examples, training=False)
    outputs = []
    with np.errstate(over="ignore", invalid="ignore"):
        for idx in task.batches(prepared, batch_size, None):
            batch = collate([prepared[i] for i in idx], model.kind, run.bos_id)
            z, _ = model.predict(batch)
            labels = model.head.decode(z, batch.lengths)
            # without probabilities the labels stand in for them while splitting, then go
            probs = model.head.probabilities(z, batch.lengths) if probabilities else labels
            split = split_per_example(probs, labels, batch, model.kind)
            outputs += split if probabilities else [Output(None, o.labels) for o in split]
    return task.stitch(outputs, prepared, examples)


def predict_lines(run, lines: list[str]) -> list[str]:
    """One rendered prediction per input line (the task parses and renders)."""
    records = [run.task.parse_input(line, run.encoders) for line in lines]
    return [run.task.render_prediction(r, o, run.encoders)
            for r, o in zip(records, predict_records(run, records))]
