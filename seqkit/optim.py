"""Optimizers over a flat dict of parameters, learning-rate decay (and clipping, from ``.clip``).

Every optimizer follows ``torch.optim``'s update formulas exactly (weight decay is L2 added to
the gradient, ``g <- g + wd * p``), so a run can be checked step by step against PyTorch.
Parameters are updated **in place**: layers that hold the same arrays see the new values
without reloading. Everything is written against the arrays' own module ``xp`` (NumPy, CuPy).

Notation per parameter ``p`` with gradient ``g``, learning rate ``lr``,
step count ``t`` (1 at the first step):

    SGD      b <- g (t = 1) | mu*b + (1-dampening)*g;  d = g + mu*b (nesterov) | b;  p <- p - lr*d
    Adagrad  s <- s + g^2;  p <- p - lr/(1 + (t-1)*lr_decay) * g / (sqrt(s) + eps)
    RMSProp  v <- alpha*v + (1-alpha)*g^2;  d = g / (sqrt(v) + eps)
             p <- p - lr*d  (momentum: b <- mu*b + d;  p <- p - lr*b)
    Adam     m <- b1*m + (1-b1)*g;  v <- b2*v + (1-b2)*g^2
             p <- p - lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
    SparseAdam  Adam's moments on the rows R a row-sparse gradient touched only (lazy):
             p[R] <- p[R] - lr sqrt(1-b2^t)/(1-b1^t) * m[R] / (sqrt(v[R]) + eps)
"""
from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import rows
from .backend import array_module, to_host
from .clip import clip_grad_norm, clip_grad_value  # noqa: F401  (re-exported)
from .errors import SeqkitError, short_list


def _to_numpy(a) -> np.ndarray:
    return np.array(to_host(a), copy=True)  # a copy: a saved state never aliases a slot


class Optimizer:
    """Base class: holds ``params`` (the very arrays the layers hold), one set
    of slot arrays per parameter and the step count ``t``.

    Subclasses name their slots in ``slots`` and implement ``_update``.
    """

    name = ""
    slots: tuple[str, ...] = ()

    def __init__(self, params: dict, lr: float, weight_decay: float = 0.0,
                 to_numpy: Callable[[Any], np.ndarray] | None = None):
        if not params:
            raise SeqkitError("optimizer got no parameters")
        if not lr >= 0:
            raise SeqkitError(f"learning rate must be >= 0, not {lr!r}")
        if weight_decay < 0:
            raise SeqkitError(f"weight_decay must be >= 0, not {weight_decay!r}")
        self.params = dict(params)  # a new dict, the same arrays
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.xp = array_module(next(iter(self.params.values())))
        self._to_numpy = to_numpy or _to_numpy
        self.t = 0
        self.state = {slot: {k: self._init_slot(slot, p) for k, p in self.params.items()}
                      for slot in self.slots}

    def _init_slot(self, slot: str, p):
        return self.xp.zeros_like(p)

    def step(self, grads: dict) -> None:
        """One update of every parameter from ``grads`` (same names and shapes;
        ``grads`` itself is left unchanged)."""
        missing, unexpected = self.params.keys() - grads.keys(), grads.keys() - self.params.keys()
        if missing or unexpected:
            raise SeqkitError(f"gradients do not match the optimizer's parameters: "
                              f"missing {short_list(missing)}, unexpected {short_list(unexpected)}")
        self.t += 1
        for k, p in self.params.items():
            g = grads[k]
            if g.shape != p.shape:
                raise SeqkitError(f"gradient {k!r} has shape {tuple(g.shape)}, "
                                  f"parameter has {tuple(p.shape)}")
            if self.weight_decay:
                g = g + self.weight_decay * p  # a new array: the caller's grads stay as given
            self._update(p, g, {slot: self.state[slot][k] for slot in self.slots})

    def _update(self, p, g, s: dict) -> None:
        raise NotImplementedError

    # -- state I/O -----------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Slots as NumPy arrays under ``"<name>.<slot>/<param>"`` plus the step
        count ``"<name>.step"`` (0-d int64): everything needed to resume."""
        out = {f"{self.name}.{slot}/{k}": self._to_numpy(a)
               for slot, arrays in self.state.items() for k, a in arrays.items()}
        out[f"{self.name}.step"] = np.array(self.t, dtype=np.int64)
        return out

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` returned, exactly (names and shapes must match)."""
        expected = self.state_dict().keys()
        missing, unexpected = expected - state.keys(), state.keys() - expected
        if missing or unexpected:
            raise SeqkitError(f"optimizer state does not fit {type(self).__name__}: "
                              f"missing {short_list(missing)}, unexpected {short_list(unexpected)}")
        for slot, arrays in self.state.items():
            for k, a in arrays.items():
                value = np.asarray(state[f"{self.name}.{slot}/{k}"])
                if value.shape != a.shape:
                    raise SeqkitError(f"optimizer state {slot}/{k} has shape {value.shape}, "
                                      f"expected {tuple(a.shape)}")
                a[...] = self.xp.asarray(value, dtype=a.dtype)
        self.t = int(np.asarray(state[f"{self.name}.step"]))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} lr={self.lr:g} t={self.t} params={len(self.params)}>"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum ``mu``;
    ``dampening`` scales the gradient into the buffer by ``1 - dampening``
    after the first step, as in PyTorch."""

    name = "sgd"

    def __init__(self, params, lr, weight_decay=0.0, momentum=0.0, nesterov=False,
                 dampening=0.0, to_numpy=None):
        if momentum < 0:
            raise SeqkitError(f"momentum must be >= 0, not {momentum!r}")
        if nesterov and (not momentum or dampening):
            raise SeqkitError("nesterov momentum needs momentum > 0 and dampening 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)
        self.dampening = float(dampening)
        self.slots = ("momentum_buffer",) if momentum else ()
        super().__init__(params, lr, weight_decay, to_numpy)

    def _update(self, p, g, s):
        if self.momentum:
            b = s["momentum_buffer"]
            if self.t == 1:
                b[...] = g  # PyTorch starts the buffer at the first gradient, not at zero
            else:
                b *= self.momentum
                b += (1 - self.dampening) * g
            g = g + self.momentum * b if self.nesterov else b
        p -= self.lr * g


class Adagrad(Optimizer):
    """Adagrad: per-coordinate steps shrinking with the accumulated ``g^2``."""

    name = "adagrad"
    slots = ("sum",)

    def __init__(self, params, lr, weight_decay=0.0, lr_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, to_numpy=None):
        self.lr_decay, self.eps = float(lr_decay), float(eps)
        self.initial_accumulator_value = float(initial_accumulator_value)
        super().__init__(params, lr, weight_decay, to_numpy)

    def _init_slot(self, slot, p):
        return self.xp.full_like(p, self.initial_accumulator_value)

    def _update(self, p, g, s):
        s["sum"] += g * g
        clr = self.lr / (1 + (self.t - 1) * self.lr_decay)
        p -= clr * g / (self.xp.sqrt(s["sum"]) + self.eps)


class RMSProp(Optimizer):
    """RMSProp: steps divided by a running RMS of the gradient; ``centered``
    subtracts the squared running mean (PyTorch's option)."""

    name = "rmsprop"

    def __init__(self, params, lr, weight_decay=0.0, alpha=0.99, eps=1e-8, momentum=0.0,
                 centered=False, to_numpy=None):
        if not 0 <= alpha <= 1:
            raise SeqkitError(f"alpha must be in [0, 1], not {alpha!r}")
        self.alpha, self.eps, self.momentum = float(alpha), float(eps), float(momentum)
        self.centered = bool(centered)
        self.slots = ("square_avg",) + (("grad_avg",) if centered else ()) + (
            ("momentum_buffer",) if momentum else ())
        super().__init__(params, lr, weight_decay, to_numpy)

    def _update(self, p, g, s):
        xp, v = self.xp, s["square_avg"]
        v *= self.alpha
        v += (1 - self.alpha) * g * g
        if self.centered:
            m = s["grad_avg"]
            m += (1 - self.alpha) * (g - m)  # PyTorch's lerp form
            denom = xp.sqrt(v - m * m) + self.eps
        else:
            denom = xp.sqrt(v) + self.eps
        if self.momentum:
            b = s["momentum_buffer"]
            b *= self.momentum
            b += g / denom
            p -= self.lr * b
        else:
            p -= self.lr * g / denom


class Adam(Optimizer):
    """Adam with bias-corrected first and second moments."""

    name = "adam"
    slots = ("m", "v")

    def __init__(self, params, lr, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8,
                 to_numpy=None):
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise SeqkitError(f"betas must be in [0, 1), not {tuple(betas)!r}")
        self.betas, self.eps = (float(b1), float(b2)), float(eps)
        super().__init__(params, lr, weight_decay, to_numpy)

    def _update(self, p, g, s):
        # torch's formula op for op, into two scratch buffers: no temporaries of p's size
        (b1, b2), m, v = self.betas, s["m"], s["v"]
        tmp, tmp2 = self._scratch(p)
        self.xp.subtract(g, m, out=tmp)
        tmp *= 1 - b1
        m += tmp                 # PyTorch's lerp form of b1*m + (1-b1)*g
        v *= b2
        self.xp.multiply(g, 1 - b2, out=tmp)
        tmp *= g
        v += tmp
        self.xp.sqrt(v, out=tmp)           # denom = sqrt(v) / sqrt(1 - b2^t) + eps
        tmp /= math.sqrt(1 - b2 ** self.t)
        tmp += self.eps
        self.xp.multiply(m, self.lr / (1 - b1 ** self.t), out=tmp2)   # step_size * m
        tmp2 /= tmp
        p -= tmp2

    def _scratch(self, p):
        """Two work arrays shaped like p: views of two buffers as big as the largest parameter."""
        bufs = getattr(self, "_bufs", None)
        if bufs is None or bufs[0].size < p.size or bufs[0].dtype != p.dtype:
            size = max(int(q.size) for q in self.params.values())
            bufs = self._bufs = (self.xp.empty(size, p.dtype), self.xp.empty(size, p.dtype))
        return tuple(b[:p.size].reshape(p.shape) for b in bufs)


class SparseAdam(Adam):
    """Lazy Adam, as ``torch.optim.SparseAdam``: of a row-sparse gradient (an embedding's,
    ``seqkit.rows``) only the touched rows are updated, moments and weights (global step's
    bias correction), so a step costs the batch's rows, not the vocabulary. Every other
    parameter gets ``Adam``'s dense update (torch: SparseAdam + Adam). No weight decay."""

    name = "sparse-adam"

    def __init__(self, params, lr, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8, to_numpy=None):
        if weight_decay:
            raise SeqkitError("sparse-adam has no weight decay (as torch's SparseAdam); use adam")
        super().__init__(params, lr, 0.0, betas, eps, to_numpy)

    def _update(self, p, g, s):
        if not rows.is_row_sparse(g) or p.ndim < 2:
            return super()._update(p, g, s)
        R = rows.touched_rows(g)
        if R is None:  # marked dense (summed over processes): the rows holding any
            R = self.xp.flatnonzero(self.xp.any(g.reshape(g.shape[0], -1) != 0, axis=1))
        if R.size == 0:
            return
        (b1, b2), m, v = self.betas, s["m"], s["v"]
        g_R, m_R, v_R = g[R], m[R], v[R]
        m_R += (1 - b1) * (g_R - m_R)
        v_R += (1 - b2) * (g_R * g_R - v_R)
        m[R], v[R] = m_R, v_R
        step_size = self.lr * math.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        p[R] -= step_size * m_R / (self.xp.sqrt(v_R) + self.eps)


OPTIMIZERS = {"sgd": SGD, "adagrad": Adagrad, "rmsprop": RMSProp, "adam": Adam,
              "sparse-adam": SparseAdam}


def make_optimizer(name: str, params: dict, lr: float, **kw) -> Optimizer:
    """The optimizer called ``name`` (see ``OPTIMIZERS``) with its options ``kw``."""
    if name not in OPTIMIZERS:
        raise SeqkitError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS[name]
    try:  # check the option names first, so a TypeError inside __init__ is never masked
        inspect.signature(cls).bind(params, lr, **kw)
    except TypeError as e:
        raise SeqkitError(f"optimizer {name!r}: {e}") from None
    return cls(params, lr, **kw)


# -- learning-rate decay ------------------------------------------------------
def decayed_lr(base_lr: float, epoch: int, decay: float) -> float:
    """Exponential decay ``lr = base_lr * decay**epoch`` (epoch 0 gives
    ``base_lr``; ``decay = 1`` keeps it constant). Set ``optimizer.lr`` to it
    at the start of each epoch."""
    if not 0 < decay <= 1:
        raise SeqkitError(f"lr decay must be in (0, 1], not {decay!r}")
    if epoch < 0:
        raise SeqkitError(f"epoch must be >= 0, not {epoch!r}")
    return base_lr * decay ** epoch
