"""The conformance kit: the bundled backends pass it (here, in this process), a broken
one fails it saying where (a fake plugin, in a fresh pytest), and the kit's pytest
plugin, ``seqkit plugins --requirements`` and ``SEQKIT_TRACE_PLUGINS`` work as documented.

This module is itself wired to the kit: the star import brings its tests, the
marker names the targets, so the NumPy backend's kernels (every cell with a numpy
kernel, the example plugin's ``indrnn`` included when installed) run the whole kit,
and the CuPy backend's are skipped with the reason where CuPy cannot run.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from seqkit import plugins
from seqkit.conformance.suite import *  # noqa: F403  (the kit's tests)
from seqkit.conformance.targets import Kernel, Problem, plan
from seqkit.testing import run_seqkit

pytestmark = pytest.mark.seqkit(backend=["numpy", "cupy"])

BROKEN = '''
import numpy as np

from seqkit import Backend, hookimpl
from seqkit.cells import Cell, get_cell


class BrokenBackend(Backend):
    """NumPy arrays; the GRU's kernels are NumPy's, but one gate's gradient is wrong."""
    name = "broken"

    @property
    def xp(self):
        return np


def gru_forward(params, x, lengths, state0):
    return get_cell("gru").kernels_for("numpy")[0](params, x, lengths, state0)


def gru_backward(cache, da, d_state_n):
    dx, d_state0, dparams = get_cell("gru").kernels_for("numpy")[1](cache, da, d_state_n)
    n_a = dparams["W_hh"].shape[1]
    dW_hh = dparams["W_hh"].copy()
    dW_hh[n_a:2 * n_a] *= 1.5          # the update gate z's block: a wrong gradient
    return dx, d_state0, {**dparams, "W_hh": dW_hh}


@hookimpl
def register_backends(register):
    register(BrokenBackend)


@hookimpl
def register_cells(register):
    register(Cell("gru", gates=3, backend="broken", forward=gru_forward, backward=gru_backward))
'''


def run_pytest(args, cwd, pythonpath=None, env=None):
    """pytest in a fresh process, loading only the kit's plugin, by its entry-point name
    (``-p seqkit``, as the docs say to where plugin autoloading is off)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SEQKIT_", "PYTEST_"))}
    full.update(env or {}, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    if pythonpath:
        full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), full.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "seqkit", *args],
                          cwd=cwd, capture_output=True, text=True, env=full, timeout=600)


@pytest.fixture
def broken_plugin(tmp_path):
    """A fake backend plugin seqkit-broken 0.1.0 (dist-info + module) in tmp_path."""
    (tmp_path / "seqkit_broken.py").write_text(BROKEN)
    info = tmp_path / "seqkit_broken-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: seqkit-broken\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[seqkit]\nbroken = seqkit_broken\n")
    return tmp_path


def test_a_broken_backend_fails_the_kit_naming_cell_parameter_and_error(broken_plugin):
    r = run_pytest(["--seqkit-backend", "broken", "-q", "-rfs"], cwd=broken_plugin,
                   pythonpath=broken_plugin, env={"SEQKIT_LOAD_PLUGINS": "numpy,broken"})
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    failed = [ln for ln in out.splitlines() if ln.startswith("FAILED")]
    assert failed and all("test_gradients[" in ln or "test_agrees_with_numpy[" in ln for ln in failed), out
    # the wrong block is weight_hh's: every failing case says so, with the relative error
    grads = [ln for ln in out.splitlines() if "the gradient of" in ln and "against central differences" in ln]
    assert grads, out
    assert all("cell 'gru' on backend 'broken'" in ln and "weight_hh_l" in ln for ln in grads), grads
    assert any("the gradient of weight_hh_l0 is off by relative error" in ln for ln in grads), grads
    assert "cell 'gru' on backend 'broken' in float64 against numpy in float64: dW_hh is off by " \
           "relative error" in out, out
    passed = int(out.rsplit(" passed", 1)[0].rsplit(" ", 1)[-1])
    assert passed >= 10, out   # the contract, padding, seeds, services... hold


def test_the_kit_runs_from_the_command_line_for_a_cell(tmp_path):
    r = run_pytest(["--seqkit-cell", "rnn", "--seqkit-backend", "numpy", "-q", "-k", "not gradients"],
                   cwd=tmp_path, env={"SEQKIT_LOAD_PLUGINS": "numpy"})
    assert r.returncode == 0, r.stdout + r.stderr
    # the kit alone (no paths given): both rnn variants, every test but the gradient grid
    assert "failed" not in r.stdout, r.stdout
    assert int(r.stdout.split(" passed")[0].split()[-1]) >= 20, r.stdout


def test_unknown_names_fail_saying_so():
    kernels, backends = plan(["nosuch"], [])
    assert all(isinstance(p.values[0], Problem) for p in kernels + backends)
    assert "backend 'nosuch' is not installed" in kernels[0].values[0]
    (p,), _ = plan([], ["nosuchcell"])
    assert "cell 'nosuchcell' is not registered: is its plugin installed?" in p.values[0]


def test_cupy_cases_skip_with_the_reason_here():
    from seqkit import available_backends

    reason = available_backends().get("cupy")
    if reason is None:
        pytest.skip("CuPy runs here: its kit cases run instead")
    kernels, backends = plan(["cupy"], [])
    assert len(kernels) == 1 and len(backends) == 1
    (mark,) = kernels[0].marks
    assert mark.name == "skip" and mark.kwargs["reason"] == f"backend 'cupy' unavailable: {reason}"


def test_a_cell_target_covers_every_option_combination():
    kernels, _ = plan(["numpy"], ["rnn"])
    assert [p.values[0] for p in kernels] == [Kernel("numpy", "rnn", (("nonlinearity", "tanh"),)),
                                              Kernel("numpy", "rnn", (("nonlinearity", "relu"),))]


# -- seqkit plugins --requirements, SEQKIT_TRACE_PLUGINS ----------------------------

def test_requirements_lists_pip_lines(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("\n".join(["allosaurus", "ankylosaurus", "brachiosaurus", "diplodocus"] * 3) + "\n")
    out = tmp_path / "m.npz"
    r = run_seqkit("train", "chars", "--data", names, "--cell", "gru", "--hidden", "8", "--epochs", "1",
                   "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    r = run_seqkit("plugins", "--requirements", out)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["seqkit-numpy==0.1.0            # cell gru",
                                     "seqkit-text==0.1.0             # task chars"]
    r = run_seqkit("plugins", "--requirements", out, "--json")
    rows = json.loads(r.stdout)
    assert rows[1] == {"distribution": "seqkit-text", "version": "0.1.0", "provides": ["task chars"],
                       "installed": "0.1.0"}
    r = run_seqkit("plugins", "--requirements", tmp_path / "missing.npz")
    assert r.returncode == 1 and r.stderr.startswith("Error: checkpoint") and len(r.stderr.splitlines()) == 1


def test_trace_plugins_logs_every_hook_call_with_its_plugin():
    r = run_seqkit("cells", env={"SEQKIT_TRACE_PLUGINS": "1", "SEQKIT_LOAD_PLUGINS": "numpy,text"})
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert "seqkit trace: plugin 'numpy' (seqkit-numpy 0.1.0) [load]" in lines
    assert "seqkit trace: register_cells plugin 'numpy' (seqkit-numpy 0.1.0) [hook]" in lines
    assert "seqkit trace: register_tasks plugin 'text' (seqkit-text 0.1.0) [hook]" in lines
    assert all(ln.startswith("seqkit trace: ") for ln in lines), lines
    quiet = run_seqkit("cells", env={"SEQKIT_LOAD_PLUGINS": "numpy,text"})
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_trace_plugins_covers_calls_through_pluggy(monkeypatch, capsys):
    monkeypatch.setenv("SEQKIT_TRACE_PLUGINS", "1")
    monkeypatch.setenv("SEQKIT_LOAD_PLUGINS", "numpy")
    plugins.reset()
    try:
        plugins.load_plugins()
        plugins.pm.hook.register_backends(register=lambda cls: None)
        err = capsys.readouterr().err
        assert "seqkit trace: plugin 'numpy' (seqkit-numpy 0.1.0) [load]" in err
        assert "seqkit trace:   register_backends [hook]" in err     # pluggy's own monitor
    finally:
        monkeypatch.delenv("SEQKIT_TRACE_PLUGINS")
        monkeypatch.delenv("SEQKIT_LOAD_PLUGINS")
        plugins.reset()
        plugins.load_plugins()          # tracing off again
        plugins.reset()
    plugins.registry()
    assert capsys.readouterr().err == ""


def test_the_pytest_plugin_is_an_entry_point_of_the_core():
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["pytest11"] == {"seqkit": "seqkit.conformance.plugin"}
    assert all(g.startswith("templates/") for g in pyproject["tool"]["setuptools"]["package-data"]["seqkit"])
