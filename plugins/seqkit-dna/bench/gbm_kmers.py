"""Gradient boosting on the same de-duplicated, stratified folds as
``seqkit dna-cv`` (the comparison the issue asks for; scikit-learn is needed
here only, never by the plugin).

Features, per sequence:
  kmers     counts of every k-mer, k = 1..K (position-free, the usual "k-mer
            counts" baseline)
  kmers+pos the k-mer counts plus the one-hot base at each position (sequences of
            one length only), which gradient boosting can split on directly
  pos2      the one-hot of the dinucleotide at each position (what
            ``dna-classify --wide 2`` feeds its output layer), sequences of one length

Models: gradient boosting (``--model gbm``, scikit-learn's
HistGradientBoostingClassifier, defaults) or L2-regularised logistic regression
(``--model logreg --C C``), the linear position-specific baseline.

    D=../shared/data/dna
    python plugins/seqkit-dna/bench/gbm_kmers.py --data $D/uci_splice/splice.data.gz --cv 10
    python plugins/seqkit-dna/bench/gbm_kmers.py --data $D/uci_promoters/promoters.data.gz --cv loo
    python plugins/seqkit-dna/bench/gbm_kmers.py --data $D/uci_promoters/promoters.data.gz --cv loo \
        --features pos2 --model logreg --C 0.1
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from seqkit_dna.alphabet import kmer_one_hot, one_hot
from seqkit_dna.splits import fold_ids
from seqkit_dna.tasks import DnaClassify
from sklearn.ensemble import HistGradientBoostingClassifier


def kmer_counts(codes: np.ndarray, K: int) -> np.ndarray:
    feats = []
    c = codes.astype(np.int64)
    for k in range(1, K + 1):
        counts = np.zeros(4 ** k)
        for i in range(len(c) - k + 1):
            w = c[i:i + k]
            if (w < 4).all():
                counts[int(np.dot(w, 4 ** np.arange(k)[::-1]))] += 1
        feats.append(counts)
    return np.concatenate(feats)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--cv", default="10", help="folds, or loo")
    ap.add_argument("--fold-seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=4, help="largest k of the k-mer counts")
    ap.add_argument("--features", choices=["kmers", "kmers+pos", "pos2"], default="kmers")
    ap.add_argument("--model", choices=["gbm", "logreg"], default="gbm")
    ap.add_argument("--C", type=float, default=0.1, help="inverse L2 strength (logreg)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    task = DnaClassify()
    records = task.load_records(args.data, {})
    labels = sorted({r.label for r in records})
    if args.features == "pos2":
        X = np.stack([kmer_one_hot(r.codes, 2).reshape(-1) for r in records])
    else:
        X = np.stack([kmer_counts(r.codes, args.k) for r in records])
    if args.features == "kmers+pos":
        X = np.hstack([X, np.stack([one_hot(r.codes).reshape(-1) for r in records])])
    y = np.array([labels.index(r.label) for r in records])
    folds = fold_ids(records, None if args.cv == "loo" else int(args.cv), seed=args.fold_seed)
    pred = np.empty_like(y)
    start = time.perf_counter()
    for f in range(folds.max() + 1):
        test = folds == f
        if args.model == "gbm":
            clf = HistGradientBoostingClassifier(random_state=0)
        else:
            from sklearn.linear_model import LogisticRegression

            clf = LogisticRegression(C=args.C, max_iter=5000)
        clf.fit(X[~test], y[~test])
        pred[test] = clf.predict(X[test])
    out = {"data": args.data, "model": args.model, "features": args.features, "k": args.k,
           "n": len(y),
           "folds": int(folds.max() + 1), "accuracy": float((pred == y).mean()),
           "errors": int((pred != y).sum()), "seconds": round(time.perf_counter() - start, 1),
           "error_percent": {lab: float(100 * (pred[y == i] != i).mean())
                             for i, lab in enumerate(labels)}}
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{args.model}, {out['features']} (k <= {args.k}), {out['folds']} folds of "
              f"{out['n']}: accuracy {out['accuracy']:.4f}, {out['errors']} errors; error % "
              + ", ".join(f"{k} {v:.2f}" for k, v in out["error_percent"].items())
              + f" ({out['seconds']} s)")


if __name__ == "__main__":
    main()
