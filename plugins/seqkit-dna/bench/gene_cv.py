"""Cross-validation of the gene-structure decoder's settings (``dna-tag --decode gene``)
over the mouse training and validation genes, folds by gene; the test genes are
never read.

    python plugins/seqkit-dna/bench/gene_cv.py --order 3 --signal-weight 2
    python plugins/seqkit-dna/bench/gene_cv.py --order 2 3 4 --signal-weight 1 2

Prints the CDS F1 (precision / recall) pooled over the held-out genes of each
setting, as in docs/tasks/dna.md.
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from seqkit_dna.genes import GeneModel
from seqkit_dna.io import read_cds_tsv

DATA = "../shared/data/dna/mouse_cds_tagging/mouse_genes_cds.tsv.gz"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--folds", type=int, default=7)
    ap.add_argument("--order", type=int, nargs="+", default=[3])
    ap.add_argument("--signal-weight", type=float, nargs="+", default=[2.0])
    args = ap.parse_args()
    genes = [r for r in read_cds_tsv(args.data) if r.split in ("train", "valid")]
    masks = [np.frombuffer(r.tags.encode(), np.uint8) == ord("C") for r in genes]
    for order, weight in itertools.product(args.order, args.signal_weight):
        t0 = time.perf_counter()
        tp = called = coding = 0
        for f in range(args.folds):
            fit = [i for i in range(len(genes)) if i % args.folds != f]
            model = GeneModel.fit([genes[i].codes for i in fit], [masks[i] for i in fit],
                                  order=order, signal_weight=weight)
            for i in range(f, len(genes), args.folds):
                pred = model.coding(genes[i].codes)
                tp += int((pred & masks[i]).sum())
                called += int(pred.sum())
                coding += int(masks[i].sum())
        p, r = tp / max(called, 1), tp / max(coding, 1)
        print(f"order {order}  signal weight {weight:g}  CV CDS F1 {2 * p * r / max(p + r, 1e-12):.3f}"
              f"  (precision {p:.3f} / recall {r:.3f})  {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
