"""The kit's tests. Collected by ``pytest --seqkit-backend NAME`` / ``--seqkit-cell NAME``,
or star-imported into a plugin's own test module marked ``pytest.mark.seqkit(...)``.

Every test takes a kit fixture (``seqkit_kernel``, ``seqkit_case`` or
``seqkit_backend``, parametrized by ``pytest_generate_tests``, exported here too).
"""
from __future__ import annotations

import numpy as np
import pytest

from . import checks
from .targets import REFERENCE, need, pytest_generate_tests

__all__ = ["pytest_generate_tests", "test_gradients", "test_agrees_with_numpy", "test_kernel_contract",
           "test_padded_steps", "test_ragged_bidirectional_batches", "test_paired_directions",
           "test_inference_without_caches",
           "test_seeds", "test_dtypes_preserved", "test_backend_services"]

DTYPES = ["float32", "float64"]


def _setup(param):
    from ..backend import get_backend
    from ..cells import get_cell

    kernel = need(param)
    return kernel, get_backend(kernel.backend), get_cell(kernel.cell)


def _layer(kernel, dtype="float64", **kw):
    from ..layers import Recurrent

    kw = {"num_layers": 2, "bidirectional": True, "seed": 0, **kw}
    return Recurrent(kernel.cell, checks.N_X, checks.N_A, backend=kernel.backend, dtype=dtype,
                     **kw, **kernel.opts)


def test_gradients(seqkit_case):
    """float64 central differences of every parameter, x and the initial state(s)."""
    from ..testing import check_recurrent

    kernel, case = need(seqkit_case)
    errors = check_recurrent(case, backend=kernel.backend)
    name, err = checks.worst(errors)
    if not err <= checks.GRAD_TOL:
        above = ", ".join(f"{n} {e:.2e}" for n, e in sorted(errors.items()) if not e <= checks.GRAD_TOL)
        pytest.fail(f"cell {kernel.cell!r} on backend {kernel.backend!r} ({case}): the gradient of "
                    f"{name} is off by relative error {err:.2e} against central differences "
                    f"(tolerance {checks.GRAD_TOL:g}; above it: {above})", pytrace=False)


@pytest.mark.parametrize("dtype", DTYPES)
def test_agrees_with_numpy(seqkit_kernel, dtype):
    """Outputs, final states and every gradient against the NumPy kernel in float64."""
    from ..backend import get_backend

    kernel, be, cell = _setup(seqkit_kernel)
    if REFERENCE not in cell.kernels:
        pytest.skip(f"cell {kernel.cell!r} has no {REFERENCE} kernel to compare with")
    if kernel.backend == REFERENCE and dtype == "float64":
        pytest.skip("the NumPy backend in float64 is the reference itself")
    p = checks.problem(cell)
    want = checks.run(get_backend(REFERENCE), kernel, p)
    got = checks.run(be, kernel, checks.cast(p, dtype))
    checks.compare(f"cell {kernel.cell!r} on backend {kernel.backend!r} in {dtype} against "
                   f"{REFERENCE} in float64", got, want, checks.AGREE_TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_contract(seqkit_kernel, dtype):
    """Shapes, tuple lengths, dtypes and keys of what the kernels return; read-only NumPy
    outputs; inputs left untouched; a None d_state_n is a zero one."""
    kernel, be, cell = _setup(seqkit_kernel)
    p = checks.problem(cell, dtype)
    before = checks.cast(p, dtype)  # a copy
    out, (a, state_n, (dx, d_state0, dparams)) = checks.run(be, kernel, p, raw=True)
    who = f"cell {kernel.cell!r} on backend {kernel.backend!r} ({dtype})"
    T, B, n_x, n_a, S = checks.T, len(p["lengths"]), checks.N_X, checks.N_A, cell.n_states
    problems = []
    if not isinstance(state_n, tuple) or len(state_n) != S:
        problems.append(f"state_n must be a tuple of {S} array(s), got {type(state_n).__name__}")
    if not isinstance(d_state0, tuple) or len(d_state0) != S:
        problems.append(f"d_state0 must be a tuple of {S} array(s), got {type(d_state0).__name__}")
    if set(dparams) != set(p["params"]):
        problems.append(f"dparams has keys {sorted(dparams)}, expected {sorted(p['params'])}")
    shapes = {"a": (T, B, n_a), "dx": (T, B, n_x), **{f"state_n[{j}]": (B, n_a) for j in range(S)},
              **{f"d_state0[{j}]": (B, n_a) for j in range(S)},
              **{f"d{k}": v.shape for k, v in p["params"].items()}}
    for name, shape in shapes.items():
        if name in out and (out[name].shape != shape or out[name].dtype != np.dtype(dtype)):
            problems.append(f"{name} is {out[name].dtype} {out[name].shape}, expected {dtype} {shape}")
    if isinstance(a, np.ndarray) and a.flags.writeable:
        problems.append("a is a writeable NumPy array: return it read-only (seqkit.kernels.read_only)")
    for name, old, new in [("x", before["x"], p["x"]), ("da", before["da"], p["da"]),
                           *[(f"params[{k!r}]", before["params"][k], p["params"][k]) for k in p["params"]],
                           *[(f"state0[{j}]", before["state0"][j], p["state0"][j]) for j in range(S)]]:
        if not np.array_equal(old, new):
            problems.append(f"the kernel modified its input {name}")
    if problems:
        pytest.fail(f"{who} breaks the kernel contract: " + "; ".join(problems), pytrace=False)
    none = checks.run(be, kernel, checks.cast(p, dtype), d_state_n=None)
    zeros = checks.cast(p, dtype)
    zeros["d_state_n"] = tuple(np.zeros_like(d) for d in zeros["d_state_n"])
    checks.compare(f"{who}, d_state_n None against zeros", none, checks.run(be, kernel, zeros), 1e-12)


def test_padded_steps(seqkit_kernel):
    """Padded steps output zeros, carry the state and get no gradient: each example of a
    ragged batch alone, cut to its length, gives what it gives in the batch."""
    kernel, be, cell = _setup(seqkit_kernel)
    p = checks.problem(cell, seed=1)
    out = checks.run(be, kernel, p)
    who = f"cell {kernel.cell!r} on backend {kernel.backend!r}"
    pad = checks.padded_mask(p["lengths"], checks.T)
    for name in ("a", "dx"):
        if out[name][pad].any():
            pytest.fail(f"{who}: {name} is not zero at padded steps (t >= lengths[b])", pytrace=False)
    last = out["a"][p["lengths"] - 1, np.arange(len(p["lengths"]))]
    checks.compare(f"{who}: the final state against a at each example's last valid step",
                   {"state_n[0]": out["state_n[0]"]}, {"state_n[0]": last}, 1e-12)
    noisy = checks.cast(p, p["x"].dtype)
    noisy["x"][pad], noisy["da"][pad] = 1e3, 1e3
    checks.compare(f"{who}: with garbage in x and da at padded steps", checks.run(be, kernel, noisy),
                   out, 1e-12)
    summed = {}
    for b in range(len(p["lengths"])):
        L, one = int(p["lengths"][b]), checks.run(be, kernel, checks.alone(p, b))
        batch = {"a": out["a"][:L, b:b + 1], "dx": out["dx"][:L, b:b + 1],
                 **{k: out[k][b:b + 1] for k in out if k.startswith(("state_n", "d_state0"))}}
        checks.compare(f"{who}: example {b} (length {L}) alone against in the batch", one, batch, 1e-10)
        for k in p["params"]:
            summed[f"d{k}"] = summed.get(f"d{k}", 0) + one[f"d{k}"]
    checks.compare(f"{who}: the sum of the examples' own weight gradients against the batch's",
                   summed, {k: out[k] for k in summed}, 1e-10)


def test_ragged_bidirectional_batches(seqkit_kernel):
    """A 2-layer bidirectional ``Recurrent`` on a ragged batch: each example alone gives
    its outputs, states and gradients in the batch; the weight gradients add up."""
    kernel, be, cell = _setup(seqkit_kernel)
    layer = _layer(kernel)
    lengths = np.array([4, 7, 1, 5, 7])
    lp = checks.layer_problem(layer, lengths)
    out = checks.layer_run(layer, lp, lengths)
    who = f"cell {kernel.cell!r} on backend {kernel.backend!r}, 2-layer bidirectional"
    summed = {}
    for b, L in enumerate(lengths):
        one_p = {"x": lp["x"][:L, b:b + 1], "dy": lp["dy"][:L, b:b + 1],
                 "h0": tuple(h[:, b:b + 1] for h in lp["h0"]),
                 "d_state": tuple(d[:, b:b + 1] for d in lp["d_state"])}
        one = checks.layer_run(layer, one_p, np.array([L]))
        batch = {"y": out["y"][:L, b:b + 1], "dx": out["dx"][:L, b:b + 1],
                 **{k: out[k][:, b:b + 1] for k in out if k.startswith(("state_n", "d_state0"))}}
        checks.compare(f"{who}: example {b} (length {L}) alone against in the batch",
                       {k: one[k] for k in batch}, batch, 1e-10)
        for k in one:
            if k.startswith("dweight") or k.startswith("dbias"):
                summed[k] = summed.get(k, 0) + one[k]
    checks.compare(f"{who}: the sum of the examples' own gradients against the batch's",
                   summed, {k: out[k] for k in summed}, 1e-10)


def test_paired_directions(seqkit_kernel, monkeypatch):
    """A cell that declares ``pairs`` (both directions in one kernel call,
    ``seqkit.layers.pairs``): a 2-layer bidirectional layer on a ragged batch gives the
    same outputs, states and gradients paired as in two sweeps a layer."""
    from ..layers import pairs

    kernel, be, cell = _setup(seqkit_kernel)
    if not cell.pairs.get(kernel.backend):
        pytest.skip(f"cell {kernel.cell!r} does not pair directions on {kernel.backend!r}")
    layer, lengths = _layer(kernel), np.array([4, 7, 1, 5, 7])
    lp = checks.layer_problem(layer, lengths)
    calls = []
    monkeypatch.setattr(pairs, "forward", lambda *a, f=pairs.forward: calls.append(1) or f(*a))
    paired = checks.layer_run(layer, lp, lengths)
    monkeypatch.setattr(pairs, "ENABLED", False)
    separate = checks.layer_run(layer, lp, lengths)
    assert len(calls) == layer.num_layers, "the layer did not call the paired kernel"
    checks.compare(f"cell {kernel.cell!r} on backend {kernel.backend!r}: paired against separate "
                   "directions", paired, separate, 1e-10)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_inference_without_caches(seqkit_kernel, bidirectional, monkeypatch):
    """``Recurrent.predict`` (windows of steps, nothing kept) equals the training forward,
    with windows shorter than the sequences."""
    from ..layers import Context, recurrent

    kernel, be, cell = _setup(seqkit_kernel)
    layer = _layer(kernel, bidirectional=bidirectional)
    lengths = np.array([4, 7, 1, 5, 7])
    lp = checks.layer_problem(layer, lengths)
    h0 = tuple(be.asarray(h) for h in lp["h0"])
    x = be.asarray(lp["x"])
    train = Context(lengths=lengths, training=True, state0={layer: h0})
    y, _ = layer.begin_update(x, train)
    want = {"y": be.to_numpy(y), **{f"state_n[{j}]": be.to_numpy(s)
                                    for j, s in enumerate(train.state_n[layer])}}
    for window in (3, recurrent.INFERENCE_WINDOW):
        monkeypatch.setattr(recurrent, "INFERENCE_WINDOW", window)
        ctx = Context(lengths=lengths, training=False, state0={layer: h0})
        got = {"y": be.to_numpy(layer.predict(x, ctx)),
               **{f"state_n[{j}]": be.to_numpy(s) for j, s in enumerate(ctx.state_n[layer])}}
        checks.compare(f"cell {kernel.cell!r} on backend {kernel.backend!r}: predict (windows of "
                       f"{window} steps) against the training forward", got, want, 1e-10)


def test_seeds(seqkit_kernel):
    """The same seed gives the same weights, dropout masks, outputs and gradients; the
    same call twice gives the same result."""
    kernel, be, cell = _setup(seqkit_kernel)
    lengths = np.array([4, 7, 1, 5, 7])
    runs = []
    for seed in (3, 3, 4):
        layer = _layer(kernel, dropout=0.5, seed=seed)
        lp = checks.layer_problem(layer, lengths)
        runs.append({**{f"weights {k}": v for k, v in layer.state_dict().items()},
                     **checks.layer_run(layer, lp, lengths)})
    who = f"cell {kernel.cell!r} on backend {kernel.backend!r}"
    checks.identical(f"{who}: two layers made with seed 3, dropout 0.5", runs[1], runs[0])
    if np.array_equal(runs[0]["y"], runs[2]["y"]):
        pytest.fail(f"{who}: seeds 3 and 4 give the same outputs (dropout masks or weights "
                    "do not follow the seed)", pytrace=False)
    p = checks.problem(cell, seed=2)
    checks.identical(f"{who}: the same kernel call twice", checks.run(be, kernel, p),
                     checks.run(be, kernel, p))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtypes_preserved(seqkit_kernel, dtype):
    """A ``Recurrent`` layer in ``dtype`` keeps it: outputs, states and every gradient."""
    kernel, be, cell = _setup(seqkit_kernel)
    layer = _layer(kernel, dtype=dtype)
    lengths = np.array([4, 7, 1, 5, 7])
    out = checks.layer_run(layer, checks.layer_problem(layer, lengths), lengths)
    wrong = {k: str(v.dtype) for k, v in out.items() if v.dtype != np.dtype(dtype)}
    if wrong:
        pytest.fail(f"cell {kernel.cell!r} on backend {kernel.backend!r}: a {dtype} layer returned "
                    f"other dtypes: {wrong}", pytrace=False)


def test_backend_services(seqkit_backend):
    """The array services every layer relies on: asarray, to_numpy, rng, scatter_add."""
    from ..backend import get_backend

    be = get_backend(need(seqkit_backend))
    who = f"backend {be.name!r}"
    assert isinstance(be.device, str) and be.device, f"{who}: device must be a non-empty str"
    for dtype in DTYPES:
        a = be.asarray([[1, 2], [3, 4]], dtype=dtype)
        back = be.to_numpy(a)
        assert isinstance(back, np.ndarray) and back.dtype == np.dtype(dtype), (
            f"{who}: to_numpy(asarray(..., {dtype})) is {type(back).__name__} {back.dtype}")
        assert back.tolist() == [[1, 2], [3, 4]], f"{who}: asarray/to_numpy changed the values"
        draws = [be.to_numpy(be.rng(7).random((3, 4), dtype=dtype)) for _ in range(2)]
        assert draws[0].dtype == np.dtype(dtype), f"{who}: rng().random(dtype={dtype}) gave {draws[0].dtype}"
        assert np.array_equal(*draws), f"{who}: rng(7) twice gives different numbers"
        assert ((draws[0] >= 0) & (draws[0] < 1)).all(), f"{who}: rng().random is not in [0, 1)"
        ints = be.to_numpy(be.rng(7).integers(0, 5, 50))
        assert ((ints >= 0) & (ints < 5)).all(), f"{who}: rng().integers(0, 5) is out of range"
        target = be.asarray(np.zeros((3, 2)), dtype=dtype)
        be.scatter_add(target, np.array([0, 2, 0]), be.asarray(np.ones((3, 2)), dtype=dtype))
        assert be.to_numpy(target).tolist() == [[2, 2], [0, 0], [1, 1]], (
            f"{who}: scatter_add must accumulate repeated indices, gave {be.to_numpy(target).tolist()}")
    be.synchronize()
