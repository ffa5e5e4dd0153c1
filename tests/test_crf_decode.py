"""CRF Viterbi: the decoder that prediction runs (one reduction per step, no masking while
every example still runs) gives exactly the paths of the plain recursion, ties and
forbidden transitions included (the brute-force checks are in test_crf.py)."""
import numpy as np
import pytest

from seqkit.heads.crf import CRF, transition_constraints

IOBES = ["O"] + [f"{p}-{t}" for t in ("LOC", "PER") for p in "BIES"]


def reference_decode(crf, z, lengths):
    """The textbook recursion: delta<t>(j) = z<t>(j) + max_i(delta<t-1>(i) + A[i, j]),
    argmax and max taken separately, every step masked; host NumPy."""
    A, s, e = (np.asarray(a) for a in crf._scores())
    z = np.asarray(z)
    T, B, K = z.shape
    valid = np.arange(T)[:, None] < lengths[None, :]
    delta, psi = s + z[0], np.zeros((T, B, K), dtype=np.int64)
    for t in range(1, T):
        cand = delta[:, :, None] + A
        psi[t] = np.where(valid[t][:, None], cand.argmax(1), np.arange(K))
        delta = np.where(valid[t][:, None], z[t] + cand.max(1), delta)
    path = np.zeros((T, B), dtype=np.int64)
    path[-1] = (delta + e).argmax(1)
    for t in range(T - 1, 0, -1):
        path[t - 1] = psi[t, np.arange(B), path[t]]
    return np.where(valid, path, 0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("lengths", [[9, 9, 9, 9], [9, 7, 7, 2, 1], [1, 5, 9, 3], [1]])
def test_decode_equals_the_plain_recursion(dtype, lengths):
    lengths = np.array(lengths)
    crf = CRF(len(IOBES), *transition_constraints(IOBES, "IOBES"), dtype=dtype, seed=4)
    rng = np.random.default_rng(len(lengths))
    for trial in range(20):
        z = rng.standard_normal((int(lengths.max()), len(lengths), len(IOBES))) * 3
        if trial % 2:  # rounded scores: many exact ties, broken towards the lower tag in both
            z = np.round(z)
        z = z.astype(dtype)
        got = crf.decode(z, lengths)
        np.testing.assert_array_equal(got, reference_decode(crf, z, lengths))
        assert (got[np.arange(z.shape[0])[:, None] >= lengths] == 0).all()


def test_decode_follows_the_constraints():
    crf = CRF(len(IOBES), *transition_constraints(IOBES, "IOBES"), dtype="float64", seed=1)
    z = np.random.default_rng(0).standard_normal((12, 30, len(IOBES))) * 5
    lengths = np.random.default_rng(1).integers(1, 13, 30)
    paths = crf.decode(z, lengths)
    allowed, start, end = transition_constraints(IOBES, "IOBES")
    for b, L in enumerate(lengths):
        p = paths[:L, b]
        assert start[p[0]] and end[p[-1]] and all(allowed[i, j] for i, j in zip(p[:-1], p[1:]))
