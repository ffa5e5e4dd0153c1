"""The CRF head against brute-force enumeration of every tag path, and its gradients against
central differences."""
import itertools
import json

import numpy as np
import pytest

from seqkit.errors import SeqkitError
from seqkit.heads.crf import CRF, transition_constraints
from seqkit.testing import backend_params, gradcheck

BIO_TAGS = ["O", "B-X", "I-X", "B-Y", "I-Y"]
LENGTHS = np.array([4, 1, 3, 2])  # ragged, unsorted, T = 1..4 in one batch


def make_crf(K, constrained=False, backend=None, seed=0):
    masks = transition_constraints(BIO_TAGS) if constrained else (None, None, None)
    crf = CRF(K, *masks, backend=backend, dtype="float64", seed=seed)
    rng = np.random.default_rng(seed + 1)
    # parameters of order 1, not the ±0.1 initialisation, so transitions matter
    crf.load_state_dict({"transitions": rng.standard_normal((K, K)), "start": rng.standard_normal(K),
                         "end": rng.standard_normal(K)})
    return crf


def emissions(crf, lengths=LENGTHS, seed=2):
    T, B = int(max(lengths)), len(lengths)
    return crf.backend.asarray(np.random.default_rng(seed).standard_normal((T, B, crf.n_tags)))


def effective(crf):
    """Host A, s, e with forbidden entries at -inf."""
    p, cfg = crf.state_dict(), crf.config()
    out = []
    for name, mask in (("transitions", "allowed"), ("start", "allowed_start"), ("end", "allowed_end")):
        allowed = np.ones_like(p[name], bool) if cfg[mask] is None else np.array(cfg[mask])
        out.append(np.where(allowed, p[name], -np.inf))
    return out


def brute_force(crf, z, lengths):
    """Per example: {path: log p(path | x)} over every allowed path."""
    A, s, e = effective(crf)
    z = crf.backend.to_numpy(z)
    result = []
    for b, L in enumerate(lengths):
        scores = {}
        for path in itertools.product(range(crf.n_tags), repeat=int(L)):
            score = s[path[0]] + e[path[-1]] + sum(z[t, b, k] for t, k in enumerate(path))
            score += sum(A[i, j] for i, j in zip(path[:-1], path[1:]))
            if np.isfinite(score):
                scores[path] = score
        log_z = np.logaddexp.reduce(list(scores.values()))
        result.append({path: v - log_z for path, v in scores.items()})
    return result


CASES = [(K, False) for K in (2, 3, 4)] + [(5, True)]


@pytest.mark.parametrize("K,constrained", CASES)
def test_log_partition_marginals_decode_match_brute_force(K, constrained):
    crf = make_crf(K, constrained)
    z = emissions(crf)
    brute = brute_force(crf, z, LENGTHS)
    A, s, e = effective(crf)
    zh = crf.backend.to_numpy(z)
    log_z = crf.log_partition(z, LENGTHS)
    marg = crf.marginals(z, LENGTHS)
    best = crf.decode(z, LENGTHS)
    assert log_z.dtype == np.float64 and marg.shape == zh.shape and best.dtype == np.int64
    for b, L in enumerate(LENGTHS):
        path0 = next(iter(brute[b]))
        score0 = (s[path0[0]] + e[path0[-1]] + sum(zh[t, b, k] for t, k in enumerate(path0))
                  + sum(A[i, j] for i, j in zip(path0[:-1], path0[1:])))
        np.testing.assert_allclose(log_z[b], score0 - brute[b][path0], rtol=1e-12)
        expected = np.zeros((L, K))
        for path, logp in brute[b].items():
            expected[np.arange(L), path] += np.exp(logp)
        np.testing.assert_allclose(marg[:L, b], expected, atol=1e-12)
        np.testing.assert_allclose(marg[:L, b].sum(-1), 1.0, atol=1e-12)
        assert not marg[L:, b].any()
        assert tuple(best[:L, b]) == max(brute[b], key=brute[b].get)
        assert not best[L:, b].any()
    np.testing.assert_array_equal(crf.probabilities(z, LENGTHS), marg)


def test_constraints_remove_forbidden_paths():
    crf = make_crf(5, constrained=True)
    z = emissions(crf)
    allowed, start, _ = transition_constraints(BIO_TAGS)
    for path in itertools.chain.from_iterable(brute_force(crf, z, LENGTHS)):
        assert start[path[0]] and all(allowed[i, j] for i, j in zip(path[:-1], path[1:]))
    marg = crf.marginals(z, LENGTHS)
    assert not marg[0, :, ~start].any()  # I-X, I-Y never come first
    assert np.isfinite(marg).all()


def test_draws_reproducible_and_match_probabilities():
    crf = make_crf(3, seed=3)
    lengths = np.array([3, 2])
    z = emissions(crf, lengths, seed=4)
    n = 10000
    z_many = crf.xp.repeat(z, n, axis=1)  # 20000 draws in one vectorised call
    lengths_many = np.repeat(lengths, n)
    draws = crf.draw(z_many, np.random.default_rng(7), lengths=lengths_many)
    np.testing.assert_array_equal(draws, crf.draw(z_many, np.random.default_rng(7), lengths=lengths_many))
    assert draws.dtype == np.int64 and not draws[2, n:].any()
    for b, probs in enumerate(brute_force(crf, z, lengths)):
        L = lengths[b]
        sample = draws[:L, b * n:(b + 1) * n].T
        for path, logp in probs.items():
            freq = np.all(sample == path, axis=1).mean()
            assert abs(freq - np.exp(logp)) < 0.02, (b, path)


def nll(crf, z, y, lengths):
    brute = brute_force(crf, z, lengths)
    return np.array([-brute[b][tuple(y[:L, b])] for b, L in enumerate(lengths)])


def gold_paths(crf, z, lengths):
    return crf.draw(z, np.random.default_rng(11), lengths=lengths)  # allowed by construction


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("constrained", [False, True])
def test_loss_value(reduction, constrained):
    crf = make_crf(5 if constrained else 3, constrained)
    z = emissions(crf)
    y = gold_paths(crf, z, LENGTHS)
    mask = (np.arange(4)[:, None] < LENGTHS).astype(np.float64)
    loss, dz, n_tokens = crf.loss(z, y, mask, n_examples=len(LENGTHS), reduction=reduction)
    denom = len(LENGTHS) if reduction == "sum" else LENGTHS.sum()
    assert n_tokens == LENGTHS.sum() and dz.shape == z.shape
    np.testing.assert_allclose(loss, nll(crf, z, y, LENGTHS).sum() / denom, rtol=1e-12)


@pytest.mark.parametrize("backend", backend_params())
@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("constrained", [False, True])
def test_gradcheck(backend, reduction, constrained):
    crf = make_crf(5 if constrained else 3, constrained, backend=backend)
    z = emissions(crf)
    y = gold_paths(crf, z, LENGTHS)
    mask = crf.backend.asarray((np.arange(4)[:, None] < LENGTHS).astype(np.float64))

    def loss():
        crf.zero_grad()
        return crf.loss(z, y, mask, n_examples=len(LENGTHS), reduction=reduction)[0]

    crf.zero_grad()
    _, dz, _ = crf.loss(z, y, mask, n_examples=len(LENGTHS), reduction=reduction)
    analytic = {name: g.copy() for name, g in crf.grads().items()}
    # accumulating: a second loss adds the same gradients again
    crf.loss(z, y, mask, n_examples=len(LENGTHS), reduction=reduction)
    for name, g in crf.grads().items():
        np.testing.assert_allclose(crf.backend.to_numpy(g), 2 * crf.backend.to_numpy(analytic[name]))
    errors = gradcheck(loss, dict(crf.params, z=z), dict(analytic, z=dz), max_entries=None)
    assert max(errors.values()) < 1e-6, errors
    if constrained:
        cfg = crf.config()
        for name, mask_name in (("transitions", "allowed"), ("start", "allowed_start")):
            forbidden = ~np.array(cfg[mask_name])
            assert forbidden.any() and not crf.backend.to_numpy(analytic[name])[forbidden].any()


def test_padded_steps_are_ignored():
    crf = make_crf(5, constrained=True)
    z = emissions(crf)
    y = gold_paths(crf, z, LENGTHS)
    mask = (np.arange(4)[:, None] < LENGTHS).astype(np.float64)
    pad = mask == 0
    loss, dz, _ = crf.loss(z, y, mask, n_examples=4)
    z2 = crf.backend.to_numpy(z).copy()
    z2[pad] = np.random.default_rng(5).standard_normal((pad.sum(), 5)) * 100
    z2 = crf.backend.asarray(z2)
    y2 = np.where(pad, -100, y)  # padding ids may be anything, an ignore index included
    loss2, dz2, _ = crf.loss(z2, y2, mask, n_examples=4)
    assert loss2 == loss
    np.testing.assert_array_equal(dz2, dz)
    assert not crf.backend.to_numpy(dz)[pad].any()
    np.testing.assert_array_equal(crf.log_partition(z2, LENGTHS), crf.log_partition(z, LENGTHS))
    np.testing.assert_array_equal(crf.decode(z2, LENGTHS), crf.decode(z, LENGTHS))


def test_forbidden_gold_path_has_infinite_loss():
    crf = make_crf(5, constrained=True)
    z = emissions(crf, np.array([2]))
    y = np.array([[0], [2]])  # O -> I-X
    loss, dz, _ = crf.loss(z, y, np.ones((2, 1)), n_examples=1)
    assert loss == np.inf and np.isfinite(crf.backend.to_numpy(dz)).all()
    grads = {name: crf.backend.to_numpy(g) for name, g in crf.grads().items()}
    assert all(np.isfinite(g).all() for g in grads.values())
    assert grads["transitions"][0, 2] == 0  # the forbidden entry the gold path uses still gets none


def test_no_allowed_path_is_infinite_not_nan():
    crf = CRF(2, *transition_constraints(["B-X", "E-X"], "IOBES"), dtype="float64")
    z = crf.backend.asarray(np.zeros((1, 1, 2)))  # one step: it would have to start with B and end with E
    assert crf.log_partition(z, [1])[0] == -np.inf and not crf.marginals(z, [1]).any()
    loss, dz, _ = crf.loss(z, np.zeros((1, 1), int), np.ones((1, 1)), n_examples=1)
    assert loss == np.inf and np.isfinite(crf.backend.to_numpy(dz)).all()


def test_transition_constraints():
    tags = ["<pad>", "O", "B-X", "I-X", "B-Y", "I-Y"]
    ix = {t: i for i, t in enumerate(tags)}
    allowed, start, end = transition_constraints(tags, "BIO")
    assert not allowed[ix["O"], ix["I-X"]] and allowed[ix["B-X"], ix["I-X"]]
    assert allowed[ix["I-X"], ix["I-X"]] and not allowed[ix["B-X"], ix["I-Y"]]
    assert allowed[ix["I-X"], ix["B-Y"]] and allowed[ix["O"], ix["B-X"]]
    assert not start[ix["I-X"]] and start[ix["B-X"]] and start[ix["O"]] and end.all()
    assert allowed[ix["<pad>"]].all() and allowed[:, ix["<pad>"]].all() and start[ix["<pad>"]]

    tags = ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "E-Y"]
    ix = {t: i for i, t in enumerate(tags)}
    allowed, start, end = transition_constraints(tags, "IOBES")
    assert allowed[ix["B-X"], ix["I-X"]] and allowed[ix["B-X"], ix["E-X"]]
    assert not allowed[ix["B-X"], ix["O"]] and not allowed[ix["B-X"], ix["E-Y"]]
    assert not allowed[ix["O"], ix["I-X"]] and not allowed[ix["S-X"], ix["E-X"]]
    assert allowed[ix["E-X"], ix["B-Y"]] and allowed[ix["S-X"], ix["S-X"]] and allowed[ix["E-Y"], ix["O"]]
    assert not end[ix["B-X"]] and not end[ix["I-X"]] and end[ix["E-X"]] and end[ix["S-X"]]
    assert not start[ix["I-X"]] and not start[ix["E-X"]] and start[ix["S-X"]]
    with pytest.raises(SeqkitError, match="scheme"):
        transition_constraints(tags, "BILOU")


def test_config_round_trip_and_errors():
    crf = make_crf(5, constrained=True)
    cfg = json.loads(json.dumps(crf.config()))
    assert cfg["type"] == "crf" and cfg["n_tags"] == 5
    clone = CRF.from_config(cfg, dtype="float64")
    clone.load_state_dict(crf.state_dict())
    z = emissions(crf)
    np.testing.assert_array_equal(clone.log_partition(z, LENGTHS), crf.log_partition(z, LENGTHS))
    assert CRF(3).config()["allowed"] is None
    full = emissions(crf, np.array([4, 4, 4, 4]))
    np.testing.assert_array_equal(crf.decode(full), crf.decode(full, np.array([4, 4, 4, 4])))
    with pytest.raises(SeqkitError, match="z must be"):
        crf.decode(full[..., :3])
    with pytest.raises(SeqkitError, match="shape"):
        CRF(3, allowed=np.ones((2, 2), bool))
    with pytest.raises(SeqkitError, match="lengths"):
        crf.log_partition(z, np.array([5, 1, 1, 1]))
    with pytest.raises(SeqkitError, match="reduction"):
        crf.loss(z, np.zeros((4, 4), int), np.ones((4, 4)), 4, reduction="max")
    with pytest.raises(SeqkitError, match="prefix"):
        crf.loss(z, np.zeros((4, 4), int), np.array([[1, 0, 1, 1]] * 4).T, 4)
