"""The NumPy kernels against PyTorch, central differences, and dtype rules.

Each test drives one kernel pair directly, as the plugin registers it (no
layers, no registry): forward, then backward with random upstream gradients
da and d_state_n, i.e. the gradient of the scalar
L = sum(a * da) + sum(state_n * d_state_n).
"""
from __future__ import annotations

import numpy as np
import pytest
from seqkit_numpy import register_cells

T, B, N_X, N_A = 6, 4, 3, 5
# ragged, unsorted, with a length-1 example and one of full length
LENGTHS = np.array([3, 6, 1, 4], dtype=np.int64)
CASES = [("rnn", "tanh"), ("rnn", "relu"), ("gru", "tanh"), ("lstm", "tanh")]
IDS = ["rnn-tanh", "rnn-relu", "gru", "lstm"]


def make_problem(cell, dtype=np.float64, seed=0, lengths=LENGTHS):
    rng = np.random.default_rng(seed)
    G = {"rnn": 1, "gru": 3, "lstm": 4}[cell]
    params = {
        "W_ih": rng.normal(0, 0.5, (G * N_A, N_X)),
        "W_hh": rng.normal(0, 0.5, (G * N_A, N_A)),
        "b_ih": rng.normal(0, 0.5, G * N_A),
        "b_hh": rng.normal(0, 0.5, G * N_A),
    }
    params = {k: v.astype(dtype) for k, v in params.items()}
    x = rng.normal(size=(T, B, N_X)).astype(dtype)
    n_states = 2 if cell == "lstm" else 1
    state0 = tuple(rng.normal(0, 0.5, (B, N_A)).astype(dtype) for _ in range(n_states))
    da = rng.normal(size=(T, B, N_A)).astype(dtype)
    d_state_n = tuple(rng.normal(size=(B, N_A)).astype(dtype) for _ in range(n_states))
    return params, x, np.asarray(lengths, dtype=np.int64), state0, da, d_state_n


def _registered():
    cells = []
    register_cells(register=cells.append)
    return {cell.name: cell for cell in cells}


CELLS = _registered()


def forward(cell, nonlinearity, params, x, lengths, state0):
    options = {"nonlinearity": nonlinearity} if "nonlinearity" in CELLS[cell].options else {}
    return CELLS[cell].forward(params, x, lengths, state0, **options)


def run(cell, nonlinearity, params, x, lengths, state0, da, d_state_n):
    a, state_n, cache = forward(cell, nonlinearity, params, x, lengths, state0)
    dx, d_state0, dparams = CELLS[cell].backward(cache, da, d_state_n)
    return a, state_n, dx, d_state0, dparams


def loss(cell, nonlinearity, params, x, lengths, state0, da, d_state_n):
    a, state_n, _ = forward(cell, nonlinearity, params, x, lengths, state0)
    from_states = sum(np.sum(s * d) for s, d in zip(state_n, d_state_n, strict=True))
    return float(np.sum(a * da) + from_states)


def torch_reference(cell, nonlinearity, params, x, lengths, state0, da, d_state_n):
    torch = pytest.importorskip("torch")
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    kw = {"dtype": torch.float64}
    if cell == "rnn":
        mod = torch.nn.RNN(N_X, N_A, nonlinearity=nonlinearity, **kw)
    else:
        mod = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell](N_X, N_A, **kw)
    with torch.no_grad():
        for k, v in params.items():
            getattr(mod, k.replace("W", "weight").replace("b_", "bias_") + "_l0").copy_(
                torch.from_numpy(v)
            )
    xt = torch.from_numpy(x).requires_grad_()
    s0 = [torch.from_numpy(s[None]).requires_grad_() for s in state0]
    packed = pack_padded_sequence(xt, torch.from_numpy(lengths), enforce_sorted=False)
    out, s_n = mod(packed, s0[0] if cell != "lstm" else tuple(s0))
    a, _ = pad_packed_sequence(out, total_length=T)
    s_n = (s_n,) if cell != "lstm" else s_n
    L = (a * torch.from_numpy(da)).sum()
    L = L + sum((s * torch.from_numpy(d[None])).sum() for s, d in zip(s_n, d_state_n, strict=True))
    L.backward()
    grads = {
        k: getattr(mod, k.replace("W", "weight").replace("b_", "bias_") + "_l0").grad.numpy()
        for k in params
    }
    return (
        a.detach().numpy(),
        [s.detach().numpy()[0] for s in s_n],
        xt.grad.numpy(),
        [s.grad.numpy()[0] for s in s0],
        grads,
    )


@pytest.mark.parametrize("cell,nonlinearity", CASES, ids=IDS)
@pytest.mark.parametrize("lengths", [LENGTHS, np.full(B, T)], ids=["ragged", "full"])
def test_matches_torch(cell, nonlinearity, lengths):
    problem = make_problem(cell, lengths=lengths)
    ref = torch_reference(cell, nonlinearity, *problem)
    a, state_n, dx, d_state0, dparams = run(cell, nonlinearity, *problem)
    tol = {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(a, ref[0], **tol)
    for s, s_ref in zip(state_n, ref[1], strict=True):
        np.testing.assert_allclose(s, s_ref, **tol)
    np.testing.assert_allclose(dx, ref[2], **tol)
    for d, d_ref in zip(d_state0, ref[3], strict=True):
        np.testing.assert_allclose(d, d_ref, **tol)
    for k in ("W_ih", "W_hh", "b_ih", "b_hh"):
        np.testing.assert_allclose(dparams[k], ref[4][k], err_msg=k, **tol)


@pytest.mark.parametrize("cell,nonlinearity", CASES, ids=IDS)
def test_padding_semantics(cell, nonlinearity):
    params, x, lengths, state0, da, d_state_n = make_problem(cell)
    a, state_n, dx, _, _ = run(cell, nonlinearity, params, x, lengths, state0, da, d_state_n)
    padded = np.arange(T)[:, None] >= lengths[None, :]           # (T, B)
    assert not a[padded].any() and not dx[padded].any()
    np.testing.assert_array_equal(state_n[0], a[lengths - 1, np.arange(B)])
    # whatever sits at padded steps of x and da must not matter
    x2, da2 = x.copy(), da.copy()
    x2[padded], da2[padded] = 1e3, 1e3
    again = run(cell, nonlinearity, params, x2, lengths, state0, da2, d_state_n)
    np.testing.assert_array_equal(again[0], a)
    np.testing.assert_array_equal(again[2], dx)


@pytest.mark.parametrize("cell,nonlinearity", CASES, ids=IDS)
def test_central_differences(cell, nonlinearity):
    problem = list(make_problem(cell, seed=1))
    params, x, lengths, state0, da, d_state_n = problem
    _, _, dx, d_state0, dparams = run(cell, nonlinearity, *problem)
    rng = np.random.default_rng(2)
    eps = 1e-6

    def check(arr, grad, name):
        for idx in zip(*(rng.integers(0, s, 3) for s in arr.shape), strict=True):
            old = arr[idx]
            arr[idx] = old + eps
            up = loss(cell, nonlinearity, *problem)
            arr[idx] = old - eps
            down = loss(cell, nonlinearity, *problem)
            arr[idx] = old
            numeric = (up - down) / (2 * eps)
            assert abs(numeric - grad[idx]) <= 1e-6 * (1 + abs(numeric)), (name, idx)

    for k, v in params.items():
        check(v, dparams[k], k)
    check(x, dx, "x")
    for j, (s, d) in enumerate(zip(state0, d_state0, strict=True)):
        check(s, d, f"state0[{j}]")


@pytest.mark.parametrize("cell,nonlinearity", CASES, ids=IDS)
def test_float32_stays_float32(cell, nonlinearity):
    p64 = make_problem(cell)
    p32 = make_problem(cell, dtype=np.float32)
    out64 = run(cell, nonlinearity, *p64)
    out32 = run(cell, nonlinearity, *p32)
    a, state_n, dx, d_state0, dparams = out32
    arrays = [a, *state_n, dx, *d_state0, *dparams.values()]
    assert all(arr.dtype == np.float32 for arr in arrays)
    refs = [out64[0], *out64[1], out64[2], *out64[3], *out64[4].values()]
    for arr, ref in zip(arrays, refs, strict=True):
        np.testing.assert_allclose(arr, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cell,nonlinearity", CASES, ids=IDS)
def test_no_state_gradient_and_read_only_output(cell, nonlinearity):
    params, x, lengths, state0, da, d_state_n = make_problem(cell)
    none = tuple(None for _ in d_state_n)
    zeros = tuple(np.zeros_like(d) for d in d_state_n)
    with_none = run(cell, nonlinearity, params, x, lengths, state0, da, none)
    with_zeros = run(cell, nonlinearity, params, x, lengths, state0, da, zeros)
    np.testing.assert_array_equal(with_none[2], with_zeros[2])
    for k in params:
        np.testing.assert_array_equal(with_none[4][k], with_zeros[4][k])
    # a may be a view of the cache: writing into it must fail, not corrupt backward
    with pytest.raises(ValueError):
        with_none[0][0, 0, 0] = 1.0


def test_registered_cells():
    assert {name: (c.gates, c.states, c.backend) for name, c in CELLS.items()} == {
        "rnn": (1, ("a",), "numpy"), "gru": (3, ("a",), "numpy"), "lstm": (4, ("a", "c"), "numpy")}
    assert CELLS["rnn"].options == {"nonlinearity": ("tanh", "relu")}
