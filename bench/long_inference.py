"""Peak memory of inference on one long sequence (the DNA use case).

A 1-layer bidirectional LSTM of 128 (embedding 16 over 5 tokens, softmax over
3 classes) reads one sequence of ``--steps`` tokens through ``model.predict``
and the head's probabilities and decoding, as ``seqkit evaluate`` and
``seqkit predict`` do. Run it under ``/usr/bin/time -v`` and read "Maximum
resident set size":

    /usr/bin/time -v python bench/long_inference.py --steps 300000

``--train`` runs the training forward instead (every BPTT cache kept), for
comparison.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from seqkit.data import collate
from seqkit.models import ModelSpec, SequenceModel
from seqkit.tasks import Example, Kind


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=300_000)
    ap.add_argument("--train", action="store_true", help="training forward (caches kept)")
    args = ap.parse_args()
    spec = ModelSpec(kind="many-to-many", n_in=5, n_y=3, cell="lstm", hidden=128,
                     bidirectional=True, embed_dim=16)
    model = SequenceModel(spec, seed=0)
    x = np.random.default_rng(0).integers(0, 5, args.steps)
    batch = collate([Example(x, np.zeros(args.steps, dtype=np.int64))], Kind.MANY_TO_MANY)
    start = time.perf_counter()
    if args.train:
        z, _, _ = model.begin_update(batch)
    else:
        model.eval()
        z, _ = model.predict(batch)
    probs, labels = model.head.probabilities(z), model.head.decode(z)
    print(f"{args.steps:,} steps, {'training' if args.train else 'inference'} forward: "
          f"{time.perf_counter() - start:.1f} s, probabilities {probs.shape}, labels {labels.shape}")


if __name__ == "__main__":
    main()
