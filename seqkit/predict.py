"""Predictions for raw text inputs, rendered by the task."""
from __future__ import annotations

from .data import collate
from .losses import probabilities
from .sampling import greedy_decode
from .tasks import Kind
from .train import split_per_example, to_backend


def predict_lines(run, lines: list[str]) -> list[str]:
    """One rendered prediction per input line (the task parses and renders)."""
    task, enc, model = run.task, run.encoders, run.model
    records = [task.parse_input(line, enc) for line in lines]
    examples = [task.encode(r, enc) for r in records]
    model.eval()
    out = []
    for record, ex in zip(records, examples):
        if model.spec.kind == Kind.ENCODER_DECODER:
            # no targets to teacher-force with: decode greedily from <bos>
            probs = greedy_decode(model, ex.x, len(ex.x), run.bos_id, task.end_id(enc),
                                  max_length=2 * len(ex.x) + 10)
            out.append(task.render_prediction(record, probs, enc))
            continue
        batch = collate([ex], model.spec.kind, run.bos_id)
        x, _, _ = to_backend(model, batch)  # dense inputs get the model's dtype
        z, _ = model.forward(x, batch.lengths)
        probs = probabilities(model.backend.to_numpy(z), model.spec.head)
        out.append(task.render_prediction(record, split_per_example(probs, batch, model.spec.kind)[0],
                                          enc))
    return out
