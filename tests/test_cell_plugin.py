"""A third-party cell arriving as a real installed distribution: the MGU fixture.

``tests/plugins_fixtures/seqkit_mgu`` is a tiny cell plugin (the minimal gated
unit, NumPy kernels). In process, its kernels are checked directly against
central differences and the ragged-length contract; in a subprocess, the real
CLI finds it through a ``seqkit_mgu-0.1.0.dist-info`` entry point and lists,
gradchecks, trains and samples with it, and a checkpoint of it fails cleanly
where the plugin is not installed.
"""
from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from seqkit.checkpoint import load_checkpoint
from seqkit.testing import gradcheck, run_seqkit

FIXTURES = Path(__file__).parent / "plugins_fixtures"
T, B, N_X, N_A = 5, 4, 3, 4
# ragged, unsorted, with a length-1 example and one of full length
RAGGED = np.array([3, 5, 1, 4], dtype=np.int64)
EQUAL = np.full(B, T, dtype=np.int64)


@pytest.fixture(scope="module")
def mgu():
    """The fixture's kernel module, imported directly (not through the registry)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(FIXTURES))
        return importlib.import_module("seqkit_mgu.kernel")


@pytest.fixture
def mgu_path(tmp_path):
    """A PYTHONPATH on which seqkit-mgu 0.1.0 is an installed distribution: its
    dist-info in tmp_path, its package in tests/plugins_fixtures."""
    info = tmp_path / "seqkit_mgu-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: seqkit-mgu\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[seqkit]\nmgu = seqkit_mgu\n")
    return os.pathsep.join([str(tmp_path), str(FIXTURES)])


def make_problem(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    params = {"W_ih": rng.normal(0, 0.6, (2 * N_A, N_X)), "W_hh": rng.normal(0, 0.6, (2 * N_A, N_A)),
              "b_ih": rng.normal(0, 0.5, 2 * N_A), "b_hh": rng.normal(0, 0.5, 2 * N_A)}
    params = {k: v.astype(dtype) for k, v in params.items()}
    x = rng.normal(size=(T, B, N_X)).astype(dtype)
    a0 = rng.normal(0, 0.5, (B, N_A)).astype(dtype)
    da = rng.normal(size=(T, B, N_A)).astype(dtype)
    da_n = rng.normal(size=(B, N_A)).astype(dtype)
    return params, x, a0, da, da_n


def reference(params, x, length, a0):
    """The MGU equations step by step for one example (x (T, n_x), a0 (n_a,))."""
    def sigmoid(v):
        return 1 / (1 + np.exp(-v))

    W_if, W_in = np.split(params["W_ih"], 2)
    W_hf, W_hn = np.split(params["W_hh"], 2)
    b_if, b_in = np.split(params["b_ih"], 2)
    b_hf, b_hn = np.split(params["b_hh"], 2)
    a, out = a0, np.zeros((x.shape[0], a0.shape[0]))
    for t in range(length):
        f = sigmoid(W_if @ x[t] + b_if + W_hf @ a + b_hf)
        n = np.tanh(W_in @ x[t] + b_in + W_hn @ (f * a) + b_hn)
        a = (1 - f) * a + f * n
        out[t] = a
    return out, a


@pytest.mark.parametrize("lengths", [EQUAL, RAGGED], ids=["equal", "ragged"])
def test_forward_matches_the_equations(mgu, lengths):
    params, x, a0, _, _ = make_problem()
    a, (a_n,), _ = mgu.mgu_forward(params, x, lengths, (a0,))
    for b in range(B):
        out, last = reference(params, x[:, b], lengths[b], a0[b])
        np.testing.assert_allclose(a[:, b], out, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(a_n[b], last, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lengths", [EQUAL, RAGGED, np.array([1], dtype=np.int64)],
                         ids=["equal", "ragged", "length1"])
@pytest.mark.parametrize("with_da_n", [True, False], ids=["da_n", "no-da_n"])
def test_gradients_match_central_differences(mgu, lengths, with_da_n):
    params, x, a0, da, da_n = make_problem(seed=1)
    bs = slice(0, len(lengths))
    x, a0, da, da_n = x[:, bs].copy(), a0[bs].copy(), da[:, bs].copy(), da_n[bs].copy()
    wrt = dict(params, x=x, a0=a0)

    def loss():
        a, (a_n,), _ = mgu.mgu_forward(params, x, lengths, (a0,))
        return float(np.sum(a * da) + (np.sum(a_n * da_n) if with_da_n else 0.0))

    _, _, cache = mgu.mgu_forward(params, x, lengths, (a0,))
    dx, (da0,), dparams = mgu.mgu_backward(cache, da, (da_n if with_da_n else None,))
    errors = gradcheck(loss, wrt, dict(dparams, x=dx, a0=da0), max_entries=None)
    assert set(errors) == {"W_ih", "W_hh", "b_ih", "b_hh", "x", "a0"}
    assert max(errors.values()) < 1e-7, errors


def test_padded_steps_output_zeros_carry_the_state_and_get_no_gradient(mgu):
    params, x, a0, da, da_n = make_problem(seed=2)
    a, (a_n,), cache = mgu.mgu_forward(params, x, RAGGED, (a0,))
    dx, (da0,), _ = mgu.mgu_backward(cache, da, (da_n,))
    for b, L in enumerate(RAGGED):
        assert not a[L:, b].any() and not dx[L:, b].any()
        # the example alone, cut to its length: same outputs, same final state, same gradients
        xb = x[:L, b:b + 1].copy()
        a_b, (a_n_b,), cache_b = mgu.mgu_forward(params, xb, np.array([L]), (a0[b:b + 1],))
        dx_b, (da0_b,), _ = mgu.mgu_backward(cache_b, da[:L, b:b + 1], (da_n[b:b + 1],))
        np.testing.assert_allclose(a[:L, b], a_b[:, 0], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(a_n[b], a_n_b[0], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(a_n[b], a[L - 1, b])
        np.testing.assert_allclose(dx[:L, b], dx_b[:, 0], rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(da0[b], da0_b[0], rtol=1e-10, atol=1e-13)
    # the gradient at padded steps is ignored
    da_padded = da.copy()
    for b, L in enumerate(RAGGED):
        da_padded[L:, b] = 1e3
    _, (da0_p,), dparams_p = mgu.mgu_backward(cache, da_padded, (da_n,))
    _, _, dparams = mgu.mgu_backward(cache, da, (da_n,))
    np.testing.assert_array_equal(da0_p, da0)
    for k in dparams:
        np.testing.assert_array_equal(dparams_p[k], dparams[k])


def test_float32_stays_float32_and_outputs_are_read_only(mgu):
    params, x, a0, da, da_n = make_problem(np.float32, seed=3)
    a, (a_n,), cache = mgu.mgu_forward(params, x, RAGGED, (a0,))
    dx, (da0,), dparams = mgu.mgu_backward(cache, da, (da_n,))
    assert {v.dtype for v in (a, a_n, dx, da0, *dparams.values())} == {np.dtype(np.float32)}
    assert {k: v.shape for k, v in dparams.items()} == {k: v.shape for k, v in params.items()}
    with pytest.raises(ValueError):
        a[0, 0, 0] = 1.0
    a64, _, _ = mgu.mgu_forward({k: v.astype(np.float64) for k, v in params.items()},
                                x.astype(np.float64), RAGGED, (a0.astype(np.float64),))
    np.testing.assert_allclose(a, a64, rtol=1e-5, atol=1e-6)


# -- the real CLI, with seqkit-mgu installed as a distribution ----------------

def write_names(path: Path, n: int = 200, seed: int = 0) -> Path:
    """``n`` made-up names from a few syllables, one per line."""
    rng = np.random.default_rng(seed)
    syllables = ["ka", "ro", "lin", "mi", "sa", "tor", "el", "vi", "na", "bo", "rik", "au", "den", "sy"]
    names = ["".join(rng.choice(syllables, rng.integers(2, 4))).capitalize() for _ in range(n)]
    path.write_text("\n".join(names) + "\n")
    return path


def test_cli_lists_the_cell(mgu_path):
    r = run_seqkit("cells", "--json", pythonpath=mgu_path)
    assert r.returncode == 0, r.stderr
    row = next(c for c in json.loads(r.stdout) if c["name"] == "mgu")
    assert row["gates"] == 2 and row["states"] == ["a"] and row["backends"] == ["numpy"]
    r = run_seqkit("cells", pythonpath=mgu_path)
    assert r.returncode == 0 and any(ln.startswith("mgu") for ln in r.stdout.splitlines())
    r = run_seqkit("plugins", "--json", pythonpath=mgu_path)
    assert '"seqkit-mgu"' in r.stdout and "register_cells" in r.stdout


def test_cli_gradcheck_of_the_cell(mgu_path):
    r = run_seqkit("gradcheck", "--cell", "mgu", pythonpath=mgu_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all cases within tolerance" in r.stdout
    assert "mgu" in r.stdout and "FAIL" not in r.stdout


def test_cli_trains_samples_and_needs_the_plugin_to_load(mgu_path, tmp_path):
    data = write_names(tmp_path / "names.txt")
    m = tmp_path / "m.npz"
    r = run_seqkit("train", "chars", "--data", data, "--cell", "mgu", "--hidden", "16",
                   "--epochs", "3", "--out", m, "-q", pythonpath=mgu_path)
    assert r.returncode == 0, r.stderr
    _, manifest = load_checkpoint(m)
    losses = [e["train_loss"] for e in manifest["history"]]
    assert len(losses) == 3 and losses[-1] < losses[0], losses

    r = run_seqkit("generate", m, "--seed", "1", pythonpath=mgu_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    again = run_seqkit("generate", m, "--seed", "1", pythonpath=mgu_path)
    assert again.stdout == r.stdout  # same seed, same sample

    # without seqkit-mgu on the path: a one-line error naming the cell
    r = run_seqkit("generate", m, "--seed", "1")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "mgu" in lines[0], r.stderr
    assert "needs cell 'mgu' from seqkit-mgu 0.1.0" in lines[0] and "pip install seqkit-mgu" in lines[0]
