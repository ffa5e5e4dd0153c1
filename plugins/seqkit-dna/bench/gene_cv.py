"""Cross-validation of the gene-structure decoder's settings (``dna-tag --decode gene``)
over the mouse training and validation genes, folds by gene; the test genes are
never read.

    python plugins/seqkit-dna/bench/gene_cv.py --order 3 --signal-weight 2
    python plugins/seqkit-dna/bench/gene_cv.py --order 2 3 4 --signal-weight 1 2
    python plugins/seqkit-dna/bench/gene_cv.py --self-train 0.5 1 2 --iterations 2
    python plugins/seqkit-dna/bench/gene_cv.py --uci-sites ../shared/data/dna/uci_splice/splice.data.gz

Prints the CDS F1 (precision / recall) pooled over the held-out genes of each
setting, as in docs/tasks/dna.md. Two variants that were tried and not kept stay
measurable here:

* ``--self-train L``: GeneMark-ES-style adaptation to each held-out gene's own
  composition. Decode it, add L x the chain counts of the decoded path to the
  training counts, decode again (``--iterations`` times). Uses the held-out
  gene's bases, never its labels.
* ``--uci-sites FILE --site-weight W``: the UCI splice set's donor (EI) and
  acceptor (IE) windows join the true-site counts of the splice models, W each
  (primate sites; the background counts stay the mouse genes' GT / AG).
"""
from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from seqkit_dna.genes import GeneModel, gene_states
from seqkit_dna.io import read_cds_tsv, read_splice

DATA = "../shared/data/dna/mouse_cds_tagging/mouse_genes_cds.tsv.gz"


def uci_counts(uci, lo_hi, label, at):
    """Base counts (window, 4) of the UCI windows of ``label`` over a splice model's window
    (their junction ``at`` bases into the 60-base window)."""
    lo, hi = lo_hi
    extra = np.zeros((hi - lo, 4))
    for r in uci:
        if r.label == label:
            w = r.codes[at + lo:at + hi]
            ok = w < 4
            np.add.at(extra, (np.flatnonzero(ok), w[ok]), 1)
    return extra


def _uci_sites(path):
    """The distinct UCI splice windows whose junction (base 30) reads GT (EI) or
    follows AG (IE)."""
    seen, out = set(), []
    for r in read_splice(path):
        key = (r.label, r.codes.tobytes())
        ok = {"EI": r.codes[30:32].tolist() == [2, 3], "IE": r.codes[28:30].tolist() == [0, 2]}
        if ok.get(r.label) and key not in seen:
            seen.add(key)
            out.append(r)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--folds", type=int, default=7)
    ap.add_argument("--order", type=int, nargs="+", default=[3])
    ap.add_argument("--signal-weight", type=float, nargs="+", default=[2.0])
    ap.add_argument("--self-train", type=float, nargs="+", default=[0.0], metavar="L")
    ap.add_argument("--iterations", type=int, default=2)
    ap.add_argument("--uci-sites", default=None, metavar="FILE")
    ap.add_argument("--site-weight", type=float, nargs="+", default=[1.0], metavar="W")
    args = ap.parse_args()
    genes = [r for r in read_cds_tsv(args.data) if r.split in ("train", "valid")]
    masks = [np.frombuffer(r.tags.encode(), np.uint8) == ord("C") for r in genes]
    uci = _uci_sites(args.uci_sites) if args.uci_sites else None
    weights = args.site_weight if uci else [0.0]
    for order, weight, lam, w_site in itertools.product(args.order, args.signal_weight,
                                                        args.self_train, weights):
        t0 = time.perf_counter()
        tp = called = coding = 0
        for f in range(args.folds):
            fit = [i for i in range(len(genes)) if i % args.folds != f]
            codes, fmasks = [genes[i].codes for i in fit], [masks[i] for i in fit]
            model = GeneModel.fit(codes, fmasks, order=order, signal_weight=weight)
            if uci:   # the PWMs again, their true-site counts joined by the UCI windows
                sites = GeneModel.site_counts(codes, [gene_states(m) for m in fmasks])
                for name, label in (("donor", "EI"), ("acceptor", "IE")):
                    true, candidates = sites[name]
                    true = true + w_site * uci_counts(uci, getattr(GeneModel, name.upper()), label, 30)
                    setattr(model, name, np.log(true / true.sum(1, keepdims=True))
                            - np.log(candidates / candidates.sum(1, keepdims=True)))
            if lam:
                base = 0.5 + sum(GeneModel.chain_counts(c, gene_states(m), order)
                                 for c, m in zip(codes, fmasks))
            for i in range(f, len(genes), args.folds):
                z = model.decode(genes[i].codes)
                for _ in range(args.iterations if lam else 0):
                    c = base + lam * GeneModel.chain_counts(genes[i].codes, z, order)
                    z = GeneModel(order, np.log(c / c.sum(-1, keepdims=True)), model.log_trans,
                                  model.donor, model.acceptor, weight).decode(genes[i].codes)
                pred = (z >= 1) & (z <= 3)
                tp += int((pred & masks[i]).sum())
                called += int(pred.sum())
                coding += int(masks[i].sum())
        p, r = tp / max(called, 1), tp / max(coding, 1)
        extras = (f"  self-train {lam:g} x{args.iterations}" if lam else "") + (
            f"  UCI sites x{w_site:g}" if uci else "")
        print(f"order {order}  signal weight {weight:g}{extras}  CV CDS F1 "
              f"{2 * p * r / max(p + r, 1e-12):.3f}  (precision {p:.3f} / recall {r:.3f})  "
              f"{time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
