"""The CuPy plugin's own code on the CPU: its kernels against the NumPy kernels (the spec).

For each test a NumPy stand-in (the ``fake_cupy`` folder) is ``cupy`` and ``cupyx`` in
``sys.modules``, and the plugin's kernel modules are imported fresh under it,
through the cells it registers, fused ``ElementwiseKernel`` bodies included.
So a refactor that breaks seqkit-cupy fails here, without a GPU. Afterwards
the modules imported under the stand-in are dropped and whatever was there
before (a real CuPy's, on a GPU machine) is put back.
"""
from __future__ import annotations

import copy
import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path

import numpy as np
import pytest
import seqkit_cupy
from seqkit_cupy.backend import CupyBackend
from seqkit_numpy.backend import CELLS as NUMPY_CELLS


def _load_package(path: Path):
    # by path: with --import-mode=importlib the tests folder is not on sys.path
    name = f"seqkit_cupy_tests_{path.name}"
    spec = importlib.util.spec_from_file_location(name, path / "__init__.py",
                                                  submodule_search_locations=[str(path)])
    module = sys.modules[name] = importlib.util.module_from_spec(spec)   # for its relative imports
    spec.loader.exec_module(module)
    return module


fake_cupy = _load_package(Path(__file__).with_name("fake_cupy"))
# every submodule but backend imports cupy at its top (backend must not: the plugin imports without it)
KERNEL_MODULES = [m.name for m in pkgutil.iter_modules(seqkit_cupy.__path__) if m.name != "backend"]

T, B, N_X, N_A = 6, 5, 3, 4
LENGTHS = {"equal": [6, 6, 6, 6, 6],
           "ragged": [3, 6, 1, 4, 6],      # unsorted, a length-1 example, ties
           "short": [2, 4, 1, 4, 3]}       # max(lengths) < T: steps where nobody runs
CASES = [("rnn", {"nonlinearity": "tanh"}), ("rnn", {"nonlinearity": "relu"}), ("gru", {}), ("lstm", {})]
IDS = ["rnn-tanh", "rnn-relu", "gru", "lstm"]


@pytest.fixture
def cupy_standin(monkeypatch):
    """``cupy`` is the stand-in while the test runs; the kernel modules import afresh under it."""
    for name in KERNEL_MODULES:
        monkeypatch.delitem(sys.modules, f"seqkit_cupy.{name}", raising=False)
        monkeypatch.delattr(seqkit_cupy, name, raising=False)
    for name, module in fake_cupy.MODULES.items():
        monkeypatch.setitem(sys.modules, name, module)
    yield fake_cupy.MODULES["cupy"]
    # drop what was imported under the stand-in; monkeypatch then restores the rest
    for name in KERNEL_MODULES:
        sys.modules.pop(f"seqkit_cupy.{name}", None)
        seqkit_cupy.__dict__.pop(name, None)


def registered(register_cells) -> dict:
    cells = []
    register_cells(register=cells.append)
    return {cell.name: cell for cell in cells}


def make_problem(cell, lengths, dtype, seed=0):
    rng = np.random.default_rng(seed)
    G, n_states = {"rnn": (1, 1), "gru": (3, 1), "lstm": (4, 2)}[cell]
    normal = lambda *shape, scale=1.0: rng.normal(0, scale, shape).astype(dtype)  # noqa: E731
    params = {"W_ih": normal(G * N_A, N_X, scale=0.5), "W_hh": normal(G * N_A, N_A, scale=0.5),
              "b_ih": normal(G * N_A, scale=0.5), "b_hh": normal(G * N_A, scale=0.5)}
    state0 = tuple(normal(B, N_A, scale=0.5) for _ in range(n_states))
    d_state_n = tuple(normal(B, N_A) for _ in range(n_states))
    x, da = normal(T, B, N_X), normal(T, B, N_A)   # da nonzero at padded steps too: ignored there
    return params, x, np.asarray(lengths, dtype=np.int64), state0, da, d_state_n


def run(cell, problem, options, state_grad=True):
    """Forward then backward of one registered kernel pair, on copies of the problem."""
    params, x, lengths, state0, da, d_state_n = copy.deepcopy(problem)
    a, state_n, cache = cell.forward(params, x, lengths, state0, **options)
    d_state_n = d_state_n if state_grad else (None,) * len(d_state_n)
    dx, d_state0, dparams = cell.backward(cache, da, d_state_n)
    return {"a": a, "dx": dx, **{f"state_n[{j}]": s for j, s in enumerate(state_n)},
            **{f"d_state0[{j}]": d for j, d in enumerate(d_state0)},
            **{f"d{k}": g for k, g in dparams.items()}}


@pytest.mark.parametrize("state_grad", [True, False], ids=["d_state_n", "no-d_state_n"])
@pytest.mark.parametrize("pattern", list(LENGTHS))
@pytest.mark.parametrize("cell,options", CASES, ids=IDS)
def test_kernels_match_numpy(cupy_standin, cell, options, pattern, state_grad):
    problem = make_problem(cell, LENGTHS[pattern], np.float64)
    ref = run({c.name: c for c in NUMPY_CELLS}[cell], problem, options, state_grad)
    got = run(registered(seqkit_cupy.register_cells)[cell], problem, options, state_grad)
    assert importlib.import_module(f"seqkit_cupy.{cell}").cp is cupy_standin, "a real cupy ran"
    assert got.keys() == ref.keys()
    for name in ref:
        assert got[name].dtype == np.float64 and got[name].shape == ref[name].shape, name
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-10, atol=1e-12, err_msg=name)
    padded = np.arange(T)[:, None] >= problem[2][None, :]
    assert not got["a"][padded].any() and not got["dx"][padded].any()


@pytest.mark.parametrize("cell,options", CASES, ids=IDS)
def test_float32_stays_float32(cupy_standin, cell, options):
    # the stand-in refuses mixed dtypes in a kernel, as CuPy's typed kernels do
    problem = make_problem(cell, LENGTHS["ragged"], np.float32)
    ref = run({c.name: c for c in NUMPY_CELLS}[cell], problem, options)
    got = run(registered(seqkit_cupy.register_cells)[cell], problem, options)
    for name in ref:
        assert got[name].dtype == np.float32, name
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.fixture
def cupy_backend(cupy_standin, monkeypatch):
    """``get_backend("cupy")`` on the stand-in, its instance dropped afterwards."""
    from seqkit.cells import get_cell
    from seqkit.plugins import registry

    if "cupy" not in get_cell("rnn").kernels:
        pytest.skip("seqkit-cupy is not installed (pip install -e plugins/seqkit-cupy): "
                    "no entry point registers its cells")
    instances = registry().backend_instances
    monkeypatch.delitem(instances, "cupy", raising=False)
    yield
    instances.pop("cupy", None)


@pytest.mark.parametrize("training", [True, False], ids=["train", "inference"])
@pytest.mark.parametrize("cell,options", CASES, ids=IDS)
def test_layers_on_the_standin_backend(cupy_backend, cell, options, training):
    """Two bidirectional layers through the registry's dispatch, as the GPU tests
    run them; inference sweeps in windows of steps, carrying the state."""
    from seqkit.layers import Recurrent

    lengths = np.asarray(LENGTHS["ragged"])
    rng = np.random.default_rng(1)
    x, dy = rng.normal(size=(T, B, N_X)), rng.normal(size=(T, B, 2 * N_A))
    got = {}
    for backend in ("numpy", "cupy"):
        layer = Recurrent(cell, N_X, N_A, num_layers=2, bidirectional=True, backend=backend,
                          dtype="float64", seed=3, **options).train(training)
        y, state = layer.forward(x, lengths)
        states = state if isinstance(state, tuple) else (state,)
        out = {"y": y, **{f"state[{j}]": s for j, s in enumerate(states)}}
        if training:
            out["dx"] = layer.backward(dy)
            out.update(layer.grads())
        got[backend] = {k: layer.backend.to_numpy(v) for k, v in out.items()}
    assert got["cupy"].keys() == got["numpy"].keys()
    for name, ref in got["numpy"].items():
        np.testing.assert_allclose(got["cupy"][name], ref, rtol=1e-10, atol=1e-12, err_msg=name)


def test_embedding_row_sparse_gradient_on_the_standin(cupy_backend):
    """The embedding's persistent row-sparse gradient (seqkit.rows) through the CuPy
    backend's scatter_add: the same rows and values as on numpy, zeroed by zero_grad."""
    from seqkit import Embedding, rows

    ids, dy = np.array([[1, 4], [1, 7]]), np.arange(12.0).reshape(2, 2, 3)
    got = {}
    for backend in ("numpy", "cupy"):
        emb = Embedding(9, 3, backend=backend, dtype="float64", seed=2)
        y, backprop = emb.begin_update(ids)
        backprop(emb.backend.asarray(dy))
        g = emb.grads()["weight"]
        got[backend] = (emb.backend.to_numpy(g).copy(), emb.backend.to_numpy(rows.touched_rows(g)))
        emb.zero_grad()
        assert not emb.backend.to_numpy(emb.grads()["weight"]).any()
    np.testing.assert_array_equal(got["cupy"][0], got["numpy"][0])
    assert got["cupy"][1].tolist() == got["numpy"][1].tolist() == [1, 4, 7]


def test_backend_on_the_standin(cupy_standin):
    assert CupyBackend.unavailable_reason() is None
    be = CupyBackend()
    assert be.xp is cupy_standin and be.device == "cuda:0 (NumPy stand-in)"
    target = be.xp.zeros((4, 2))
    be.scatter_add(target, [1, 3, 1], np.ones((3, 2)))
    np.testing.assert_array_equal(be.to_numpy(target)[:, 0], [0, 2, 0, 1])
    assert be.rng(0).random((2, 3), dtype=np.float32).dtype == np.float32
    be.synchronize()


def test_standin_is_strict(cupy_standin):
    """What the stand-in cannot check it refuses, rather than pass it unchecked."""
    kernel = fake_cupy.ElementwiseKernel
    with pytest.raises(fake_cupy.TranslationError, match="keyword 'if'"):
        kernel("T x", "T y", "if (x > T(0)) y = x;", "k")
    with pytest.raises(fake_cupy.TranslationError, match="unknown name 'sinh'"):
        kernel("T x", "T y", "y = sinh(x)", "k")
    with pytest.raises(fake_cupy.TranslationError, match="cannot assign"):
        kernel("T x", "T y", "x = y", "k")
    ok = kernel("T x, raw T w", "T y", "const ptrdiff_t j = i / 2 * 3; y = x > T(0) ? w[j] : -x;", "k")
    y = np.zeros(4)
    ok(np.array([1.0, -2.0, 3.0, -4.0]), np.arange(6.0), y)
    np.testing.assert_array_equal(y, [0.0, 2.0, 3.0, 4.0])
    with pytest.raises(TypeError, match="float32"):
        ok(np.ones(4), np.ones(6, dtype=np.float32), y)
    with pytest.raises(ValueError):   # a raw index out of bounds
        ok(np.ones(6), np.ones(6), np.zeros(6))
    with pytest.raises(AttributeError, match="stand-in has no cupy.fft"):
        cupy_standin.fft  # noqa: B018
