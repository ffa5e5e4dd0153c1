"""Each task kind learns a small synthetic problem end to end through the core
(no plugin needed): encoder-decoder reverses a sequence (T_y != T_x allowed),
many-to-one finds the majority token, many-to-many tags each step."""
import numpy as np
import pytest

from seqkit.run import Run
from seqkit.tasks import Example, Kind, Task
from seqkit.train import TrainConfig, evaluate

V = 5  # symbols 0..4


def random_sequences(n, seed, lo=2, hi=7):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, V, rng.integers(lo, hi)).tolist() for _ in range(n)]


class Synthetic(Task):
    input, head = "tokens", "softmax"

    def build_encoders(self, train, options):
        return {}

    def dims(self, encoders):
        return {"n_in": V, "n_y": V if self.kind != Kind.MANY_TO_ONE else 2}


EOS, BOS = V, V + 1  # the reversing task's end and start tokens


class Reverse(Synthetic):
    name, kind = "reverse", Kind.ENCODER_DECODER

    def build_encoders(self, train, options):
        return {"bos_id": BOS}

    def dims(self, encoders):
        return {"n_in": V, "n_y": V + 1, "n_in_decoder": V + 2}

    def encode(self, record, encoders):
        # drop the first symbol and end with <eos>: T_y = T_x != T_x - 1 symbols
        return Example(np.array(record), np.array(record[::-1][:-1] + [EOS]))

    def parse_input(self, text, encoders):
        return [int(c) for c in text]

    def end_id(self, encoders):
        return EOS

    def render_prediction(self, record, output, encoders):
        ids = output.labels.tolist()
        ids = ids[: ids.index(EOS)] if EOS in ids else ids
        return "".join(map(str, ids))


class Majority(Synthetic):
    name, kind = "majority", Kind.MANY_TO_ONE

    def encode(self, record, encoders):
        return Example(np.array(record), int(record.count(1) > record.count(2)))


class Previous(Synthetic):
    name, kind = "previous", Kind.MANY_TO_MANY

    def encode(self, record, encoders):  # y<t> = x<t-1>: needs memory of one step
        return Example(np.array(record), np.array([0] + record[:-1]))


@pytest.mark.parametrize("task,cell,bi,epochs,target", [
    (Reverse(), "gru", False, 30, 0.9),
    (Majority(), "lstm", True, 20, 0.9),
    (Previous(), "rnn", False, 15, 0.95),
])
def test_kind_learns(tmp_path, task, cell, bi, epochs, target):
    train = random_sequences(600, 0, lo=3)
    valid = random_sequences(200, 1, lo=3)
    config = TrainConfig(epochs=epochs, batch_size=32, lr=0.01, seed=0)
    run = Run.create(task, train, {"cell": cell, "hidden": 32, "embed_dim": 8,
                                   "bidirectional": bi}, config, {})
    run.fit(run.encode(train), run.encode(valid), str(tmp_path / "m.npz"), progress=False,
            log=lambda s: None)
    accuracy = evaluate(run.model, task, run.encode(valid), run.encoders, bos_id=run.bos_id)[
        "accuracy"]
    assert accuracy > target
    losses = [e["train_loss"] for e in run.history.epochs]
    assert losses[-1] < losses[0] / 2
    if isinstance(task, Reverse):  # greedy decoding, no teacher forcing
        from seqkit.predict import predict_lines

        inputs = ["".join(map(str, r)) for r in valid[:50]]
        exact = sum(p == s[::-1][:-1] for p, s in zip(predict_lines(run, inputs), inputs))
        assert exact >= 35, exact
