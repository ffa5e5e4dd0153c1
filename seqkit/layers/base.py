"""What every layer shares: named parameters on a backend, their gradients,
and PyTorch-compatible ``state_dict`` I/O.

A layer's ``forward`` keeps what its ``backward`` needs; ``backward`` adds each
parameter's gradient into ``grads()`` (accumulating, as autograd does, until
``zero_grad()``) and returns the gradient of the layer's input.
"""
from __future__ import annotations

import numpy as np

from ..backend import Backend, get_backend, to_host
from ..errors import SeqkitError

DTYPES = ("float32", "float64")


class Layer:
    def __init__(self, backend: str | Backend | None = None, dtype: str = "float32"):
        if str(np.dtype(dtype)) not in DTYPES:
            raise SeqkitError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        self.backend = get_backend(backend)
        self.xp = self.backend.xp
        self.dtype = np.dtype(dtype)
        self.params: dict = {}
        self._grads: dict = {}
        self.training = True

    # -- parameters ----------------------------------------------------------
    def add_param(self, name: str, value: np.ndarray) -> None:
        self.params[name] = self.backend.asarray(value, dtype=self.dtype)

    def grads(self) -> dict:
        """Gradients accumulated by ``backward``, keyed like ``state_dict()``
        (backend arrays; zeros for parameters no backward has reached)."""
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
                f"missing {sorted(missing)}, unexpected {sorted(unexpected)}"
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
