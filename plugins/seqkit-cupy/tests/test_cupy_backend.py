"""The CuPy backend: registration and error reporting everywhere, and on a GPU
outputs, states and gradients against the NumPy backend (the spec).

test_cupy_standin.py runs the same kernels on the CPU, CuPy replaced by NumPy.
The generic layer tests (tests/test_layers.py: gradients against finite
differences, PyTorch, dropout, embedding) already run against ``cupy`` through
``backend_params()``, skipped with the reason when it is unavailable.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from seqkit_cupy import register_backends, register_cells
from seqkit_cupy.backend import CupyBackend

from seqkit import GRU, LSTM, RNN
from seqkit.checkpoint import load_checkpoint, save_checkpoint
from seqkit.testing import lengths_for, run_seqkit

PLUGIN_ROOT = Path(__file__).resolve().parents[1]
REASON = CupyBackend.unavailable_reason()
CLASSES = {"rnn": RNN, "gru": GRU, "lstm": LSTM}


@pytest.fixture
def cli_path(tmp_path):
    """PYTHONPATH for ``run_seqkit`` so the CLI sees the ``cupy`` entry point even
    when seqkit-cupy is not pip-installed (a wheel-style dist-info plus the source)."""
    if any(ep.name == "cupy" for ep in importlib.metadata.entry_points(group="seqkit")):
        return None
    info = tmp_path / "seqkit_cupy-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: seqkit-cupy\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[seqkit]\ncupy = seqkit_cupy\n")
    return f"{tmp_path}{os.pathsep}{PLUGIN_ROOT}"


# -- everywhere --------------------------------------------------------------------
def test_plugin_registers_cupy():
    registered = []
    register_backends(register=registered.append)
    assert registered == [CupyBackend] and CupyBackend.name == "cupy"
    assert "seqkit-cupy[cuda12]" in CupyBackend.install_hint


def test_plugin_registers_cells_like_numpy():
    """The same declarations as seqkit-numpy's, or the registry would refuse one of them."""
    from seqkit_numpy.backend import CELLS as NUMPY_CELLS

    cells = []
    register_cells(register=cells.append)
    assert [c.backend for c in cells] == ["cupy"] * 3
    declared = {c.name: (c.gates, c.states, c.options) for c in cells}
    assert declared == {c.name: (c.gates, c.states, c.options) for c in NUMPY_CELLS}


def test_imports_and_explains_without_cupy():
    """With ``import cupy`` failing, the plugin still imports, registers its
    backend and cells (never importing CuPy) and keeps the error."""
    code = ("import sys; sys.modules['cupy'] = None\n"
            "import seqkit_cupy\n"
            "cells = []\n"
            "seqkit_cupy.register_cells(register=cells.append)\n"
            "print(' '.join(c.name for c in cells))\n"
            "print(seqkit_cupy.CupyBackend.unavailable_reason())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ,
                              "PYTHONPATH": str(PLUGIN_ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    names, reason = out.stdout.strip().splitlines()
    assert names == "rnn gru lstm"
    # ModuleNotFoundError (an ImportError) here; the text kept, on one line
    assert reason.split(":")[0].endswith("Error") and "cupy" in reason


def test_backends_json_reports_cupy(cli_path):
    r = run_seqkit("backends", "--json", pythonpath=cli_path)
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert "cupy" in rows and rows["numpy"]["available"]
    if REASON is None:
        assert rows["cupy"]["available"] and rows["cupy"]["device"].startswith("cuda:")
    else:
        assert not rows["cupy"]["available"] and rows["cupy"]["reason"].strip()


@pytest.mark.skipif(REASON is None, reason="cupy is available here (the GPU tests cover it)")
def test_gradcheck_on_unavailable_cupy_is_one_error_line(cli_path):
    r = run_seqkit("gradcheck", "-b", "cupy", pythonpath=cli_path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "unavailable" in lines[0], r.stderr
    assert "cupy" in lines[0] and "pip install" in lines[0]


# -- on a GPU: the same numbers as the NumPy backend ---------------------------------
T, B, N_X, N_A = 7, 5, 4, 8
CELLS = [("rnn", "tanh"), ("rnn", "relu"), ("gru", "tanh"), ("lstm", "tanh")]


def _run(backend, cell, nonlinearity, bidirectional, num_layers, lengths, seed=3):
    layer = CLASSES[cell](N_X, N_A, num_layers=num_layers, bidirectional=bidirectional,
                          nonlinearity=nonlinearity, backend=backend, dtype="float32", seed=seed)
    rng = np.random.default_rng(seed + 1)
    D, n_state = (2 if bidirectional else 1), (2 if cell == "lstm" else 1)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    x = f32(T, B, N_X)
    h0 = [f32(num_layers * D, B, N_A) * 0.5 for _ in range(n_state)]
    dy = f32(T, B, D * N_A)
    dh = [f32(num_layers * D, B, N_A) for _ in range(n_state)]
    y, state = layer.forward(x, lengths, tuple(h0) if n_state == 2 else h0[0])
    state = state if n_state == 2 else (state,)
    layer.zero_grad()
    dx = layer.backward(dy, tuple(dh) if n_state == 2 else dh[0])
    d0 = layer.d_state0 if n_state == 2 else (layer.d_state0,)
    to = layer.backend.to_numpy
    arrays = {"y": y, "dx": dx, **{f"state_n[{j}]": s for j, s in enumerate(state)},
              **{f"d_state0[{j}]": g for j, g in enumerate(d0)},
              **{f"grad {k}": g for k, g in layer.grads().items()}}
    return {k: to(v) for k, v in arrays.items()}


@pytest.mark.gpu
@pytest.mark.parametrize("pattern", ["equal", "ragged", "one"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("cell,nonlinearity", CELLS, ids=["rnn-tanh", "rnn-relu", "gru", "lstm"])
def test_matches_numpy_backend(cell, nonlinearity, bidirectional, num_layers, pattern):
    lengths = lengths_for(pattern, T, B)
    ref = _run("numpy", cell, nonlinearity, bidirectional, num_layers, lengths)
    got = _run("cupy", cell, nonlinearity, bidirectional, num_layers, lengths)
    assert got.keys() == ref.keys()
    for name in ref:
        assert got[name].dtype == np.float32, name
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-4, atol=1e-4, err_msg=name)
    padded = np.arange(T)[:, None] >= lengths[None, :]
    assert np.all(got["y"][padded] == 0)


@pytest.mark.gpu
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_checkpoint_from_cupy_loads_into_numpy(cell, tmp_path):
    gpu = CLASSES[cell](N_X, N_A, num_layers=2, bidirectional=True, backend="cupy", seed=7)
    save_checkpoint(tmp_path / "ck.npz", gpu.state_dict(), {"cell": cell})
    arrays, manifest = load_checkpoint(tmp_path / "ck.npz")
    cpu = CLASSES[cell](N_X, N_A, num_layers=2, bidirectional=True, backend="numpy", seed=8)
    cpu.load_state_dict(arrays)
    x = np.random.default_rng(0).standard_normal((T, B, N_X)).astype(np.float32)
    lengths = lengths_for("one", T, B)
    y_gpu, _ = gpu.forward(x, lengths)
    y_cpu, _ = cpu.forward(x, lengths)
    assert manifest["cell"] == cell and type(y_gpu).__module__.startswith("cupy")
    np.testing.assert_allclose(gpu.backend.to_numpy(y_gpu), y_cpu, rtol=1e-4, atol=1e-5)


@pytest.mark.gpu
def test_backend_basics():
    from seqkit.backend import get_backend

    be = get_backend("cupy")
    xp = be.xp
    assert be.device.startswith("cuda:")
    r = be.rng(0).random((3, 4), dtype=np.float32)
    assert r.dtype == np.float32 and isinstance(be.to_numpy(r), np.ndarray)
    assert np.array_equal(be.to_numpy(be.rng(5).random(6)), be.to_numpy(be.rng(5).random(6)))
    target = xp.zeros((4, 2), dtype=xp.float64)
    be.scatter_add(target, xp.asarray([1, 3, 1]), xp.ones((3, 2)))
    np.testing.assert_array_equal(be.to_numpy(target)[:, 0], [0, 2, 0, 1])
    be.synchronize()
