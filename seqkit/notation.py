"""The course's parameter dictionaries and array layout, to and from seqkit's.

The course's notebook ("Building your Recurrent Neural Network - Step by Step")
keeps one example per column and time last; seqkit (like PyTorch) is time-major:

    course x : (n_x, m, T_x), x[:, :, t] = x<t> of m examples    seqkit x : (T, B, n_x)
    course a0 : (n_a, m)                                         seqkit h0 : (1, B, n_a)

and names one cell's parameters after the lecture's symbols:

    rnn   Wax (n_a, n_x), Waa (n_a, n_a), ba (n_a, 1); Wya (n_y, n_a), by (n_y, 1)
    lstm  Wf, Wi, Wc, Wo (n_a, n_a + n_x) acting on [a<t-1>; x<t>], bf, bi, bc, bo (n_a, 1);
          Wy (n_y, n_a), by (n_y, 1)
    gru   Wu, Wr, Wc (n_a, n_a + n_x) acting on [c<t-1>; x<t>] (the lecture's full GRU;
          without Wr/br it is the simplified one), bu, br, bc (n_a, 1); Wy, by

seqkit stores one layer and direction under PyTorch's names (``weight_ih_l0``
(G*n_a, n_x), ``weight_hh_l0`` (G*n_a, n_a), ``bias_ih_l0``, ``bias_hh_l0``),
gate blocks in PyTorch's order (lstm i, f, g, o; gru r, z, n), and the output
layer as a ``Dense`` (``weight``, ``bias``). The course has one bias per gate:
it goes into ``bias_ih`` and ``bias_hh`` is zero; back, b = b_ih + b_hh.

    lstm: Γ_u = i (the course's ``Wi``), Γ_f = f, c~ = g (``Wc``), Γ_o = o;
          W_gate = [W_hh block | W_ih block]  (a<t-1> first, then x<t>)
    gru:  Γ_r = r, c~ = n, Γ_u = 1 - z, so z's weights and bias are minus the course's Γ_u ones
          (σ(-v) = 1 - σ(v)). One difference is not a renaming: the lecture resets the
          state before W_c (W_c [Γ_r * c<t-1>, x<t>]), PyTorch after it
          (r * (W_hn h + b_hn)). Both agree when Γ_r = 1, i.e. for the simplified GRU,
          which ``from_course`` builds with a reset bias of +40 (σ(40) is 1.0 in float64).
"""
from __future__ import annotations

import numpy as np

from .errors import SeqkitError
from .layers import Dense, Recurrent

#: the course's keys of each cell, recurrent part first, then the output layer
COURSE_KEYS = {
    "rnn": ("Wax", "Waa", "ba"),
    "lstm": ("Wf", "bf", "Wi", "bi", "Wc", "bc", "Wo", "bo"),
    "gru": ("Wu", "bu", "Wr", "br", "Wc", "bc"),
}
HEAD_KEYS = {"rnn": ("Wya", "by"), "lstm": ("Wy", "by"), "gru": ("Wy", "by")}
#: PyTorch's gate blocks, in order, as the course's gate names (see the module docstring)
GATE_BLOCKS = {"rnn": ("a",), "lstm": ("i", "f", "c", "o"), "gru": ("r", "u", "c")}
#: reset-gate bias that makes σ exactly 1.0: the simplified GRU without Γ_r
SATURATED_RESET = 40.0


# -- arrays: the course's (n, m, T_x) and seqkit's (T, B, n) -------------------------------
def to_time_major(a) -> np.ndarray:
    """The course's (n, m, T_x) -> seqkit's (T_x, m, n); (n, m) -> (m, n)."""
    a = np.asarray(a)
    if a.ndim not in (2, 3):
        raise SeqkitError(f"expected a course array (n, m) or (n, m, T_x), got shape {a.shape}")
    return np.ascontiguousarray(a.T)


def to_course_layout(a) -> np.ndarray:
    """seqkit's (T, B, n) -> the course's (n, B, T); (B, n) -> (n, B)."""
    a = np.asarray(a)
    if a.ndim not in (2, 3):
        raise SeqkitError(f"expected a seqkit array (B, n) or (T, B, n), got shape {a.shape}")
    return np.ascontiguousarray(a.T)


# -- parameters ------------------------------------------------------------------------------
def guess_cell(params: dict) -> str:
    """The cell whose course keys ``params`` holds (the simplified GRU needs no Wr, br)."""
    for cell in ("lstm", "rnn", "gru"):
        needed = set(COURSE_KEYS[cell]) - ({"Wr", "br"} if cell == "gru" else set())
        if needed <= set(params):
            return cell
    raise SeqkitError("not a course parameter dict: expected the keys of one of "
                      + "; ".join(f"{c}: {', '.join(k)}" for c, k in COURSE_KEYS.items()))


def _column(b, name) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64)
    if b.ndim == 2 and b.shape[1] == 1:
        return b[:, 0]
    if b.ndim != 1:
        raise SeqkitError(f"course bias {name} must be (n, 1) or (n,), got shape {b.shape}")
    return b


def from_course(params: dict, cell: str | None = None) -> tuple[dict, dict | None]:
    """The course's dict -> (the recurrent layer's state_dict, the Dense head's or None).

    The state_dict fits ``Recurrent(cell, n_x, n_a)`` (one layer, one direction)."""
    cell = cell or guess_cell(params)
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    missing = [k for k in COURSE_KEYS[cell] if k not in p and not (cell == "gru" and k in ("Wr", "br"))]
    if missing:
        raise SeqkitError(f"the course's {cell} dict lacks {', '.join(missing)}")
    if cell == "rnn":
        n_a = p["Waa"].shape[0]
        if p["Waa"].shape != (n_a, n_a) or p["Wax"].shape[0] != n_a:
            raise SeqkitError(f"Waa must be (n_a, n_a) and Wax (n_a, n_x), got "
                              f"{p['Waa'].shape} and {p['Wax'].shape}")
        W_hh, W_ih, b = p["Waa"], p["Wax"], _column(p["ba"], "ba")
    else:
        W_hh, W_ih, b = _gates_from_course(cell, p)
    sd = {"weight_ih_l0": W_ih, "weight_hh_l0": W_hh, "bias_ih_l0": b,
          "bias_hh_l0": np.zeros_like(b)}
    wy, by = HEAD_KEYS[cell]
    head = None
    if wy in p and by in p:
        head = {"weight": p[wy], "bias": _column(p[by], by)}
    return sd, head


def _gates_from_course(cell: str, p: dict):
    """Stack the course's per-gate [W_hh block | W_ih block] matrices in PyTorch's order."""
    first = p["Wc"]
    n_a = first.shape[0]
    if cell == "gru" and "Wr" not in p:
        # the simplified GRU: no reset gate, i.e. Γ_r = σ(+40) = 1.0 exactly
        p = {**p, "Wr": np.zeros_like(first), "br": np.full((n_a, 1), SATURATED_RESET)}
    rows_hh, rows_ih, biases = [], [], []
    for gate in GATE_BLOCKS[cell]:
        W, b = p[f"W{gate}"], _column(p[f"b{gate}"], f"b{gate}")
        if W.shape != first.shape or W.shape[1] <= n_a or b.shape != (n_a,):
            raise SeqkitError(f"W{gate} must be (n_a, n_a + n_x) like Wc {first.shape} and "
                              f"b{gate} (n_a, 1), got {W.shape} and {b.shape}")
        sign = -1.0 if gate == "u" else 1.0  # PyTorch's z is the course's 1 - Γ_u
        rows_hh.append(sign * W[:, :n_a])
        rows_ih.append(sign * W[:, n_a:])
        biases.append(sign * b)
    return np.concatenate(rows_hh), np.concatenate(rows_ih), np.concatenate(biases)


def to_course(state_dict: dict, head: dict | None = None, cell: str = "rnn", layer: int = 0,
              gradients: bool = False) -> dict:
    """A layer's state_dict (and a Dense head's) -> the course's dict, biases as (n, 1).

    ``gradients=True`` maps a ``grads()`` dict instead, to the course's gradient
    names (dWax, dWaa, dba, ...): a bias's gradient is then b_ih's (b_hh's is the
    same number for rnn and lstm), not the sum b_ih + b_hh that a parameter is."""
    if cell not in COURSE_KEYS:
        raise SeqkitError(f"the course writes no {cell!r} cell (it has: {', '.join(COURSE_KEYS)})")
    sfx = f"_l{layer}"
    try:
        W_ih, W_hh = (np.asarray(state_dict[f"{n}{sfx}"], dtype=np.float64)
                      for n in ("weight_ih", "weight_hh"))
        b_ih, b_hh = (np.asarray(state_dict[f"{n}{sfx}"], dtype=np.float64)
                      for n in ("bias_ih", "bias_hh"))
    except KeyError as e:
        raise SeqkitError(f"state_dict has no {e.args[0]!r}: not a recurrent layer's") from None
    n_a = W_hh.shape[1]
    G = len(GATE_BLOCKS[cell])
    if W_hh.shape[0] != G * n_a:
        raise SeqkitError(f"a {cell} layer has {G} gate block(s): weight_hh{sfx} should be "
                          f"({G * n_a}, {n_a}), got {W_hh.shape}")
    d = "d" if gradients else ""
    b = b_ih if gradients else b_ih + b_hh
    out = {}
    if cell == "rnn":
        out.update({f"{d}Wax": W_ih, f"{d}Waa": W_hh, f"{d}ba": b[:, None]})
    else:
        if cell == "gru" and not gradients and np.any(b_hh[2 * n_a:]):
            raise SeqkitError("this GRU has a nonzero b_hn (bias_hh's n block), which PyTorch "
                              "multiplies by r; the lecture's GRU has no place for it")
        for k, gate in enumerate(GATE_BLOCKS[cell]):
            rows = slice(k * n_a, (k + 1) * n_a)
            sign = -1.0 if gate == "u" else 1.0
            out[f"{d}W{gate}"] = sign * np.concatenate([W_hh[rows], W_ih[rows]], axis=1)
            out[f"{d}b{gate}"] = sign * b[rows, None]
    if head is not None:
        wy, by = HEAD_KEYS[cell]
        out[f"{d}{wy}"] = np.asarray(head["weight"], dtype=np.float64)
        out[f"{d}{by}"] = np.asarray(head["bias"], dtype=np.float64)[:, None]
    return out


# -- the simplified notation W_a = [W_aa | W_ax] ------------------------------------------
def weight_a(state_dict: dict, layer: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(W_a, b_a)`` of a vanilla RNN layer: W_a = [W_aa | W_ax] (n_a, n_a + n_x),
    b_a = b_ih + b_hh, so a<t> = tanh(W_a [a<t-1>; x<t>] + b_a)."""
    course = to_course(state_dict, cell="rnn", layer=layer)
    return np.concatenate([course["Waa"], course["Wax"]], axis=1), course["ba"][:, 0]


def from_weight_a(W_a, b_a) -> dict:
    """A vanilla RNN layer's state_dict from W_a = [W_aa | W_ax] (n_a, n_a + n_x) and b_a."""
    W_a, b_a = np.asarray(W_a, dtype=np.float64), _column(b_a, "b_a")
    n_a = W_a.shape[0]
    if W_a.ndim != 2 or W_a.shape[1] <= n_a or b_a.shape != (n_a,):
        raise SeqkitError(f"W_a must be (n_a, n_a + n_x) and b_a (n_a,), got {W_a.shape}, "
                          f"{b_a.shape}")
    return from_course({"Waa": W_a[:, :n_a], "Wax": W_a[:, n_a:], "ba": b_a}, "rnn")[0]


# -- layers built from a course dict -------------------------------------------------------
def course_layers(params: dict, cell: str | None = None, backend=None, dtype: str = "float64"):
    """``(recurrent layer, Dense head or None)`` holding the course's parameters:
    the course's cell runs on seqkit's own layers and kernels."""
    cell = cell or guess_cell(params)
    sd, head_sd = from_course(params, cell)
    n_a, n_x = sd["weight_hh_l0"].shape[1], sd["weight_ih_l0"].shape[1]
    layer = Recurrent(cell, n_x, n_a, backend=backend, dtype=dtype)
    layer.load_state_dict(sd)
    head = None
    if head_sd is not None:
        head = Dense(n_a, head_sd["weight"].shape[0], backend=backend, dtype=dtype)
        head.load_state_dict(head_sd)
    return layer, head
