"""De-duplication, held-out splits and cross-validation folds.

Identical sequences (same bases, case ignored) are merged *before* any split,
so that no sequence is in both a training and a test part. A merged sequence
keeps the label most of its copies carry; one whose copies disagree with no
majority (UCI splice has one such sequence, labelled both EI and N) is dropped.
Splits and folds are stratified by class label and seeded, so the gradient-
boosting comparison (``bench/gbm_kmers.py``) uses exactly the folds
``seqkit dna-cv`` uses.
"""
from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np


def deduplicate(records: list) -> tuple[list, dict]:
    """Records with unique sequences (first occurrence's id and order), and counts
    ``{"rows", "unique", "duplicate_rows", "conflicting"}``."""
    groups: dict[bytes, list] = defaultdict(list)
    order = []
    for r in records:
        key = r.codes.tobytes()
        if key not in groups:
            order.append(key)
        groups[key].append(r)
    out, conflicting = [], 0
    for key in order:
        group = groups[key]
        first = group[0]
        if first.label is not None and len(group) > 1:
            counts = Counter(r.label for r in group).most_common()
            if len(counts) > 1:
                conflicting += 1
                if counts[0][1] == counts[1][1]:
                    continue  # no majority: the sequence is dropped
                first.label = counts[0][0]
        out.append(first)
    stats = {"rows": len(records), "unique": len(out),
             "duplicate_rows": sum(len(g) for g in groups.values() if len(g) > 1),
             "conflicting": conflicting}
    return out, stats


def _strata(records: list) -> dict:
    strata = defaultdict(list)
    for i, r in enumerate(records):
        strata[r.label].append(i)
    return strata


def held_out(records: list, fraction: float, seed: int = 0) -> tuple[list, list]:
    """(kept, held out): ``fraction`` of each class held out (at least one record
    when the fraction is positive), order kept."""
    rng = np.random.default_rng(seed)
    out = set()
    for _, idx in sorted(_strata(records).items(), key=lambda kv: str(kv[0])):
        n = int(round(len(idx) * fraction))
        if fraction > 0 and n == 0 and len(records) > 1:
            n = 1
        out.update(np.asarray(idx)[rng.permutation(len(idx))[:n]].tolist())
    return ([r for i, r in enumerate(records) if i not in out],
            [r for i, r in enumerate(records) if i in out])


def fold_ids(records: list, k: int | None, seed: int = 0) -> np.ndarray:
    """Fold index of each record: stratified ``k`` folds, or leave-one-out (k None)."""
    n = len(records)
    if k is None or k >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    folds = np.empty(n, dtype=np.int64)
    start = 0
    for _, idx in sorted(_strata(records).items(), key=lambda kv: str(kv[0])):
        idx = np.asarray(idx)[rng.permutation(len(idx))]
        # deal each class out round-robin, continuing where the last class stopped
        folds[idx] = (start + np.arange(len(idx))) % k
        start = (start + len(idx)) % k
    return folds
