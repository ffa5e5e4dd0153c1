"""Predictions for raw text inputs, rendered by the task."""
from __future__ import annotations

from .data import collate
from .errors import SeqkitError
from .tasks import Kind
from .train import _per_example


def predict_lines(run, lines: list[str]) -> list[str]:
    """One rendered prediction per input line (the task parses and renders)."""
    import numpy as np

    task, enc, model = run.task, run.encoders, run.model
    if model.spec.kind == Kind.ENCODER_DECODER:
        # decoding without teacher forcing (greedy or beam search) is not built yet
        raise SeqkitError("predict does not decode encoder-decoder models yet; "
                          "use `seqkit evaluate` for their metrics")
    records = [task.parse_input(line, enc) for line in lines]
    examples = [task.encode(r, enc) for r in records]
    model.eval()
    out = []
    for record, ex in zip(records, examples):
        batch = collate([ex], model.spec.kind, run.bos_id)
        x = model.backend.asarray(batch.x)
        z, _ = model.forward(x, batch.lengths)
        z = model.backend.to_numpy(z)
        if model.spec.head == "softmax":
            e = np.exp(z - z.max(-1, keepdims=True))
            probs = e / e.sum(-1, keepdims=True)
        else:
            probs = 1 / (1 + np.exp(-z))
        out.append(task.render_prediction(record, _per_example(probs, batch, model.spec.kind)[0],
                                          enc))
    return out
