"""Recurrent layers: RNN, GRU and LSTM, stacked and bidirectional.

Names and shapes follow ``torch.nn.RNN/GRU/LSTM`` exactly, so a ``state_dict``
moves between seqkit and PyTorch with no conversion. The time sweep of each
layer and direction is the backend's kernel; this module only stacks them.

    x : (T, B, input_size) time-major; lengths : (B,) ints, T_x of each example
    y : (T, B, D*hidden_size), zeros at padded steps (t >= lengths[b])
    h_n : (num_layers*D, B, hidden_size), each example's state at its own last
          valid step; the LSTM's state is the tuple (h_n, c_n)
"""
from __future__ import annotations

import numpy as np

from ..backend import GATES
from ..errors import SeqkitError
from .base import Layer
from .dropout import Dropout

# the kernels' parameter names and PyTorch's (state_dict) names
KERNEL_TO_TORCH = {"W_ih": "weight_ih", "W_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}


def reverse_index(lengths: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices that reverse each example within its own length: step t of the
    reversed example b is step lengths[b]-1-t of the original. Padded steps map
    to themselves, so the permutation is its own inverse (and its own backward)."""
    t = np.arange(T)[:, None]
    time_index = np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    return time_index, np.broadcast_to(np.arange(len(lengths))[None, :], time_index.shape)


class _Recurrent(Layer):
    cell = ""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        nonlinearity: str = "tanh",
        dropout: float = 0.0,
        backend=None,
        dtype: str = "float32",
        seed: int = 0,
    ):
        super().__init__(backend, dtype)
        if nonlinearity not in ("tanh", "relu"):
            raise SeqkitError(f"nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}")
        if min(input_size, hidden_size, num_layers) < 1:
            raise SeqkitError("input_size, hidden_size and num_layers must be positive")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.num_directions = 2 if bidirectional else 1
        self.nonlinearity = nonlinearity
        # dropout on the outputs of every layer but the last, as in PyTorch
        self.dropout = Dropout(dropout, backend=self.backend, dtype=dtype, seed=seed + 1)
        # PyTorch's initialisation: every weight and bias ~ U(-1/sqrt(n_a), 1/sqrt(n_a))
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(hidden_size)
        G = GATES[self.cell]
        for k in range(num_layers):
            n_x = input_size if k == 0 else hidden_size * self.num_directions
            for sfx in self._suffixes:
                shapes = {"weight_ih": (G * hidden_size, n_x), "weight_hh": (G * hidden_size, hidden_size),
                          "bias_ih": (G * hidden_size,), "bias_hh": (G * hidden_size,)}
                for name, shape in shapes.items():
                    self.add_param(f"{name}_l{k}{sfx}", rng.uniform(-bound, bound, shape))

    @property
    def _suffixes(self):
        return ("", "_reverse")[: self.num_directions]

    def _kernel_params(self, k: int, sfx: str, source: dict) -> dict:
        return {kernel: source[f"{torch_name}_l{k}{sfx}"]
                for kernel, torch_name in KERNEL_TO_TORCH.items()}

    def _check(self, x, lengths, h0):
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise SeqkitError(f"x must be (T, B, {self.input_size}), got {tuple(x.shape)}")
        T, B = x.shape[:2]
        lengths = np.full(B, T, dtype=np.int64) if lengths is None else np.asarray(
            self.backend.to_numpy(lengths), dtype=np.int64)
        if lengths.shape != (B,) or (B and (lengths.min() < 1 or lengths.max() > T)):
            raise SeqkitError(f"lengths must be {B} integers in [1, {T}]")
        shape = (self.num_layers * self.num_directions, B, self.hidden_size)
        if h0 is None:
            h0 = (self.xp.zeros(shape, self.dtype),) * (2 if self.cell == "lstm" else 1)
        else:
            h0 = tuple(h0) if self.cell == "lstm" else (h0,)
            h0 = tuple(self.backend.asarray(h, dtype=self.dtype) for h in h0)
            if any(h.shape != shape for h in h0):
                raise SeqkitError(f"initial state must be {shape}")
        return lengths, h0

    def forward(self, x, lengths=None, h0=None):
        """Run the stack. Returns ``(y, h_n)`` (``(y, (h_n, c_n))`` for LSTM)."""
        x = self.backend.asarray(x, dtype=self.dtype)
        lengths, h0 = self._check(x, lengths, h0)
        T = x.shape[0]
        rev = tuple(self.backend.asarray(i) for i in reverse_index(lengths, T))
        extra = {"nonlinearity": self.nonlinearity} if self.cell == "rnn" else {}
        self._caches, self._rev, self._lengths, self._masks = [], rev, lengths, []
        inp, state_n = x, [[None] * len(h0) for _ in range(self.num_layers * self.num_directions)]
        for k in range(self.num_layers):
            outs = []
            for d, sfx in enumerate(self._suffixes):
                i = k * self.num_directions + d
                a, s_n, cache = self.backend.cell_forward(
                    self.cell, self._kernel_params(k, sfx, self.params),
                    inp[rev] if d else inp, lengths, tuple(h[i] for h in h0), **extra)
                outs.append(a[rev] if d else a)
                self._caches.append(cache)
                state_n[i] = s_n
            inp = outs[0] if len(outs) == 1 else self.xp.concatenate(outs, axis=2)
            if k < self.num_layers - 1:
                inp = self.dropout.forward(inp, training=self.training)
                self._masks.append(self.dropout.mask)  # one mask per gap between layers
        h_n = tuple(self.xp.stack([s[j] for s in state_n]) for j in range(len(h0)))
        return inp, (h_n if self.cell == "lstm" else h_n[0])

    def backward(self, dy, d_state=None):
        """BPTT through the stack. ``dy`` (T, B, D*hidden_size); ``d_state`` the
        gradient of ``h_n`` (or ``(h_n, c_n)``), may be None. Returns dx and sets
        ``self.d_state0``, the gradient of the initial state."""
        dy = self.backend.asarray(dy, dtype=self.dtype)
        n_state = 2 if self.cell == "lstm" else 1
        if d_state is not None and self.cell != "lstm":
            d_state = (d_state,)
        rev, H = self._rev, self.hidden_size
        d_state0 = [[None] * n_state for _ in range(self.num_layers * self.num_directions)]
        for k in reversed(range(self.num_layers)):
            if k < self.num_layers - 1 and self._masks[k] is not None:
                dy = dy * self._masks[k]
            dx = None
            for d, sfx in enumerate(self._suffixes):
                i = k * self.num_directions + d
                da = dy[:, :, d * H:(d + 1) * H]
                d_n = tuple(None if d_state is None or d_state[j] is None else d_state[j][i]
                            for j in range(n_state))
                dx_d, d_s0, dparams = self.backend.cell_backward(
                    self.cell, self._caches[i], da[rev] if d else da, d_n)
                dx_d = dx_d[rev] if d else dx_d
                dx = dx_d if dx is None else dx + dx_d
                d_state0[i] = d_s0
                for kernel_name, g in dparams.items():
                    self.accumulate_grad(f"{KERNEL_TO_TORCH[kernel_name]}_l{k}{sfx}", g)
            dy = dx
        stacked = tuple(self.xp.stack([s[j] for s in d_state0]) for j in range(n_state))
        self.d_state0 = stacked if self.cell == "lstm" else stacked[0]
        return dy

    def weight_a(self, layer: int = 0, reverse: bool = False):
        """The lecture's W_a = [W_aa | W_ax] and b_a = b_ih + b_hh of one layer
        and direction, as NumPy arrays (rnn cell: one gate block)."""
        sd, sfx = self.state_dict(), f"_l{layer}{'_reverse' if reverse else ''}"
        W_a = np.concatenate([sd["weight_hh" + sfx], sd["weight_ih" + sfx]], axis=1)
        return W_a, sd["bias_ih" + sfx] + sd["bias_hh" + sfx]


class RNN(_Recurrent):
    """The course's vanilla cell: a<t> = tanh(W_aa a<t-1> + W_ax x<t> + b_a)."""

    cell = "rnn"


class GRU(_Recurrent):
    """Gated recurrent unit, PyTorch's formulation (gates r, z, n)."""

    cell = "gru"

    def __init__(self, *args, **kwargs):
        kwargs.pop("nonlinearity", None)
        super().__init__(*args, **kwargs)


class LSTM(_Recurrent):
    """Long short-term memory (gates i, f, g, o); state is (h, c)."""

    cell = "lstm"

    def __init__(self, *args, **kwargs):
        kwargs.pop("nonlinearity", None)
        super().__init__(*args, **kwargs)
