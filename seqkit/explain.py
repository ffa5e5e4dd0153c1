"""The maths of ``seqkit explain``: one tiny seeded example, forward and BPTT, step
by step in the lecture's notation, every number from the backend's own kernels.

The example is the lecture's one-to-many language model: x<1> = 0, x<t> = y<t-1>
one-hot, ŷ<t> = softmax(W_y a<t> + b_y), L = Σ_t L<t> with L<t> = -log ŷ<t>[y<t>].

The loops are the course's ``rnn_forward`` and ``rnn_backward``: the backend's
cell kernel runs once per time step (a sequence of T_x = 1 from the previous
state), so what flows between the steps is in the open:

    forward   a<t>, c<t> = kernel(x<t>, a<t-1>, c<t-1>)            the state_n of the call
    backward  dL/da<t> = W_y^T dz<t> + (what step t+1 sends back)   dz<t> = ŷ<t> - y<t>
              dx<t>, dL/da<t-1>, dW<t> = kernel backward(dL/da<t>, dL/dc<t>)
              dW_a = Σ_t dW<t>                                      what each step adds

Chaining the one-step kernels is the chain rule, nothing more: no cell maths is
written here. The gates are read from the one-step forward caches (``GATES``).
"""
from __future__ import annotations

import numpy as np

from .backend import get_backend
from .cells import get_cell
from .errors import SeqkitError
from .examples import Kind
from .layers import Dense, Recurrent
from .layers.recurrent import KERNEL_TO_TORCH
from .losses import probabilities, softmax_cross_entropy

#: where a backend's one-step forward cache keeps the gate activations, and in which
#: block order (a kernel's cache is opaque by contract, so this is the one place that
#: knows; a backend or cell missing here is explained without its gates)
GATES = {
    ("numpy", "lstm"): ("g", "i", "f", "o"),
    ("cupy", "lstm"): ("i", "f", "g", "o"),
    ("numpy", "gru"): ("r", "z", "n"),
    ("cupy", "gru"): ("r", "z", "n"),
}
#: the lecture's names of PyTorch's gates (Γ_u of the GRU is 1 - z)
LECTURE_GATES = {"lstm": {"f": "gamma_f", "i": "gamma_u", "g": "c_tilde", "o": "gamma_o"},
                 "gru": {"r": "gamma_r", "z": "gamma_u", "n": "c_tilde"}}


def _host(a) -> np.ndarray:
    return np.asarray(a.get() if hasattr(a, "get") else a, dtype=np.float64)


class Steps:
    """One recurrent layer and direction run one time step per kernel call.

    layer : a one-layer, one-direction ``Recurrent``; x : (T, B, n_x) backend array.
    ``forward`` keeps each step's cache; ``backward`` walks them back, returning per
    step dL/da<t> (the total: from ŷ<t> and from step t+1), the gradient step t+1
    sends into c<t> (the course's ``dc_next``) and the kernel's parameter gradients
    of that step."""

    def __init__(self, layer: Recurrent):
        if layer.num_layers != 1 or layer.num_directions != 1:
            raise SeqkitError("explain follows one layer in one direction")
        self.layer, self.be = layer, layer.backend
        self.params = {k: layer.params[f"{name}_l0"] for k, name in KERNEL_TO_TORCH.items()}
        self.caches, self.states = [], []

    def forward(self, x, state0=None):
        """a : (T, B, n_a); self.states[t] is the state tuple after step t (1-based: t+1)."""
        B, n_a, xp = x.shape[1], self.layer.hidden_size, self.layer.xp
        state = state0 or tuple(xp.zeros((B, n_a), dtype=self.layer.dtype)
                                for _ in range(self.layer.cell_type.n_states))
        self.state0, ones, outs = state, np.ones(B, dtype=np.int64), []
        for t in range(x.shape[0]):
            a, state, cache = self.be.cell_forward(self.layer.cell, self.params, x[t:t + 1], ones,
                                                   state, **self.layer.options)
            outs.append(a[0])
            self.caches.append(cache)
            self.states.append(state)
        return xp.stack(outs)

    def backward(self, da):
        """da : (T, B, n_a) the gradient reaching each a<t> from above (ŷ<t>). Returns
        lists over t of dL/da<t>, dc_next<t> (None for one-state cells), dx<t>, the step's
        dparams (state_dict names, ``_l0`` suffix dropped), and dL/da<0>."""
        T, n_states = len(self.caches), self.layer.cell_type.n_states
        d_next = (None,) * n_states       # nothing flows back into the last step
        da_total, dc_total, dxs, dparams = [None] * T, [None] * T, [None] * T, [None] * T
        for t in reversed(range(T)):
            da_total[t] = da[t] if d_next[0] is None else da[t] + d_next[0]
            if n_states > 1:   # what step t+1 sends into c<t> (nothing into c<T_x>)
                dc_total[t] = self.layer.xp.zeros_like(da[t]) if d_next[1] is None else d_next[1]
            dx, d_next, dp = self.be.cell_backward(self.layer.cell, self.caches[t], da[t:t + 1],
                                                   d_next)
            dxs[t] = dx[0]
            dparams[t] = {KERNEL_TO_TORCH[k]: v for k, v in dp.items()}
        return da_total, dc_total, dxs, dparams, d_next

    def gates(self, t: int) -> dict:
        """The lecture's gates at step t (0-based) of example 0, or {} if unknown."""
        layout = GATES.get((self.be.name, self.layer.cell))
        cache = self.caches[t]
        if layout is None or not hasattr(cache, "gates"):
            return {}
        n_a, blocks = self.layer.hidden_size, _host(cache.gates)[0, 0]
        out = {}
        for k, name in enumerate(layout):
            value = blocks[k * n_a:(k + 1) * n_a]
            lecture = LECTURE_GATES[self.layer.cell][name]
            out[lecture] = 1 - value if (self.layer.cell, name) == ("gru", "z") else value
        order = list(LECTURE_GATES[self.layer.cell].values())
        return {k: out[k] for k in order}


def tiny_example(steps: int, vocab: int, seed: int):
    """y<1..T> seeded class ids; x<1> = 0, x<t> = onehot(y<t-1>): (T, 1, V) and (T,)."""
    if steps < 1 or vocab < 2:
        raise SeqkitError("explain needs --steps >= 1 and a vocabulary of at least 2")
    y = np.random.default_rng(seed).integers(0, vocab, size=steps)
    x = np.zeros((steps, 1, vocab))
    x[np.arange(1, steps), 0, y[:-1]] = 1.0
    return x, y


def build(cell: str, vocab: int, hidden: int, seed: int, backend=None):
    """The tiny model: one recurrent layer (n_x = V, n_a = hidden) and W_y, b_y, in float64."""
    get_cell(cell)
    if hidden < 1:
        raise SeqkitError("--hidden must be at least 1")
    be = get_backend(backend)
    layer = Recurrent(cell, vocab, hidden, backend=be, dtype="float64", seed=seed)
    head = Dense(hidden, vocab, backend=be, dtype="float64", seed=seed + 1)
    return layer, head


def step_losses(head: Dense, a, y):
    """Per step: ŷ<t>, L<t> and dz<t> = dL<t>/dz<t>, from the softmax head's loss.
    a : (T, B=1, n_a) backend array; y : (T,) host ints."""
    xp, out = head.xp, []
    for t in range(a.shape[0]):
        z, backprop = head.begin_update(a[t:t + 1])
        target, mask = xp.asarray(y[t:t + 1, None]), xp.ones((1, 1), dtype=a.dtype)
        loss, dz, _ = softmax_cross_entropy(z, target, mask, 1, xp, "sum")
        out.append((probabilities(_host(z), "softmax")[0, 0], loss, dz, backprop))
    return out


def explain(cell: str = "lstm", steps: int = 3, hidden: int = 2, vocab: int = 4, seed: int = 0,
            backend=None) -> dict:
    """The whole story as plain data (lists and floats, JSON-able): ``forward`` per
    step, ``loss``, ``bptt`` per step from T_x down to 1, and the summed ``gradients``,
    in the lecture's names. W_a = [W_aa | W_ax] stacks the gate blocks in PyTorch's
    order (lstm i, f, g, o; gru r, z, n): its gradient rows are the course's
    [dW_u; dW_f; dW_c; dW_o] for the LSTM."""
    layer, head = build(cell, vocab, hidden, seed, backend)
    x_host, y = tiny_example(steps, vocab, seed)
    run = Steps(layer)
    a = run.forward(layer.backend.asarray(x_host))
    per_step = step_losses(head, a, y)
    forward = []
    for t, (y_hat, loss, _, _) in enumerate(per_step):
        state = run.states[t]
        row = {"t": t + 1, "x": x_host[t, 0], **run.gates(t)}
        if len(state) > 1:
            row["c"] = _host(state[1])[0]
        row.update(a=_host(state[0])[0], y_hat=y_hat, y=int(y[t]), loss=float(loss))
        forward.append(row)

    # BPTT: what reaches each a<t> from ŷ<t> (and W_y's share of step t), from the Dense layer
    da_from_y, head_grads = [], []
    for _, _, dz, backprop in per_step:
        head.zero_grad()
        da_from_y.append(backprop(dz)[0])
        head_grads.append({k: _host(v) for k, v in head.grads().items()})
    da_total, dc_total, _, dparams, d0 = run.backward(layer.xp.stack(da_from_y))
    dparams = [{k: _host(v) for k, v in dp.items()} for dp in dparams]
    # the GRU's b_hn sits inside r * (W_hn a<t-1> + b_hn): b_hh gets a gradient of its own
    two_biases = any(not np.array_equal(dp["bias_hh"], dp["bias_ih"]) for dp in dparams)
    bptt = []
    for t in reversed(range(steps)):
        dp = dparams[t]
        row = {"t": t + 1, "dz": _host(per_step[t][2])[0, 0], "dW_y": head_grads[t]["weight"],
               "db_y": head_grads[t]["bias"], "da": _host(da_total[t])[0]}
        if dc_total[t] is not None:
            row["dc"] = _host(dc_total[t])[0]
        row.update(dW_a=np.concatenate([dp["weight_hh"], dp["weight_ih"]], axis=1),
                   db_a=dp["bias_ih"])
        if two_biases:
            row["db_hh"] = dp["bias_hh"]
        bptt.append(row)
    totals = {k: sum(r[k] for r in bptt) for k in ("dW_a", "db_a", "db_hh", "dW_y", "db_y")
              if k in bptt[0]}
    totals["da0"] = _host(d0[0])[0]
    if len(d0) > 1:
        totals["dc0"] = _host(d0[1])[0]
    sd = layer.state_dict()
    report = {
        "cell": cell, "backend": layer.backend.name, "seed": seed, "T_x": steps,
        "n_x": vocab, "n_a": hidden, "n_y": vocab, "gates": layer.cell_type.gates,
        "parameters": {"W_a": np.concatenate([sd["weight_hh_l0"], sd["weight_ih_l0"]], axis=1),
                       "b_a": sd["bias_ih_l0"] + sd["bias_hh_l0"],
                       "W_y": head.state_dict()["weight"], "b_y": head.state_dict()["bias"]},
        "forward": forward, "loss": float(sum(r["loss"] for r in forward)),
        "bptt": bptt, "gradients": totals,
        "gates_known": bool(run.gates(0)) or layer.cell_type.gates == 1,
    }
    return plain(report)


def plain(obj):
    """NumPy arrays and scalars as lists and floats, for JSON."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


# -- the vanishing gradient, measured on a trained model -----------------------------------
def last_step_gradients(layer: Recurrent, head: Dense, x, y) -> np.ndarray:
    """||dL<T_x>/da<t>|| for t = 1..T_x, averaged over the examples: how much of the
    last step's loss reaches each earlier activation through W_aa (and the gates).

    x : (T, B, n_x) backend array, every example T steps long; y : (B,) host target
    ids of the last step. Returns (T,) float64, entry t-1 for a<t>."""
    run = Steps(layer)
    a = run.forward(x)
    xp, T, B = layer.xp, x.shape[0], x.shape[1]
    z, backprop = head.begin_update(a[T - 1:T])
    _, dz, _ = softmax_cross_entropy(z, xp.asarray(y[None, :]), xp.ones((1, B), dtype=a.dtype),
                                     1, xp, "sum")   # per example: n_examples = 1
    da = xp.zeros_like(a)
    da[T - 1] = backprop(dz)[0]
    da_total = run.backward(da)[0]
    return np.array([_host(xp.sqrt((d * d).sum(axis=1))).mean() for d in da_total])


def trained_gradients(run, records, steps: int | None = None, max_examples: int = 256) -> dict:
    """``last_step_gradients`` of a trained default model (embedding or dense input,
    one recurrent layer, Dense head) on the first ``steps`` steps of its examples.

    Cutting an example after step T_x changes nothing that L<T_x> depends on, so
    every example at least T_x long serves. Default T_x: the longest that at least
    min(64, #examples) examples reach. Returns {"T_x", "examples", "norms"}."""
    layers = run.model.named_layers()
    rnn, head, emb = layers.get("rnn"), layers.get("head"), layers.get("embedding")
    per_step = run.model.kind in (Kind.MANY_TO_MANY, Kind.ONE_TO_MANY)
    if not per_step or not isinstance(rnn, Recurrent) or not isinstance(head, Dense):
        raise SeqkitError("the gradient through time is measured on a default sequence model "
                          "with a loss at every step (input, one recurrent layer, dense head)")
    examples = [e for e in run.encode(records) if e.x is not None and len(e.x)]
    if not examples:
        raise SeqkitError("the data holds no examples")
    lengths = np.sort([len(e.x) for e in examples])[::-1]
    T = steps or int(lengths[min(64, len(lengths)) - 1])
    chosen = [e for e in examples if len(e.x) >= T][:max_examples]
    if not chosen:
        raise SeqkitError(f"no example has {T} steps (the longest has {lengths[0]})")
    x = np.stack([np.asarray(e.x)[:T] for e in chosen], axis=1)
    y_last = np.array([np.asarray(e.y)[T - 1] for e in chosen])
    x = emb.predict(x, None) if emb is not None else rnn.backend.asarray(x, dtype=rnn.dtype)
    return {"T_x": T, "examples": len(chosen),
            "norms": last_step_gradients(rnn, head, x, y_last).tolist()}
