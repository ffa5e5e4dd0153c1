"""What every layer shares: named parameters on a backend, their gradients,
PyTorch-compatible ``state_dict`` I/O, and the forward protocol.

Forward protocol (thinc's ``begin_update``)::

    Y, backprop = layer.begin_update(X, ctx)     # training: keeps what BPTT needs
    dX = backprop(dY)                            # adds into grads(), returns dX
    Y = layer.predict(X, ctx)                    # inference: keeps nothing

What backward needs lives in the ``backprop`` closure, not on the layer, so
one layer can run several forwards before their backwards (a character RNN
applied to two inputs, the same block at two places of a model). ``backprop``
accumulates each parameter's gradient (as autograd does) until ``zero_grad()``.

``ctx`` (a ``Context``) is what one pass over a batch shares: the examples'
lengths T_x, whether it trains, the batch's named inputs, and the recurrent
states going in and out (for truncated BPTT, sampling, encoder-decoders).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..arrays import to_host
from ..backend import Backend, get_backend
from ..errors import SeqkitError, short_list

DTYPES = ("float32", "float64")


@dataclass
class Context:
    """One forward pass over a batch.

    lengths : (B,) int64 host array, T_x of each example
    training : dropout on, caches kept for BPTT
    inputs : the batch's named inputs (backend arrays), read by ``Input`` layers
    sublengths : name -> (T, B) int64 host lengths of a ragged input (characters of each word)
    state0 / state_n : recurrent layer -> state tuple, in and out (keyed by the layer object)
    d_state0 : recurrent layer -> gradient of its initial state, filled by backprop
    """

    lengths: Any = None
    training: bool = True
    inputs: dict = field(default_factory=dict)
    sublengths: dict = field(default_factory=dict)
    state0: dict = field(default_factory=dict)
    state_n: dict = field(default_factory=dict)
    d_state0: dict = field(default_factory=dict)


class Layer:
    #: the name a model config uses for this layer's class (``{"type": ...}``)
    type_name: ClassVar[str] = ""

    def __init__(self, backend: str | Backend | None = None, dtype: str = "float32"):
        if str(np.dtype(dtype)) not in DTYPES:
            raise SeqkitError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        self.backend = get_backend(backend)
        self.xp = self.backend.xp
        self.dtype = np.dtype(dtype)
        self.params: dict = {}
        self._grads: dict = {}
        self.training = True

    # -- the forward protocol --------------------------------------------------
    def begin_update(self, X, ctx: Context):
        """``(Y, backprop)`` with ``backprop(dY) -> dX``."""
        raise NotImplementedError

    def predict(self, X, ctx: Context):
        """Inference: the output only; nothing is kept for BPTT."""
        return self.begin_update(X, ctx)[0]

    def children(self) -> list[Layer]:
        """Layers this one is made of (combinators), walked by models for parameters."""
        return []

    def config(self) -> dict:
        """A JSON-able dict that rebuilds this layer (``seqkit.models.build.build``)."""
        raise NotImplementedError(f"{type(self).__name__} does not describe itself")

    # -- parameters ----------------------------------------------------------
    def add_param(self, name: str, value: np.ndarray) -> None:
        self.params[name] = self.backend.asarray(value, dtype=self.dtype)

    def grads(self) -> dict:
        """Gradients accumulated by backprop, keyed like ``state_dict()``
        (backend arrays; zeros for parameters no backprop has reached)."""
        return {
            name: self._grads[name] if name in self._grads else self.xp.zeros_like(p)
            for name, p in self.params.items()
        }

    def accumulate_grad(self, name: str, g) -> None:
        if name in self._grads:
            self._grads[name] += g
        else:
            self._grads[name] = g

    def zero_grad(self) -> None:
        self._grads = {}

    def train(self, mode: bool = True) -> Layer:
        self.training = mode
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Layer:
        return self.train(False)

    # -- I/O -----------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters as NumPy arrays under PyTorch's names, whatever the backend."""
        return {name: self.backend.to_numpy(p).copy() for name, p in self.params.items()}

    def load_state_dict(self, state: dict) -> None:
        """Load parameters by name; every name and shape must match exactly."""
        missing = self.params.keys() - state.keys()
        unexpected = state.keys() - self.params.keys()
        if missing or unexpected:
            raise SeqkitError(
                f"state_dict does not fit {type(self).__name__}: "
                f"missing {short_list(missing)}, unexpected {short_list(unexpected)}"
            )
        for name, p in self.params.items():
            value = to_host(state[name])  # a state_dict may hold device arrays too
            if value.shape != p.shape:
                raise SeqkitError(
                    f"state_dict[{name!r}] has shape {value.shape}, expected {tuple(p.shape)}"
                )
            # copy into the existing array: an optimizer holding it stays connected
            p[...] = self.backend.asarray(value, dtype=self.dtype)
        self.zero_grad()

    # -- one forward, one backward: the convenience for scripts and notebooks --
    def forward(self, X, lengths=None):
        """``begin_update`` for one use: the backprop is kept on the layer until
        the next ``forward``, for ``backward(dY)``. Models use ``begin_update``."""
        ctx = Context(lengths=lengths, training=self.training)
        Y, self._last_backprop = self.begin_update(X, ctx)
        return Y

    def backward(self, dY):
        backprop = getattr(self, "_last_backprop", None)
        if backprop is None:
            raise SeqkitError(f"{type(self).__name__}.backward() before forward()")
        return backprop(dY)
