"""Linear-chain CRF output head: the tags of a sequence scored jointly, not one softmax per step.

Notation (one example, length T_x, K tags; z<t> the unary scores the network emits at step t)::

    score(x, y) = s[y<1>] + Σ_t z<t>[y<t>] + Σ_{t>1} A[y<t-1>, y<t>] + e[y<T_x>]
    p(y | x)    = exp(score(x, y)) / Z(x),   Z(x) = Σ_y' exp(score(x, y'))
    L           = log Z(x) - score(x, y)                     (negative log-likelihood)

    forward   α<1>(j) = s[j] + z<1>(j),   α<t>(j) = z<t>(j) + logsumexp_i(α<t-1>(i) + A[i, j])
              log Z   = logsumexp_j(α<T_x>(j) + e[j])
    backward  β<T_x>(i) = e[i],           β<t>(i) = logsumexp_j(A[i, j] + z<t+1>(j) + β<t+1>(j))
    marginals p(y<t> = j | x)               = exp(α<t>(j) + β<t>(j) - log Z)
              p(y<t-1> = i, y<t> = j | x)   = exp(α<t-1>(i) + A[i, j] + z<t>(j) + β<t>(j) - log Z)
    gradient  ∂L/∂z<t>(j) = p(y<t> = j | x) - 1[y<t> = j]
              ∂L/∂A[i, j] = Σ_t p(y<t-1> = i, y<t> = j | x) - #{t: y<t-1> = i, y<t> = j}
              (expected counts minus observed counts; likewise s with t = 1 and e with t = T_x)
    Viterbi   δ<t>(j) = z<t>(j) + max_i(δ<t-1>(i) + A[i, j]), ψ<t>(j) its argmax, followed back
              from argmax_j(δ<T_x>(j) + e[j])

Shapes: T steps, B examples, K = n_tags. ``z`` (T, B, K) in the backend dtype; ``y`` (T, B) int;
``mask`` (T, B) 0/1, each column a prefix of ones; ``lengths`` (B,) int, 1 ≤ T_x ≤ T, on the host.
Parameters: ``transitions`` A (K, K) indexed [from, to], ``start`` s (K,), ``end`` e (K,).
Optional boolean masks ``allowed`` (K, K), ``allowed_start`` (K,), ``allowed_end`` (K,) are
constants, not parameters: a forbidden entry scores -inf everywhere, so no path through it has
any probability and its gradient is exactly 0. The loss of an example whose *gold* path is
forbidden is +inf; callers are expected to give valid gold paths.
"""
from __future__ import annotations

import numpy as np

from ..errors import SeqkitError
from .base import Head

SCHEMES = {"BIO": ("B", "I"), "IOB2": ("B", "I"), "IOBES": ("B", "I", "E", "S"),
           "BIOES": ("B", "I", "E", "S")}


def _logsumexp(x, axis, xp):
    """logsumexp that maps an all -inf slice to -inf, not NaN (forbidden states)."""
    m = x.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)  # -inf - -inf would be NaN; shifting by 0 gives exp(-inf) = 0
    s = xp.exp(x - m).sum(axis=axis)
    return xp.where(s > 0, xp.log(xp.where(s > 0, s, 1)), -np.inf) + m.squeeze(axis)


class CRF(Head):
    type_name = "crf"
    categorical = True
    generates = False  # a CRF scores whole paths: it decodes and draws paths, not steps

    def __init__(self, n_tags: int, allowed=None, allowed_start=None, allowed_end=None,
                 backend=None, dtype: str = "float32", seed: int = 0):
        if int(n_tags) < 1:
            raise SeqkitError(f"a CRF needs at least one tag, not {n_tags}")
        super().__init__(int(n_tags), backend, dtype)
        self.n_tags = K = int(n_tags)
        rng = np.random.default_rng(seed)
        self.add_param("transitions", rng.uniform(-0.1, 0.1, (K, K)))
        self.add_param("start", rng.uniform(-0.1, 0.1, (K,)))
        self.add_param("end", rng.uniform(-0.1, 0.1, (K,)))
        self._masks_host = {}
        self._masks = {}
        for name, value, shape in (("allowed", allowed, (K, K)), ("allowed_start", allowed_start, (K,)),
                                   ("allowed_end", allowed_end, (K,))):
            host = None if value is None else np.asarray(value, dtype=bool)
            if host is not None and host.shape != shape:
                raise SeqkitError(f"{name} must have shape {shape}, not {host.shape}")
            self._masks_host[name] = host
            self._masks[name] = self.backend.asarray(np.ones(shape, bool) if host is None else host)

    def config(self) -> dict:
        masks = {k: None if v is None else v.tolist() for k, v in self._masks_host.items()}
        return {"type": self.type_name, "n_tags": self.n_tags, **masks}

    @classmethod
    def from_config(cls, cfg: dict, backend=None, dtype: str = "float32", seed: int = 0) -> CRF:
        if cfg.get("type", cls.type_name) != cls.type_name:
            raise SeqkitError(f"not a CRF config: type {cfg.get('type')!r}")
        return cls(cfg["n_tags"], allowed=cfg.get("allowed"), allowed_start=cfg.get("allowed_start"),
                   allowed_end=cfg.get("allowed_end"), backend=backend, dtype=dtype, seed=seed)

    # -- the recursions ----------------------------------------------------------
    def _scores(self):
        """A, s, e with forbidden entries at -inf, formed on every call so that a perturbed or
        updated parameter (optimizer step, gradcheck) is always what is used."""
        xp, p, m = self.xp, self.params, self._masks
        return (xp.where(m["allowed"], p["transitions"], -np.inf),
                xp.where(m["allowed_start"], p["start"], -np.inf),
                xp.where(m["allowed_end"], p["end"], -np.inf))

    def _check(self, z, lengths):
        """Host lengths (None: every example runs all T steps) and the (T, B) device validity mask."""
        if z.ndim != 3 or z.shape[2] != self.n_tags:
            raise SeqkitError(f"z must be (T, B, {self.n_tags}), not {tuple(z.shape)}")
        T, B, _ = z.shape
        if lengths is None:
            lengths = np.full(B, T)
        lengths = self.backend.to_numpy(lengths).astype(np.int64).reshape(-1)
        if lengths.shape != (B,) or (B and (lengths.min() < 1 or lengths.max() > T)):
            raise SeqkitError(f"lengths must be {B} values in [1, {T}], got {lengths.tolist()}")
        return lengths, self.xp.asarray(np.arange(T)[:, None] < lengths[None, :])

    def _forward(self, z, valid, A, s, e):
        """α (T, B, K), carried unchanged through padded steps so α[T-1] is each example's last
        (what padded z gives is computed, then discarded by the where: no branch per example)."""
        xp = self.xp
        alpha = xp.empty(z.shape, dtype=xp.result_type(z.dtype, A.dtype))
        alpha[0] = s + z[0]
        for t in range(1, z.shape[0]):
            new = z[t] + _logsumexp(alpha[t - 1][:, :, None] + A, 1, xp)
            alpha[t] = xp.where(valid[t][:, None], new, alpha[t - 1])
        return alpha, _logsumexp(alpha[-1] + e, 1, xp)

    def _backward(self, z, valid, A, e, dtype):
        """β (T, B, K); β = e at an example's last step and after it."""
        xp = self.xp
        beta = xp.empty(z.shape, dtype=dtype)
        beta[-1] = e
        for t in range(z.shape[0] - 2, -1, -1):
            new = _logsumexp(A + (z[t + 1] + beta[t + 1])[:, None, :], 2, xp)
            beta[t] = xp.where(valid[t + 1][:, None], new, e)
        return beta

    def _posterior(self, z, valid, A, s, e):
        alpha, log_z = self._forward(z, valid, A, s, e)
        beta = self._backward(z, valid, A, e, alpha.dtype)
        # an example with no allowed path at all has log Z = -inf; its marginals are 0, not NaN
        log_z_safe = self.xp.where(self.xp.isfinite(log_z), log_z, 0)
        marg = self.xp.where(valid[:, :, None], self.xp.exp(alpha + beta - log_z_safe[:, None]), 0)
        return alpha, beta, log_z, log_z_safe, marg

    # -- the head's API ----------------------------------------------------------
    def loss(self, z, y, mask, n_examples, reduction: str = "sum", accumulate: bool = True):
        """NLL summed over examples / n_examples ("sum") or / valid tokens ("mean").
        Returns (loss, dz, n_tokens) and, with ``accumulate``, adds the gradients of
        A, s and e (evaluation passes False and gets dz None)."""
        xp, K = self.xp, self.n_tags
        mask = self.backend.asarray(mask)
        n_tokens = float(mask.sum())
        lengths, valid = self._check(z, self.backend.to_numpy(mask.sum(axis=0)))
        if not bool((valid == (mask > 0)).all()):
            raise SeqkitError("each column of mask must be a prefix of ones (then zeros)")
        if reduction == "sum":
            scale = 1.0 / max(n_examples, 1)
        elif reduction == "mean":
            scale = 1.0 / max(n_tokens, 1.0)
        else:
            raise SeqkitError(f"reduction must be 'sum' or 'mean', not {reduction!r}")
        A, s, e = self._scores()
        alpha, beta, _, log_z_safe, marg = self._posterior(z, valid, A, s, e)
        T, B = valid.shape
        y = xp.where(valid, self.backend.asarray(y).astype(xp.int64), 0)  # padding ids may be anything
        rows = xp.arange(B)
        last = xp.asarray(lengths - 1)
        y_last = y[last, rows]
        # gold score via where, not a product with the mask: 0 * (-inf or NaN) at padded steps is NaN
        z_gold = xp.take_along_axis(z, y[:, :, None], 2)[..., 0]
        gold = s[y[0]] + e[y_last] + xp.where(valid, z_gold, 0).sum(0)
        if T > 1:
            gold = gold + xp.where(valid[1:], A[y[:-1], y[1:]], 0).sum(0)
        # a forbidden gold path gives +inf, also where no path is allowed at all (-inf - -inf would be NaN)
        loss = float((log_z_safe - gold).sum()) * scale
        if not accumulate:
            return loss, None, n_tokens

        onehot = xp.eye(K, dtype=marg.dtype)[y]
        dz = xp.where(valid[:, :, None], marg - onehot, 0) * scale
        w = valid.astype(marg.dtype) * scale
        dA = xp.zeros((K, K), dtype=marg.dtype)
        for t in range(1, T):
            log_xi = alpha[t - 1][:, :, None] + A + (z[t] + beta[t])[:, None, :]
            xi = xp.exp(log_xi - log_z_safe[:, None, None])
            dA += (xi * w[t][:, None, None]).sum(0)
        # observed transition counts for all steps in one GEMM (padded steps weigh 0)
        dA -= onehot[:-1].reshape(-1, K).T @ (onehot[1:] * w[1:, :, None]).reshape(-1, K)
        ds = ((marg[0] - onehot[0]) * scale).sum(0)
        de = ((marg[last, rows] - onehot[last, rows]) * scale).sum(0)
        m = self._masks
        # a forbidden entry never enters the score, so its gradient is 0 even for a forbidden gold path
        for name, g, allowed in (("transitions", dA, m["allowed"]), ("start", ds, m["allowed_start"]),
                                 ("end", de, m["allowed_end"])):
            self.accumulate_grad(name, xp.where(allowed, g, 0).astype(self.dtype))
        return loss, dz.astype(z.dtype), n_tokens

    def log_partition(self, z, lengths=None) -> np.ndarray:
        """(B,) log Z(x), host float64."""
        _, valid = self._check(z, lengths)
        A, s, e = self._scores()
        return self.backend.to_numpy(self._forward(z, valid, A, s, e)[1]).astype(np.float64)

    def marginals(self, z, lengths=None) -> np.ndarray:
        """(T, B, K) p(y<t> = j | x), host float64, zeros at padded steps."""
        _, valid = self._check(z, lengths)
        return self.backend.to_numpy(self._posterior(z, valid, *self._scores())[-1]).astype(np.float64)

    probabilities = marginals

    def decode(self, z, lengths=None) -> np.ndarray:
        """(T, B) host int64 Viterbi path, 0 at padded steps."""
        xp, K = self.xp, self.n_tags
        lengths, valid = self._check(z, lengths)
        A, s, e = self._scores()
        T, B = valid.shape
        delta = s + z[0]
        psi = xp.empty((T, B, K), dtype=xp.int64)
        # padded steps point each tag to itself, so backtracking walks through them unchanged
        identity = xp.broadcast_to(xp.arange(K), (B, K))
        shortest = int(lengths.min()) if B else T
        for t in range(1, T):
            cand = delta[:, :, None] + A
            best = cand.argmax(1)
            # the max is the entry at the argmax: one reduction over (B, K, K), not two
            new = xp.take_along_axis(cand, best[:, None, :], 1)[:, 0] + z[t]
            if t < shortest:  # every example still running: no padded rows to keep
                psi[t], delta = best, new
                continue
            psi[t] = xp.where(valid[t][:, None], best, identity)
            delta = xp.where(valid[t][:, None], new, delta)
        path = xp.empty((T, B), dtype=xp.int64)
        path[-1] = (delta + e).argmax(1)
        rows = xp.arange(B)
        for t in range(T - 1, 0, -1):
            path[t - 1] = psi[t, rows, path[t]]
        return self.backend.to_numpy(xp.where(valid, path, 0)).astype(np.int64)

    def draw(self, z, rng: np.random.Generator, temperature: float = 1.0, top_k=None,
             lengths=None) -> np.ndarray:
        """(T, B) host int64 path sampled from p(y | x): forward filtering, backward sampling
        y<T_x> ~ exp(α<T_x> + e), y<t-1> ~ exp(α<t-1> + A[:, y<t>]). 0 at padded steps."""
        lengths, valid = self._check(z, lengths)
        A, s, e = self._scores()
        alpha, _ = self._forward(z, valid, A, s, e)
        # sampling runs on the host: the Generator is NumPy's, and the work per step is O(B K)
        alpha, A, e = (self.backend.to_numpy(a).astype(np.float64) for a in (alpha, A, e))
        T, B = valid.shape
        valid = np.arange(T)[:, None] < lengths

        def sample(logits):
            m = logits.max(1, keepdims=True)
            c = np.exp(logits - np.where(np.isfinite(m), m, 0)).cumsum(1)
            u = 1.0 - rng.random(B)  # in (0, 1], so a zero-probability leading tag is never picked
            return np.minimum((c < u[:, None] * c[:, -1:]).sum(1), self.n_tags - 1)

        path = np.empty((T, B), dtype=np.int64)
        path[-1] = cur = sample(alpha[-1] + e)
        for t in range(T - 1, 0, -1):
            # rows still padded at t carry their last tag back to step T_x - 1
            path[t - 1] = cur = np.where(valid[t], sample(alpha[t - 1] + A[:, cur].T), cur)
        return np.where(valid, path, 0)


def transition_constraints(tags: list[str], scheme: str = "BIO"):
    """(allowed (K, K) [from, to], allowed_start (K,), allowed_end (K,)) boolean masks for a tag set.

    BIO (IOB2): I-X only after B-X or I-X, and never first.
    IOBES: after B-X or I-X only I-X or E-X; after O, E-X, S-X only O, B-*, S-*; starts with O, B-, S-;
    ends with O, E-, S-. A tag that is not part of the scheme ("<pad>", "E-X" under BIO) is
    unconstrained: every transition from or to it, and starting or ending with it, is allowed.
    """
    key = scheme.upper()
    if key not in SCHEMES:
        raise SeqkitError(f"unknown tag scheme {scheme!r}; known: {', '.join(SCHEMES)}")
    prefixes = SCHEMES[key]

    def parse(tag):
        if tag == "O":
            return "O", None
        prefix, sep, kind = tag.partition("-")
        return (prefix, kind) if sep and kind and prefix in prefixes else (None, None)

    parsed = [parse(t) for t in tags]
    K = len(tags)
    allowed = np.ones((K, K), dtype=bool)
    start, end = np.ones(K, dtype=bool), np.ones(K, dtype=bool)
    for j, (pj, kj) in enumerate(parsed):
        if pj is None:
            continue
        if key in ("BIO", "IOB2"):
            start[j] = pj != "I"
        else:
            start[j] = pj in ("O", "B", "S")
            end[j] = pj in ("O", "E", "S")
        for i, (pi, ki) in enumerate(parsed):
            if pi is None:
                continue
            if key in ("BIO", "IOB2"):
                allowed[i, j] = pj != "I" or (pi in ("B", "I") and ki == kj)
            elif pi in ("B", "I"):  # an open chunk must continue with its own type
                allowed[i, j] = pj in ("I", "E") and ki == kj
            else:  # no chunk open: I-/E- cannot come next
                allowed[i, j] = pj not in ("I", "E")
    return allowed, start, end
