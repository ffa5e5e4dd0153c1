"""Prediction speed of a trained NER model: ``predict_records`` in one process.

Usage (from the repository root):

    python plugins/seqkit-ner/bench/predict_speed.py M.best.npz ../shared/data/ner/conll2003/test.txt.gz
    python plugins/seqkit-ner/bench/predict_speed.py M.best.npz TEST --reps 5 --threads 1

Reads the file once, warms up on 300 sentences, then per repetition predicts the
whole file twice: *cold* (the character encoder's memo of word types emptied, as
in a fresh ``seqkit predict`` process) and *warm* (the same model again, word
types already read). Reported: the best wall-clock and CPU time of each, in
sentences per second, with the load average before and after (the machine is
shared; CPU time is the steadier number there). ``--compare`` also runs the
computation before the prediction optimisations (every token's characters,
CRF marginals) and checks that every predicted tag is the same.
"""
from __future__ import annotations

import argparse
import time


def walk(layer):
    yield layer
    for child in layer.children():
        yield from walk(child)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("input", help="a CoNLL file (its tags are ignored)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", default="auto", help="seqkit's BLAS thread setting (N or auto)")
    parser.add_argument("--compare", action="store_true",
                        help="also time per-token characters + CRF marginals; tags must agree")
    args = parser.parse_args(argv)

    from seqkit import threads
    from seqkit.layers.chars import CharEncoder
    from seqkit.predict import predict_records
    from seqkit.run import Run

    threads.configure(threads.parse_threads(args.threads))
    run = Run.load(args.model)
    records = run.task.read_inputs(args.input, run.encoders)
    encoders = [la for la in walk(run.model.body) if isinstance(la, CharEncoder)]
    predict_records(run, records[:300])
    with open("/proc/loadavg") as f:
        load_before = " ".join(f.read().split()[:3])

    def timed(per_type=True, probabilities=None):
        for e in encoders:
            e.per_type = per_type
        c, w = time.process_time(), time.perf_counter()
        out = predict_records(run, records, probabilities=probabilities)
        return time.perf_counter() - w, time.process_time() - c, [o.labels.tolist() for o in out]

    results = {"cold": [], "warm": [], "before": []}
    reference = None
    for _ in range(args.reps):
        for e in encoders:
            e._memo = None
        for name in ("cold", "warm"):
            wall, cpu, tags = timed()
            results[name].append((wall, cpu))
            reference = reference or tags
            assert tags == reference, name
        if args.compare:
            wall, cpu, tags = timed(per_type=False, probabilities=True)
            results["before"].append((wall, cpu))
            assert tags == reference, "per-token characters + marginals gave other tags"
    with open("/proc/loadavg") as f:
        load_after = " ".join(f.read().split()[:3])
    n = len(records)
    print(f"{n} sentences, threads {args.threads}, load average {load_before} -> {load_after}")
    for name, times in results.items():
        if times:
            wall, cpu = min(t[0] for t in times), min(t[1] for t in times)
            print(f"  {name:6s} best wall {wall:.2f} s = {n / wall:,.0f} sentences/s; "
                  f"best CPU {cpu:.2f} s = {n / cpu:,.0f} sentences per CPU-second")
    if args.compare:
        print("  tags identical in every run")


if __name__ == "__main__":
    main()
