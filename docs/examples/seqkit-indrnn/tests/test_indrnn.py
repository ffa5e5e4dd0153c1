"""The IndRNN kernels against its equations, then the real CLI with the plugin installed:
``seqkit cells``, ``seqkit gradcheck --cell indrnn``, training ``chars`` and a checkpoint
that names this distribution where the plugin is missing."""
from __future__ import annotations

import json

import numpy as np
import pytest
from seqkit_indrnn import CELL
from seqkit_indrnn.kernel import indrnn_backward, indrnn_forward

from seqkit.checkpoint import read_manifest
from seqkit.testing import run_seqkit

T, B, N_X, N_A = 5, 4, 3, 4
LENGTHS = np.array([3, 5, 1, 4])  # ragged, unsorted, a length 1


def problem(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    params = {"W_ih": rng.normal(0, 0.6, (N_A, N_X)), "W_hh": rng.normal(0, 0.6, (N_A, N_A)),
              "b_ih": rng.normal(0, 0.5, N_A), "b_hh": rng.normal(0, 0.5, N_A)}
    params = {k: v.astype(dtype) for k, v in params.items()}
    return params, rng.normal(size=(T, B, N_X)).astype(dtype), rng.normal(0, 0.5, (B, N_A)).astype(dtype)


@pytest.mark.parametrize("g", ["relu", "tanh"])
def test_forward_is_the_equations(g):
    params, x, a0 = problem()
    a, (a_n,), _ = indrnn_forward(params, x, LENGTHS, (a0,), nonlinearity=g)
    act = (lambda z: np.maximum(z, 0)) if g == "relu" else np.tanh
    w = np.diag(params["W_hh"])                      # w_aa: only the diagonal is used
    for b, L in enumerate(LENGTHS):
        h = a0[b]
        for t in range(L):
            h = act(params["W_ih"] @ x[t, b] + w * h + params["b_ih"] + params["b_hh"])
            np.testing.assert_allclose(a[t, b], h, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a_n[b], h, rtol=1e-12, atol=1e-12)
        assert not a[L:, b].any()


def test_off_diagonal_weights_get_no_gradient():
    params, x, a0 = problem(seed=1)
    a, _, cache = indrnn_forward(params, x, LENGTHS, (a0,))
    _, _, dparams = indrnn_backward(cache, np.ones_like(a), (None,))
    off = ~np.eye(N_A, dtype=bool)
    assert not dparams["W_hh"][off].any() and dparams["W_hh"][~off].any()


def test_declaration():
    assert (CELL.name, CELL.gates, CELL.states, CELL.backend) == ("indrnn", 1, ("a",), "numpy")
    assert CELL.options == {"nonlinearity": ("relu", "tanh")}


# -- the real CLI -------------------------------------------------------------------

def test_cli_lists_and_gradchecks_the_cell():
    r = run_seqkit("cells", "--json")
    assert r.returncode == 0, r.stderr
    row = next(c for c in json.loads(r.stdout) if c["name"] == "indrnn")
    assert row["backends"] == ["numpy"] and row["options"] == {"nonlinearity": ["relu", "tanh"]}
    r = run_seqkit("gradcheck", "--cell", "indrnn")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all cases within tolerance" in r.stdout and r.stdout.count("indrnn-relu") == 12


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``seqkit train chars --data dinos --cell indrnn``, briefly."""
    if "chars" not in json.dumps(json.loads(run_seqkit("tasks", "--json").stdout)):
        pytest.skip("the chars task (seqkit-text) is not installed")
    out = tmp_path_factory.mktemp("indrnn") / "m.npz"
    r = run_seqkit("train", "chars", "--data", "dinos", "--cell", "indrnn", "--nonlinearity", "relu",
                   "--hidden", "32", "--epochs", "3", "--batch-size", "64", "--out", out, "-q")
    assert r.returncode == 0, r.stderr
    return out


def test_trains_chars(trained):
    manifest = read_manifest(trained)
    losses = [e["train_loss"] for e in manifest["history"]]
    assert len(losses) == 3 and losses[-1] < losses[0], losses
    assert {"name": "indrnn", "distribution": "seqkit-indrnn", "version": "0.1.0"} in manifest["cells"]
    r = run_seqkit("generate", trained, "--seed", "1", "-n", "2")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2, r.stderr


def test_checkpoint_without_the_plugin_names_the_distribution(trained):
    r = run_seqkit("generate", trained, "--seed", "1", env={"SEQKIT_DISABLE_PLUGINS": "indrnn"})
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0] == (f"Error: {trained} needs cell 'indrnn' from seqkit-indrnn 0.1.0, which is not "
                        "installed (pip install seqkit-indrnn)")
    r = run_seqkit("plugins", "--requirements", trained, env={"SEQKIT_DISABLE_PLUGINS": "indrnn"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["seqkit-indrnn==0.1.0           # cell indrnn",
                                     "seqkit-text==0.1.0             # task chars"]
