"""The kit's tools: one kernel problem, the kernel run on it, and comparisons whose
failure message names the cell, the backend, the tensor and the relative error."""
from __future__ import annotations

import numpy as np
import pytest

from ..testing import TINY

T, B, N_X, N_A = 6, 5, 3, 4
#: ragged and unsorted, with a length-1 example, ties, and max < T (a step nobody runs)
RAGGED = np.array([3, 5, 1, 4, 5], dtype=np.int64)
#: relative error allowed against central differences (as ``seqkit gradcheck``)
GRAD_TOL = 1e-6
#: relative error allowed against the NumPy backend in float64 (float32: its own)
AGREE_TOL = {"float64": 1e-9, "float32": 2e-4}


def rel_error(got, want) -> float:
    """||got - want|| / (||got|| + ||want||): 0 when equal, 1 when unrelated."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf")
    scale = max(float(np.linalg.norm(got) + np.linalg.norm(want)), TINY)
    return float(np.linalg.norm(got - want)) / scale


def worst(errors: dict) -> tuple[str, float]:
    return max(errors.items(), key=lambda kv: kv[1])


def compare(what: str, got: dict, want: dict, tol: float) -> None:
    """Fail naming the worst tensor of ``got`` whose relative error to ``want`` is above ``tol``."""
    errors = {name: rel_error(got[name], want[name]) for name in want}
    name, err = worst(errors)
    if err > tol:
        above = ", ".join(f"{n} {e:.2e}" for n, e in sorted(errors.items()) if e > tol)
        pytest.fail(f"{what}: {name} is off by relative error {err:.2e} (tolerance {tol:g}; "
                    f"above it: {above})", pytrace=False)


def identical(what: str, got: dict, want: dict) -> None:
    """Fail naming the first tensor of ``got`` that is not bitwise ``want``."""
    for name in want:
        if not np.array_equal(got[name], want[name]):
            pytest.fail(f"{what}: {name} differs (relative error "
                        f"{rel_error(got[name], want[name]):.2e}); it must be identical",
                        pytrace=False)


def problem(cell_type, dtype="float64", lengths=RAGGED, seed=0, T=T, n_x=N_X, n_a=N_A) -> dict:
    """Host (NumPy) inputs of one kernel call for ``cell_type``: params, x, lengths,
    state0 and the upstream gradients da, d_state_n. Padded steps hold values too."""
    rng = np.random.default_rng(seed)
    G, S, B = cell_type.gates, cell_type.n_states, len(lengths)

    def normal(*shape, scale=1.0):
        return rng.normal(0, scale, shape).astype(dtype)

    params = {"W_ih": normal(G * n_a, n_x, scale=0.5), "W_hh": normal(G * n_a, n_a, scale=0.5),
              "b_ih": normal(G * n_a, scale=0.5), "b_hh": normal(G * n_a, scale=0.5)}
    return {"params": params, "x": normal(T, B, n_x), "lengths": np.asarray(lengths, dtype=np.int64),
            "state0": tuple(normal(B, n_a, scale=0.5) for _ in range(S)),
            "da": normal(T, B, n_a), "d_state_n": tuple(normal(B, n_a) for _ in range(S))}


def cast(p: dict, dtype) -> dict:
    """``problem``'s inputs in another float dtype (lengths stay int64)."""
    return {"params": {k: v.astype(dtype) for k, v in p["params"].items()},
            "x": p["x"].astype(dtype), "lengths": p["lengths"],
            "state0": tuple(s.astype(dtype) for s in p["state0"]), "da": p["da"].astype(dtype),
            "d_state_n": tuple(d.astype(dtype) for d in p["d_state_n"])}


def run(be, kernel, p: dict, d_state_n="given", raw: bool = False):
    """Forward then backward of ``kernel`` on backend ``be`` (backend arrays in, host
    arrays out): ``{"a", "state_n[j]", "dx", "d_state0[j]", "dW_ih", ...}``. With
    ``raw``, also the backend's own outputs ``(a, state_n, (dx, d_state0, dparams))``."""
    dev = {k: be.asarray(v) for k, v in p["params"].items()}
    state0 = tuple(be.asarray(s) for s in p["state0"])
    a, state_n, cache = be.cell_forward(kernel.cell, dev, be.asarray(p["x"]), p["lengths"], state0,
                                        **kernel.opts)
    if d_state_n == "given":
        d_n = tuple(be.asarray(d) for d in p["d_state_n"])
    else:
        d_n = tuple(None for _ in p["d_state_n"])
    grads = be.cell_backward(kernel.cell, cache, be.asarray(p["da"]), d_n)
    out = host(be, a, state_n, grads)
    return (out, (a, state_n, grads)) if raw else out


def host(be, a, state_n, grads) -> dict:
    dx, d_state0, dparams = grads
    out = {"a": be.to_numpy(a), "dx": be.to_numpy(dx)}
    out.update({f"state_n[{j}]": be.to_numpy(s) for j, s in enumerate(state_n)})
    out.update({f"d_state0[{j}]": be.to_numpy(d) for j, d in enumerate(d_state0)})
    out.update({f"d{k}": be.to_numpy(v) for k, v in dparams.items()})
    return out


def alone(p: dict, b: int) -> dict:
    """Example ``b`` of ``problem`` on its own, cut to its length."""
    L = int(p["lengths"][b])
    return {"params": p["params"], "x": p["x"][:L, b:b + 1].copy(), "lengths": np.array([L]),
            "state0": tuple(s[b:b + 1].copy() for s in p["state0"]),
            "da": p["da"][:L, b:b + 1].copy(), "d_state_n": tuple(d[b:b + 1].copy() for d in p["d_state_n"])}


def padded_mask(lengths, T: int) -> np.ndarray:
    """(T, B) True at padded steps, t >= lengths[b]."""
    return np.arange(T)[:, None] >= np.asarray(lengths)[None, :]


def layer_problem(layer, lengths, seed=0, T=7):
    """Random x, initial state(s), dy and d_state for a ``Recurrent`` layer (host arrays)."""
    rng = np.random.default_rng(seed)
    B, D = len(lengths), layer.num_directions
    shape = (layer.num_layers * D, B, layer.hidden_size)
    S = layer.cell_type.n_states
    return {"x": rng.standard_normal((T, B, layer.input_size)),
            "h0": tuple(rng.normal(0, 0.5, shape) for _ in range(S)),
            "dy": rng.standard_normal((T, B, D * layer.hidden_size)),
            "d_state": tuple(rng.standard_normal(shape) for _ in range(S))}


def layer_run(layer, lp: dict, lengths) -> dict:
    """A training forward and backward of ``layer`` (host arrays out)."""
    be = layer.backend
    h0 = tuple(be.asarray(h, dtype=layer.dtype) for h in lp["h0"])
    layer.zero_grad()
    y, state = layer.forward(be.asarray(lp["x"], dtype=layer.dtype), lengths, h0)
    state = state if isinstance(state, tuple) else (state,)
    dx = layer.backward(be.asarray(lp["dy"], dtype=layer.dtype),
                        tuple(be.asarray(d, dtype=layer.dtype) for d in lp["d_state"]))
    d0 = layer.d_state0 if isinstance(layer.d_state0, tuple) else (layer.d_state0,)
    out = {"y": be.to_numpy(y), "dx": be.to_numpy(dx)}
    out.update({f"state_n[{j}]": be.to_numpy(s) for j, s in enumerate(state)})
    out.update({f"d_state0[{j}]": be.to_numpy(d) for j, d in enumerate(d0)})
    out.update({f"d{k}": be.to_numpy(g) for k, g in layer.grads().items()})
    return out
