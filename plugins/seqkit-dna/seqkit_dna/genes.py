"""Gene-structure decoding for coding/non-coding tagging (``dna-tag --decode gene``).

A per-base tagger labels each base on its own, so nothing stops it from calling
a stretch coding that holds a stop codon in frame, or an exon that ends without
a splice site. A gene is a grammar, and gene finders (GENSCAN, Augustus,
Tiberius) decode with it. This module is that grammar as a 7-state model:

    0      N    outside every exon and intron (intergenic, UTR)
    1 2 3  C0-C2  an exon base at codon position 0, 1, 2 (of the reading frame)
    4 5 6  I0-I2  an intron base; the phase is the codon position of the next exon base

    N  -> C0         a gene starts: only where the next three bases read ATG
    C0 -> C1 -> C2 -> C0      the reading frame; C2 -> C0 is refused after a stop codon
    C2 -> N          a gene ends: only right after a stop codon (TAA, TAG, TGA)
    Ck -> I(k+1)     an exon ends: only where the intron starts with GT (donor)
    Ij -> Cj         an intron ends: only where it ended with AG (acceptor)

Its scores are counted, not trained by gradient: for each of N, C0, C1, C2 and
intron, a Markov chain of ``order`` (P(x<t> | the ``order`` bases before)), the
transition frequencies, and position weight matrices of the donor and acceptor
sites as log-odds against every GT / AG of the training data (how a true site
differs from a dinucleotide that merely looks like one). Viterbi then finds the
best path through the grammar; the tags are its coding states. Stop codons split
by an intron are not checked (the grammar does not remember the bases before
an intron). The derivation of states from labels assumes one gene per
sequence: non-coding bases between the first and last coding base are intron.
"""
from __future__ import annotations

import numpy as np

from .alphabet import kmer_ids

N_STATES = 7
_BLOCK = 65_536       # bases whose scores are Python floats at once in decode
CODING = (1, 2, 3)
NEG = -1e9

_ALLOWED = [(0, 0), (0, 1), (1, 2), (2, 3), (3, 1), (3, 0),
            (1, 5), (2, 6), (3, 4), (4, 4), (5, 5), (6, 6), (4, 1), (5, 2), (6, 3)]


def gene_states(coding: np.ndarray) -> np.ndarray:
    """The 7-state path of a sequence from its coding mask (codon positions counted
    from the first coding base; the non-coding bases inside the gene are intron)."""
    coding = np.asarray(coding, dtype=bool)
    z = np.zeros(len(coding), dtype=np.int64)
    where = np.flatnonzero(coding)
    if where.size == 0:
        return z
    seen = np.cumsum(coding)                      # coding bases up to and including t
    z[coding] = 1 + (seen[coding] - 1) % 3
    t = np.arange(len(coding))
    intron = ~coding & (t > where[0]) & (t < where[-1])
    z[intron] = 4 + seen[intron] % 3
    return z


def _shift(a: np.ndarray, offset: int, fill: int) -> np.ndarray:
    """out[t] = a[t + offset], ``fill`` where t + offset runs off either end."""
    out = np.full(len(a), fill, dtype=a.dtype)
    T = len(a)
    if abs(offset) >= T:        # a sequence shorter than the window: nothing lands
        return out
    if offset >= 0:
        out[:T - offset] = a[offset:]
    else:
        out[-offset:] = a[:T + offset]
    return out


def _kmer_at(codes: np.ndarray, offset: int, k: int) -> np.ndarray:
    """Id of the k bases starting at t + offset (base 4: A C G T), -1 off the ends or
    over an ambiguity code."""
    # kmer_ids numbers the k-mer starting k // 2 before each base, from 1 (0: none)
    return _shift(kmer_ids(codes, k) - 1, offset + k // 2, -1)


def _word(s: str) -> int:
    return int("".join(str("ACGT".index(c)) for c in s), 4)


def _contexts(codes: np.ndarray, order: int):
    """The id of the ``order`` bases before each base, and where base and context are
    all unambiguous."""
    ctx = _kmer_at(codes, -order, order) if order else np.zeros(len(codes), dtype=np.int64)
    ok = (ctx >= 0) & (codes < 4)
    return np.maximum(ctx, 0), ok


def _window_score(codes: np.ndarray, pwm: np.ndarray, lo: int) -> np.ndarray:
    """sum_j pwm[j, x<t+lo+j>] at every t (ambiguous or missing bases add 0)."""
    s = np.zeros(len(codes))
    for j in range(pwm.shape[0]):
        b = _shift(codes, lo + j, 4)
        s += np.where(b < 4, pwm[j, np.minimum(b, 3)], 0.0)
    return s


class GeneModel:
    """Counted content and signal scores plus the grammar's Viterbi decoder."""

    DONOR = (-3, 6)        # 3 exon bases, then the intron's first 6 (GT...)
    ACCEPTOR = (-20, 3)    # the intron's last 20 (...AG), then 3 exon bases

    def __init__(self, order: int, log_emit, log_trans, donor, acceptor,
                 signal_weight: float):
        self.order = int(order)
        self.log_emit = np.asarray(log_emit, dtype=np.float64)      # (5, 4**order, 4)
        self.log_trans = np.asarray(log_trans, dtype=np.float64)    # (7, 7)
        self.donor = np.asarray(donor, dtype=np.float64)
        self.acceptor = np.asarray(acceptor, dtype=np.float64)
        self.signal_weight = float(signal_weight)

    # -- fitting ---------------------------------------------------------------------
    @classmethod
    def fit(cls, sequences, coding_masks, order: int = 3, signal_weight: float = 2.0,
            pseudo: float = 0.5) -> GeneModel:
        counts = np.full((5, 4 ** order, 4), pseudo)
        allowed = np.zeros((N_STATES, N_STATES), dtype=bool)
        allowed[tuple(np.array(_ALLOWED).T)] = True
        trans = np.where(allowed, 0.1, 0.0)
        paths = [gene_states(coding) for coding in coding_masks]
        for codes, z in zip(sequences, paths):
            counts += cls.chain_counts(codes, z, order)
            np.add.at(trans, (z[:-1], z[1:]), 1)
        sites = cls.site_counts(sequences, paths)
        log_emit = np.log(counts / counts.sum(-1, keepdims=True))
        trans = np.where(allowed, trans, 0.0)
        with np.errstate(divide="ignore"):
            log_trans = np.where(allowed, np.log(trans / trans.sum(1, keepdims=True)), NEG)
        pwm = {name: np.log(t / t.sum(1, keepdims=True)) - np.log(c / c.sum(1, keepdims=True))
               for name, (t, c) in sites.items()}
        return cls(order, log_emit, log_trans, pwm["donor"], pwm["acceptor"], signal_weight)

    @staticmethod
    def chain_counts(codes, z, order: int) -> np.ndarray:
        """Counts (5, 4**order, 4) of (content, the ``order`` bases before, base) along
        the state path ``z``; the three intron phases share one chain."""
        codes = np.asarray(codes, dtype=np.int64)
        counts = np.zeros((5, 4 ** order, 4))
        ctx, ok = _contexts(codes, order)
        np.add.at(counts, (np.minimum(z, 4)[ok], ctx[ok], codes[ok]), 1)
        return counts

    @classmethod
    def site_counts(cls, sequences, paths) -> dict:
        """Per splice model ("donor", "acceptor"): the base counts (window, 4), from 1,
        at the true sites of the state paths (``gene_states``) and at every candidate
        dinucleotide (GT / AG)."""
        sites = {name: [np.ones((hi - lo, 4)), np.ones((hi - lo, 4))]
                 for name, (lo, hi) in (("donor", cls.DONOR), ("acceptor", cls.ACCEPTOR))}
        for codes, z in zip(sequences, paths):
            codes = np.asarray(codes, dtype=np.int64)
            exon, intron = (z >= 1) & (z <= 3), z >= 4
            true = {"donor": np.flatnonzero(exon[:-1] & intron[1:]) + 1,
                    "acceptor": np.flatnonzero(intron[:-1] & exon[1:]) + 1}
            candidates = {"donor": np.flatnonzero(_kmer_at(codes, 0, 2) == _word("GT")),
                          "acceptor": np.flatnonzero(_kmer_at(codes, -2, 2) == _word("AG"))}
            for name, (lo, _) in (("donor", cls.DONOR), ("acceptor", cls.ACCEPTOR)):
                for table, at in zip(sites[name], (true[name], candidates[name])):
                    for j in range(table.shape[0]):
                        src = at + lo + j
                        b = codes[src[(src >= 0) & (src < len(codes))]]
                        np.add.at(table[j], b[b < 4], 1)
        return sites

    # -- checkpoints (JSON, inside the task's encoders) -------------------------------------
    def to_json(self) -> dict:
        return {"order": self.order, "log_emit": self.log_emit.tolist(),
                "log_trans": self.log_trans.tolist(), "donor": self.donor.tolist(),
                "acceptor": self.acceptor.tolist(), "signal_weight": self.signal_weight}

    @classmethod
    def from_json(cls, d: dict) -> GeneModel:
        return cls(d["order"], d["log_emit"], d["log_trans"], d["donor"], d["acceptor"],
                   d["signal_weight"])

    # -- decoding ----------------------------------------------------------------------
    def emissions(self, codes: np.ndarray) -> np.ndarray:
        """(T, 7) log P(x<t> | context, state)."""
        codes = np.asarray(codes, dtype=np.int64)
        ctx, ok = _contexts(codes, self.order)
        e = self.log_emit[:, ctx, np.minimum(codes, 3)].T
        e[~ok] = np.log(0.25)
        return e[:, [0, 1, 2, 3, 4, 4, 4]]

    def signals(self, codes: np.ndarray):
        """What the grammar's transitions read at each base t: whether ATG starts at t
        (a gene may start), whether a stop codon ends just before t (a gene may end, the
        frame may not turn), and the weighted log-odds of a donor at t (GT...) and of an
        acceptor ending just before t (...AG), NEG where the dinucleotide is absent."""
        start = _kmer_at(codes, 0, 3) == _word("ATG")
        stop = np.isin(_kmer_at(codes, -3, 3), [_word("TAA"), _word("TAG"), _word("TGA")])
        donor = np.where(_kmer_at(codes, 0, 2) == _word("GT"),
                         self.signal_weight * _window_score(codes, self.donor, self.DONOR[0]), NEG)
        acceptor = np.where(_kmer_at(codes, -2, 2) == _word("AG"),
                            self.signal_weight * _window_score(codes, self.acceptor,
                                                               self.ACCEPTOR[0]), NEG)
        return start, stop, donor, acceptor

    def decode(self, codes: np.ndarray, evidence: np.ndarray | None = None) -> np.ndarray:
        """The best state path (T,) through the grammar; ``evidence`` (T, 7) is added
        to the emission scores (a network's log-odds, for instance)."""
        codes = np.asarray(codes, dtype=np.int64)
        T = len(codes)
        if T == 0:
            return np.zeros(0, dtype=np.int64)
        e = self.emissions(codes)
        if evidence is not None:
            e = e + evidence
        start, stop, donor, acceptor = self.signals(codes)
        back = np.zeros((T, N_STATES), dtype=np.int8)
        # a sequence may begin or end anywhere in a gene (a window of a chromosome)
        v = (np.log(1.0 / N_STATES) + e[0]).tolist()
        for lo in range(1, T, _BLOCK):
            hi = min(lo + _BLOCK, T)
            v = self._sweep(v, e[lo:hi].tolist(), start[lo:hi].tolist(), stop[lo:hi].tolist(),
                            donor[lo:hi].tolist(), acceptor[lo:hi].tolist(), back[lo:hi])
        z = np.empty(T, dtype=np.int64)
        z[-1] = int(np.argmax(v))
        for t in range(T - 1, 0, -1):
            z[t - 1] = back[t, z[t]]
        return z

    def _sweep(self, v, E, start, stop, donor, acceptor, back):
        """Viterbi over one block of bases, one state at a time from its few allowed
        predecessors (15 of the 49 pairs; Python floats, 2-3x a 7 x 7 array step).
        Ties go to the lower-numbered predecessor, as an argmax would."""
        A = self.log_trans.tolist()
        rows = []
        for et, atg, stp, gt, ag in zip(E, start, stop, donor, acceptor):
            n, c0, c1, c2, i0, i1, i2 = v
            # N: stays, or a gene ends (C2 -> N) right after a stop codon
            x, y = n + A[0][0], (c2 + A[3][0]) if stp else NEG
            s0, b0 = (x, 0) if x >= y else (y, 3)
            # C0: a gene starts at ATG, the frame turns (refused after a stop), or an
            # intron of phase 0 ends at an acceptor
            x = (n + A[0][1]) if atg else NEG
            y = NEG if stp else c2 + A[3][1]
            w = i0 + A[4][1] + ag
            s1, b1 = (x, 0) if x >= y and x >= w else ((y, 3) if y >= w else (w, 4))
            x, y = c0 + A[1][2], i1 + A[5][2] + ag
            s2, b2 = (x, 1) if x >= y else (y, 5)
            x, y = c1 + A[2][3], i2 + A[6][3] + ag
            s3, b3 = (x, 2) if x >= y else (y, 6)
            # introns: entered from the exon base before a donor, or continued
            x, y = c2 + A[3][4] + gt, i0 + A[4][4]
            s4, b4 = (x, 3) if x >= y else (y, 4)
            x, y = c0 + A[1][5] + gt, i1 + A[5][5]
            s5, b5 = (x, 1) if x >= y else (y, 5)
            x, y = c1 + A[2][6] + gt, i2 + A[6][6]
            s6, b6 = (x, 2) if x >= y else (y, 6)
            rows.append((b0, b1, b2, b3, b4, b5, b6))
            v = [s0 + et[0], s1 + et[1], s2 + et[2], s3 + et[3], s4 + et[4], s5 + et[5],
                 s6 + et[6]]
        back[:] = rows
        return v

    def coding(self, codes: np.ndarray, evidence: np.ndarray | None = None) -> np.ndarray:
        """(T,) bool: the bases the best path puts in an exon."""
        z = self.decode(codes, evidence)
        return (z >= 1) & (z <= 3)
