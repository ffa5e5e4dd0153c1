"""Recurrent layers: any registered cell, stacked and bidirectional.

Names and shapes follow ``torch.nn.RNN/GRU/LSTM`` exactly, so a ``state_dict``
moves between seqkit and PyTorch unchanged (``torch.from_numpy`` per array).
The time sweep of each layer and direction is the cell's kernel for the
layer's backend (``seqkit.cells``); this module only stacks and reverses.

    x : (T, B, input_size) time-major; lengths : (B,) ints, T_x of each example
    y : (T, B, D*hidden_size), zeros at padded steps (t >= lengths[b])
    state : one (num_layers*D, B, hidden_size) array per cell state, each
            example's state at its own last valid step ((h_n, c_n) for the LSTM)
"""
from __future__ import annotations

import numpy as np

from ..cells import get_cell
from ..errors import SeqkitError
from . import pairs
from .base import Context, Layer
from .dropout import Dropout

# the kernels' parameter names and PyTorch's (state_dict) names
KERNEL_TO_TORCH = {"W_ih": "weight_ih", "W_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}
#: inference sweeps this many steps per kernel call, carrying the state, so a
#: 300,000-step sequence never holds more than a window's kernel workspace
INFERENCE_WINDOW = 2048


def reverse_index(lengths: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices that reverse each example within its own length: step t of the
    reversed example b is step lengths[b]-1-t of the original. Padded steps map
    to themselves, so the permutation is its own inverse (and its own backward)."""
    t = np.arange(T)[:, None]
    time_index = np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    return time_index, np.broadcast_to(np.arange(len(lengths))[None, :], time_index.shape)


class Recurrent(Layer):
    """A stack of ``num_layers`` recurrent layers of one cell, each optionally
    bidirectional (both directions' outputs concatenated, forward first)."""

    type_name = "recurrent"

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, backend=None,
                 dtype: str = "float32", seed: int = 0, **options):
        super().__init__(backend, dtype)
        self.cell_type = get_cell(cell)
        self.cell = cell
        self.options = self.cell_type.resolve_options(options)
        self.cell_type.kernels_for(self.backend.name)  # fail now, not in the first forward
        if min(input_size, hidden_size, num_layers) < 1:
            raise SeqkitError("input_size, hidden_size and num_layers must be positive")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.num_directions = 2 if bidirectional else 1
        # dropout on the outputs of every layer but the last, as in PyTorch
        self.dropout = Dropout(dropout, backend=self.backend, dtype=dtype, seed=seed + 1)
        # PyTorch's initialisation: every weight and bias ~ U(-1/sqrt(n_a), 1/sqrt(n_a))
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(hidden_size)
        G = self.cell_type.gates
        for k in range(num_layers):
            n_x = input_size if k == 0 else hidden_size * self.num_directions
            for sfx in self._suffixes:
                shapes = {"weight_ih": (G * hidden_size, n_x), "weight_hh": (G * hidden_size, hidden_size),
                          "bias_ih": (G * hidden_size,), "bias_hh": (G * hidden_size,)}
                for name, shape in shapes.items():
                    self.add_param(f"{name}_l{k}{sfx}", rng.uniform(-bound, bound, shape))

    def config(self) -> dict:
        return {"type": self.type_name, "cell": self.cell, "input_size": self.input_size,
                "hidden_size": self.hidden_size, "num_layers": self.num_layers,
                "bidirectional": self.num_directions == 2, "dropout": self.dropout.p, **self.options}

    @property
    def output_size(self) -> int:
        return self.num_directions * self.hidden_size

    @property
    def nonlinearity(self) -> str:
        return self.options.get("nonlinearity", "tanh")

    @property
    def _suffixes(self):
        return ("", "_reverse")[: self.num_directions]

    def _kernel_params(self, k: int, sfx: str) -> dict:
        return {kernel: self.params[f"{torch_name}_l{k}{sfx}"]
                for kernel, torch_name in KERNEL_TO_TORCH.items()}

    def _check(self, x, lengths, state0):
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise SeqkitError(f"x must be (T, B, {self.input_size}), got {tuple(x.shape)}")
        T, B = x.shape[:2]
        lengths = np.full(B, T, dtype=np.int64) if lengths is None else np.asarray(
            self.backend.to_numpy(lengths), dtype=np.int64)
        if lengths.shape != (B,) or (B and (lengths.min() < 1 or lengths.max() > T)):
            raise SeqkitError(f"lengths must be {B} integers in [1, {T}]")
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        n_states = self.cell_type.n_states
        if state0 is None:
            return lengths, (self.xp.zeros(shape, self.dtype),) * n_states
        state0 = tuple(state0) if isinstance(state0, (tuple, list)) else (state0,)
        state0 = tuple(self.backend.asarray(h, dtype=self.dtype) for h in state0)
        if len(state0) != n_states or any(h.shape != shape for h in state0):
            raise SeqkitError(f"initial state must be {n_states} array(s) of shape {shape}")
        return lengths, state0

    def _stack_state(self, per_layer):
        """Per (layer, direction) state tuples -> one stacked array per state."""
        return tuple(self.xp.stack([s[j] for s in per_layer])
                     for j in range(self.cell_type.n_states))

    # -- training: every cache kept, for BPTT -----------------------------------
    def begin_update(self, x, ctx: Context):
        """``(y, backprop)``; the final state goes to ``ctx.state_n[self]``,
        the initial one comes from ``ctx.state0.get(self)`` (zeros if absent).
        ``backprop(dy, d_state=None)`` returns dx and puts the initial state's
        gradient in ``ctx.d_state0[self]``."""
        x = self.backend.asarray(x, dtype=self.dtype)
        lengths, h0 = self._check(x, ctx.lengths, ctx.state0.get(self))
        T, xp, D = x.shape[0], self.xp, self.num_directions
        rev = tuple(self.backend.asarray(i) for i in reverse_index(lengths, T))
        training = ctx.training and self.training
        caches, masks, state_n = [], [], [None] * (self.num_layers * D)
        inp, paired = x, pairs.supported(self, x.shape[1])
        for k in range(self.num_layers):
            outs = []
            if paired:  # both directions in one kernel call (seqkit.layers.pairs)
                out, state_n[2 * k], state_n[2 * k + 1], cache = pairs.forward(self, k, inp, lengths, rev, h0)
                caches += [cache, None]
            for d, sfx in enumerate(self._suffixes if not paired else ()):
                i = k * D + d
                a, s_n, cache = self.backend.cell_forward(
                    self.cell, self._kernel_params(k, sfx), inp[rev] if d else inp, lengths,
                    tuple(h[i] for h in h0), **self.options)
                outs.append(a[rev] if d else a)
                caches.append(cache)
                state_n[i] = s_n
            inp = out if paired else outs[0] if D == 1 else xp.concatenate(outs, axis=2)
            if k < self.num_layers - 1:
                # one dropout mask per gap between layers
                mask = self.dropout.draw_mask(inp.shape) if training and self.dropout.p else None
                masks.append(mask)
                inp = inp if mask is None else inp * mask
        ctx.state_n[self] = self._stack_state(state_n)

        def backprop(dy, d_state=None):
            dy = self.backend.asarray(dy, dtype=self.dtype)
            n_states, H = self.cell_type.n_states, self.hidden_size
            if d_state is not None and not isinstance(d_state, (tuple, list)):
                d_state = (d_state,)
            d_state0 = [None] * (self.num_layers * D)
            for k in reversed(range(self.num_layers)):
                if k < self.num_layers - 1 and masks[k] is not None:
                    dy = dy * masks[k]
                dx = None
                d_n = [tuple(None if d_state is None or d_state[j] is None else d_state[j][i]
                             for j in range(n_states)) for i in range(k * D, (k + 1) * D)]
                if paired:
                    dx, d_state0[2 * k], d_state0[2 * k + 1], *grads = pairs.backward(
                        self, caches[2 * k], dy, rev, *d_n)
                    for sfx, dparams in zip(self._suffixes, grads):
                        for kernel_name, g in dparams.items():
                            self.accumulate_grad(f"{KERNEL_TO_TORCH[kernel_name]}_l{k}{sfx}", g)
                for d, sfx in enumerate(self._suffixes if not paired else ()):
                    i = k * D + d
                    da = dy[:, :, d * H:(d + 1) * H]
                    dx_d, d_s0, dparams = self.backend.cell_backward(
                        self.cell, caches[i], da[rev] if d else da, d_n[d])
                    dx_d = dx_d[rev] if d else dx_d
                    dx = dx_d if dx is None else dx + dx_d
                    d_state0[i] = d_s0
                    for kernel_name, g in dparams.items():
                        self.accumulate_grad(f"{KERNEL_TO_TORCH[kernel_name]}_l{k}{sfx}", g)
                dy = dx
            ctx.d_state0[self] = self._stack_state(d_state0)
            return dy

        return inp, backprop

    # -- inference: windows of steps, nothing kept ------------------------------
    def predict(self, x, ctx: Context):
        """The output only. Each layer and direction sweeps in windows of
        ``INFERENCE_WINDOW`` steps, carrying the state between them, and drops
        each window's cache: memory grows with T only by the outputs themselves."""
        x = self.backend.asarray(x, dtype=self.dtype)
        lengths, h0 = self._check(x, ctx.lengths, ctx.state0.get(self))
        T, B = x.shape[:2]
        D, H = self.num_directions, self.hidden_size
        rev = reverse_index(lengths, T)
        state_n, inp = [None] * (self.num_layers * D), x
        for k in range(self.num_layers):
            out = self.xp.zeros((T, B, D * H), dtype=self.dtype)
            for d, sfx in enumerate(self._suffixes):
                i = k * D + d
                state_n[i] = self._sweep(self._kernel_params(k, sfx), inp, lengths,
                                         tuple(h[i] for h in h0), rev if d else None,
                                         out[:, :, d * H:(d + 1) * H])
            inp = out
        ctx.state_n[self] = self._stack_state(state_n)
        return inp

    def _sweep(self, params, x, lengths, state0, rev, out):
        """One layer and direction over windows of steps, writing into ``out``.
        ``rev`` (host indices) reads and writes the steps in each example's
        reversed order, a window at a time, so no reversed copy of x is made."""
        T, B = x.shape[:2]
        forward, _ = self.cell_type.kernels_for(self.backend.name)
        state = [self.xp.array(s, copy=True) for s in state0]
        for s in range(0, T, INFERENCE_WINDOW):
            e = min(s + INFERENCE_WINDOW, T)
            active = np.nonzero(lengths > s)[0]
            if active.size == 0:
                break
            shape = (e - s, active.size)
            t_idx = np.arange(s, e)[:, None] if rev is None else rev[0][s:e][:, active]
            t_idx = self.xp.asarray(np.broadcast_to(t_idx, shape))
            b_idx = self.xp.asarray(np.broadcast_to(active[None, :], shape))
            act = self.xp.asarray(active)
            a, s_n, _ = forward(params, x[t_idx, b_idx], np.minimum(lengths[active] - s, e - s),
                                tuple(st[act] for st in state), **self.options)
            out[t_idx, b_idx] = a
            for st, new in zip(state, s_n):
                st[act] = new
        return tuple(state)

    # -- one forward, one backward (scripts, notebooks, tests) -------------------
    def forward(self, x, lengths=None, h0=None):
        """Run the stack once, keeping its backprop for ``backward``. Returns
        ``(y, h_n)``, or ``(y, (h_n, c_n))`` for a cell with two states."""
        ctx = Context(lengths=lengths, training=self.training,
                      state0={} if h0 is None else {self: h0})
        if self.training:
            y, self._last_backprop = self.begin_update(x, ctx)
        else:
            y, self._last_backprop = self.predict(x, ctx), None
        self._last_ctx = ctx
        state = ctx.state_n[self]
        return y, (state if len(state) > 1 else state[0])

    def backward(self, dy, d_state=None):
        """BPTT of the last ``forward``; returns dx and sets ``self.d_state0``."""
        if getattr(self, "_last_backprop", None) is None:
            raise SeqkitError("backward() needs a forward() in training mode first")
        dx = self._last_backprop(dy, d_state)
        d0 = self._last_ctx.d_state0[self]
        self.d_state0 = d0 if len(d0) > 1 else d0[0]
        return dx

    def weight_a(self, layer: int = 0, reverse: bool = False):
        """The lecture's W_a = [W_aa | W_ax] and b_a = b_ih + b_hh of one layer
        and direction, as NumPy arrays (rnn cell: one gate block)."""
        sd, sfx = self.state_dict(), f"_l{layer}{'_reverse' if reverse else ''}"
        W_a = np.concatenate([sd["weight_hh" + sfx], sd["weight_ih" + sfx]], axis=1)
        return W_a, sd["bias_ih" + sfx] + sd["bias_hh" + sfx]


class RNN(Recurrent):
    """The course's vanilla cell: a<t> = tanh(W_aa a<t-1> + W_ax x<t> + b_a)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False,
                 nonlinearity="tanh", **kwargs):
        super().__init__("rnn", input_size, hidden_size, num_layers, bidirectional,
                         nonlinearity=nonlinearity, **kwargs)


class GRU(Recurrent):
    """Gated recurrent unit, PyTorch's formulation (gates r, z, n)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, **kwargs):
        kwargs.pop("nonlinearity", None)
        super().__init__("gru", input_size, hidden_size, num_layers, bidirectional, **kwargs)


class LSTM(Recurrent):
    """Long short-term memory (gates i, f, g, o); state is (h, c)."""

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, **kwargs):
        kwargs.pop("nonlinearity", None)
        super().__init__("lstm", input_size, hidden_size, num_layers, bidirectional, **kwargs)
