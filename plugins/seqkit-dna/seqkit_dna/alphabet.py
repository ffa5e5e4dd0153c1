"""The DNA alphabet: bases, IUPAC ambiguity codes, reverse complement, and the
model's inputs.

Every sequence is validated once, when it is read, into an int8 array of
*codes*, one per base, indices into ``CODES``:

    A C G T   the four bases (``U`` is read as ``T``)
    R Y S W K M B D H V N   the IUPAC ambiguity codes (``N`` = any base)

Lower case (soft-masked repeats) is accepted and means the same as upper case.
Any other character (``-``, ``.``, ``*``, digits, ``X``...) is a one-line error
naming the record and the 1-based position.

The model reads x<t> as the lecture's one-hot vector over A, C, G, T; an
ambiguity code is the *fractional* one-hot of the bases it stands for (``R`` =
A or G = (0.5, 0, 0.5, 0), ``N`` = (0.25, 0.25, 0.25, 0.25)). So x<t> times
W_ax is one row of W_ax for a base (the embedding row) and the mean of the
possible bases' rows for an ambiguity code, and the reverse complement of the
input is exactly the input of the reverse complement (complementing a
fractional one-hot reverses its four columns).
"""
from __future__ import annotations

import numpy as np

from seqkit import SeqkitError

BASES = "ACGT"
CODES = "ACGTRYSWKMBDHVN"
N_CODE = CODES.index("N")
#: what each code stands for
MEANING = {"A": "A", "C": "C", "G": "G", "T": "T", "R": "AG", "Y": "CT", "S": "CG", "W": "AT",
           "K": "GT", "M": "AC", "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT"}
_COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A", "R": "Y", "Y": "R", "S": "S", "W": "W",
               "K": "M", "M": "K", "B": "V", "V": "B", "D": "H", "H": "D", "N": "N"}

#: code -> code of its complement
COMPLEMENT = np.array([CODES.index(_COMPLEMENT[c]) for c in CODES], dtype=np.int8)
#: code -> fractional one-hot over A, C, G, T
FRACTIONAL = np.array([[1.0 / len(MEANING[c]) if b in MEANING[c] else 0.0 for b in BASES]
                       for c in CODES], dtype=np.float32)

_LOOKUP = np.full(256, -1, dtype=np.int8)
for _i, _c in enumerate(CODES):
    _LOOKUP[ord(_c)] = _LOOKUP[ord(_c.lower())] = _i
_LOOKUP[ord("U")] = _LOOKUP[ord("u")] = CODES.index("T")


def to_codes(seq: str, record: str = "?") -> np.ndarray:
    """Validate ``seq`` into codes (int8); one-line SeqkitError at the first bad character."""
    if not seq:
        raise SeqkitError(f"record {record!r} has no sequence")
    if not seq.isascii():
        pos = next(i for i, ch in enumerate(seq) if not ch.isascii())
        raise _illegal(record, seq[pos], pos)
    codes = _LOOKUP[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        raise _illegal(record, seq[int(bad[0])], int(bad[0]))
    return codes


def _illegal(record: str, ch: str, pos: int) -> SeqkitError:
    return SeqkitError(f"record {record!r}: illegal character {ch!r} at position {pos + 1} "
                       f"(allowed: A C G T U, IUPAC codes {CODES[4:]}, either case)")


def to_string(codes: np.ndarray) -> str:
    return "".join(CODES[c] for c in codes)


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    return COMPLEMENT[codes[::-1]]


def one_hot(codes: np.ndarray) -> np.ndarray:
    """(T, 4) float32: x<t> over A, C, G, T (fractional for ambiguity codes)."""
    return FRACTIONAL[codes]


def kmer_ids(codes: np.ndarray, k: int) -> np.ndarray:
    """(T,) int64: the id of the k-mer centred on each base (starting k//2 bases
    before it), 1 + its base-4 number; 0 where the k-mer runs off the sequence or
    holds an ambiguity code."""
    T = len(codes)
    ids = np.zeros(T, dtype=np.int64)
    if k < 1 or T < k:
        return ids
    c = codes.astype(np.int64)
    valid = c < 4
    num = np.zeros(T - k + 1, dtype=np.int64)
    ok = np.ones(T - k + 1, dtype=bool)
    for j in range(k):
        num = num * 4 + np.where(valid[j:T - k + 1 + j], c[j:T - k + 1 + j], 0)
        ok &= valid[j:T - k + 1 + j]
    start = k // 2
    ids[start:start + T - k + 1] = np.where(ok, num + 1, 0)
    return ids


def kmer_one_hot(codes: np.ndarray, k: int) -> np.ndarray:
    """(T, 4**k) float32: the one-hot of the k-mer centred on each base (the ids of
    ``kmer_ids``); a zero row where the k-mer runs off the sequence or holds an
    ambiguity code."""
    eye = np.eye(4 ** k + 1, dtype=np.float32)[:, 1:]
    return eye[kmer_ids(codes, k)]


def n_kmers(k: int) -> int:
    return 4 ** k + 1 if k else 0
