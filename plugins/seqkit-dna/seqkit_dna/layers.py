"""The plugin's own layers, registered through ``register_layers`` so that a
checkpoint rebuilds them:

    weighted_softmax   a softmax head whose cross-entropy weighs each class
                       (``--class-weight balanced``: w_k = n / (K n_k)), the
                       core's softmax head otherwise
    ensemble_softmax   M independent members' logits side by side (..., M K): each
                       member's own (weighted) cross-entropy, averaged; the
                       prediction is the mean of the members' softmax outputs
    dna_flat_input     a named input of fixed length T, (T, B, n) -> (B, T n): the
                       wide path of ``dna-classify --wide`` (data, no gradient
                       passed on)
    dna_pool           many-to-one readout: each example's final states (both
                       directions) and/or the mean and max of its recurrent
                       outputs over its valid steps, concatenated
"""
from __future__ import annotations

import numpy as np

from seqkit import Layer, SeqkitError, SoftmaxHead
from seqkit.layers.readout import final_index
from seqkit.losses import log_softmax


class WeightedSoftmax(SoftmaxHead):
    """ŷ = softmax(z); L = -Σ_t w[y<t>] log ŷ<t>[y<t>], dz<t> = w[y<t>] (ŷ<t> - onehot(y<t>)).
    Probabilities and decoding are the softmax head's."""

    type_name = "weighted_softmax"

    def __init__(self, n_y: int, weights=None, backend=None, dtype: str = "float32"):
        super().__init__(n_y, backend, dtype)
        weights = [1.0] * n_y if weights is None else [float(w) for w in weights]
        if len(weights) != n_y or min(weights) <= 0 or not np.isfinite(weights).all():
            raise SeqkitError(f"class weights must be {n_y} positive numbers, not {weights}")
        self.weights = weights
        self._w = self.backend.asarray(np.asarray(weights), dtype=self.dtype)

    def config(self) -> dict:
        return {"type": self.type_name, "n_y": self.n_y, "weights": self.weights}

    def loss(self, z, y, mask, n_examples, reduction="sum", accumulate=True):
        xp = self.xp
        n_tokens = float(mask.sum())
        if reduction == "sum":
            scale = 1.0 / max(n_examples, 1)
        elif reduction == "mean":
            scale = 1.0 / max(n_tokens, 1.0)
        else:
            raise SeqkitError(f"reduction must be 'sum' or 'mean', not {reduction!r}")
        K = z.shape[-1]
        logp = log_softmax(z, xp)
        rows = xp.arange(y.size)
        flat_y = y.reshape(-1).astype(xp.int64)
        picked = logp.reshape(-1, K)[rows, flat_y].reshape(y.shape)
        wm = self._w[flat_y].reshape(y.shape) * mask
        loss = -float((picked * wm).sum()) * scale
        dz = xp.exp(logp)
        dz.reshape(-1, K)[rows, flat_y] -= 1
        dz *= (wm * scale)[..., None].astype(dz.dtype)
        return loss, dz, n_tokens


class EnsembleSoftmax(WeightedSoftmax):
    """z = [z_1 | ... | z_M], M members' logits over K classes (..., M K).

    L = (1/M) Σ_m L_m, L_m = -Σ_t w[y<t>] log softmax(z_m<t>)[y<t>]: each member
    learns from its own loss (dz_m = w[y] (ŷ_m - onehot(y)) / M), so the members
    stay independent models that share only the batches; ŷ = (1/M) Σ_m ŷ_m and
    the label is its argmax (averaging the members' probabilities, the usual
    ensemble over seeds)."""

    type_name = "ensemble_softmax"

    def __init__(self, n_y: int, members: int = 1, weights=None, backend=None,
                 dtype: str = "float32"):
        super().__init__(n_y, weights, backend, dtype)
        if int(members) < 1:
            raise SeqkitError(f"an ensemble needs at least one member, not {members}")
        self.members = int(members)

    def config(self) -> dict:
        return {**super().config(), "members": self.members}

    def _split(self, z):
        M, K = self.members, self.n_y
        if z.shape[-1] != M * K:
            raise SeqkitError(f"the ensemble head expects {M} x {K} scores, not {z.shape[-1]}")
        return z.reshape(*z.shape[:-1], M, K)

    def loss(self, z, y, mask, n_examples, reduction="sum", accumulate=True):
        xp, M = self.xp, self.members
        zm = self._split(z)
        ym = xp.broadcast_to(y[..., None], y.shape + (M,))
        mm = xp.broadcast_to(mask[..., None], mask.shape + (M,)) / M
        # mm sums to mask.sum(): the per-token mean still counts each token once
        loss, dz, _ = super().loss(zm, ym, mm, n_examples, reduction, accumulate)
        return loss, dz.reshape(z.shape), float(mask.sum())

    def probabilities(self, z, lengths=None):
        zm = self.backend.to_numpy(z).astype(np.float64)
        zm = zm.reshape(*zm.shape[:-1], self.members, self.n_y)
        zm = zm - zm.max(axis=-1, keepdims=True)
        p = np.exp(zm)
        return (p / p.sum(axis=-1, keepdims=True)).mean(axis=-2)

    def decode(self, z, lengths=None):
        return self.probabilities(z, lengths).argmax(-1)

    def draw(self, z, rng, temperature=1.0, top_k=None, lengths=None):
        raise SeqkitError("the ensemble head does not draw samples")


POOL_MODES = ("last", "mean", "max", "flat")


class SeqPool(Layer):
    """(T, B, n) recurrent outputs -> (B, n × len(modes)).

    last : [forward a<T_x> | backward a<1>] (the core's many-to-one readout)
    mean : (1/T_x) Σ_{t<T_x} a<t>
    max  : max_{t<T_x} a<t>, per unit (the gradient goes to the argmax step)
    flat : [a<1> | a<2> | ... | a<L>], every step's output, for sequences of one
           fixed length L (windows centred on a site): the dense layer after it
           weighs each position on its own, as a position-specific readout must
    """

    type_name = "dna_pool"

    def __init__(self, directions: int = 1, modes=("last",), length: int | None = None,
                 backend=None, dtype: str = "float32"):
        super().__init__(backend, dtype)
        modes = [modes] if isinstance(modes, str) else list(modes)
        if not modes or any(m not in POOL_MODES for m in modes):
            raise SeqkitError(f"pooling modes must be some of {', '.join(POOL_MODES)}, not {modes}")
        if "flat" in modes and not (isinstance(length, int) and length > 0):
            raise SeqkitError("the flat readout needs the sequences' fixed length")
        self.directions, self.modes, self.length = int(directions), modes, length

    def config(self) -> dict:
        cfg = {"type": self.type_name, "directions": self.directions, "modes": self.modes}
        if self.length is not None:
            cfg["length"] = self.length
        return cfg

    def width(self, n: int) -> int:
        """Output features for recurrent outputs of ``n`` features per step."""
        return sum(n * (self.length if m == "flat" else 1) for m in self.modes)

    def begin_update(self, y, ctx):
        xp = self.xp
        T, B, n = y.shape
        lengths = np.full(B, T) if ctx.lengths is None else np.asarray(ctx.lengths)
        valid = xp.asarray((np.arange(T)[:, None] < lengths[None, :]).astype(self.dtype))[..., None]
        parts, backs, widths = [], [], []
        rows = xp.arange(B)
        for mode in self.modes:
            widths.append(n * T if mode == "flat" else n)
            if mode == "flat":
                if T != self.length or (lengths != T).any():
                    raise SeqkitError(f"this model reads sequences of exactly {self.length} bases "
                                      f"(--pool flat), not {sorted(set(lengths.tolist()))}")
                parts.append(y.transpose(1, 0, 2).reshape(B, T * n))

                def back(d_out, dy):
                    dy += d_out.reshape(B, T, n).transpose(1, 0, 2)
            elif mode == "last":
                H = n // self.directions
                steps = [xp.asarray(t) for t in final_index(lengths, T, self.directions)]
                parts.append(xp.concatenate([y[t, rows, d * H:(d + 1) * H]
                                             for d, t in enumerate(steps)], axis=-1))

                def back(d_out, dy, steps=steps, H=H):
                    for d, t in enumerate(steps):
                        dy[t, rows, d * H:(d + 1) * H] += d_out[:, d * H:(d + 1) * H]
            elif mode == "mean":
                inv = xp.asarray((1.0 / lengths).astype(self.dtype))[:, None]
                parts.append((y * valid).sum(axis=0) * inv)

                def back(d_out, dy, inv=inv):
                    dy += (d_out * inv)[None] * valid
            else:
                masked = xp.where(valid > 0, y, -xp.inf)
                arg = masked.argmax(axis=0)                     # (B, n)
                cols = xp.arange(n)[None, :]
                parts.append(y[arg, rows[:, None], cols])

                def back(d_out, dy, arg=arg, cols=cols):
                    dy[arg, rows[:, None], cols] += d_out
            backs.append(back)

        def backprop(d_out):
            dy = xp.zeros((T, B, n), dtype=d_out.dtype)
            start = 0
            for back, w in zip(backs, widths):
                back(d_out[:, start:start + w], dy)
                start += w
            return dy

        return xp.concatenate(parts, axis=-1), backprop


class FlatInput(Layer):
    """The batch's input ``name``, (T, B, n) features of a fixed length T,
    flattened per example to (B, T n) (position-major): a dense layer after it
    gives every (position, feature) its own weight, i.e. a position-specific
    linear model (a weight matrix like a PWM's, learnt discriminatively). The
    input is data, so backprop passes nothing on (a ``concatenate`` beside a
    branch on another input adds nothing of a different shape)."""

    type_name = "dna_flat_input"

    def __init__(self, name: str = "wide", length: int = 1, backend=None,
                 dtype: str = "float32"):
        super().__init__(backend, dtype)
        if not (isinstance(length, int) and length > 0):
            raise SeqkitError("the flat input needs the sequences' fixed length")
        self.name, self.length = name, int(length)

    def config(self) -> dict:
        return {"type": self.type_name, "name": self.name, "length": self.length}

    def width(self, n: int) -> int:
        return n * self.length

    def begin_update(self, X, ctx):
        x = ctx.inputs[self.name]
        T, B, n = x.shape
        lengths = np.full(B, T) if ctx.lengths is None else np.asarray(ctx.lengths)
        if T != self.length or (lengths != T).any():
            raise SeqkitError(f"this model reads sequences of exactly {self.length} bases, "
                              f"not {sorted(set(lengths.tolist()))}")
        return x.transpose(1, 0, 2).reshape(B, T * n), lambda d_out: None


LAYERS = (WeightedSoftmax, EnsembleSoftmax, FlatInput, SeqPool)
