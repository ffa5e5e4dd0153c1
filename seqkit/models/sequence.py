"""The core's default model: input, recurrent stack, dense layer and head, for each task kind.

    many-to-many / one-to-many   x<1..T_x> -> a<1..T_x> -> ŷ<t> = head(W_y a<t> + b_y) at every valid t
    many-to-one                  x<1..T_x> -> a<T_x>    -> ŷ = head(W_y a<T_x> + b_y)  (both
                                 directions' final states concatenated when bidirectional)
    encoder-decoder              x<1..T_x> -> encoder a<T_x> = decoder a<0>;
                                 decoder input <bos>, y<1..T_y-1> (teacher forcing) -> ŷ<1..T_y>

Inputs are token ids through an ``Embedding`` (the one-hot x<t> times W_ax as a
row gather) or dense features (T, B, n_x). It is built from the core's layers
like any task's own model; tasks that need more build a ``ComposedModel``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from ..cells import cell_types, get_cell
from ..errors import SeqkitError
from ..examples import Kind
from ..heads import SigmoidHead, SoftmaxHead
from ..layers import Context, Dense, Dropout, Embedding, LastStep, Recurrent
from .base import Model


@dataclass
class ModelSpec:
    """Everything needed to rebuild a default model (stored in checkpoints)."""

    kind: str
    n_in: int                 # vocabulary size (tokens) or feature count (dense)
    n_y: int                  # classes (softmax) or independent units (sigmoid)
    input: str = "tokens"     # "tokens" | "dense"
    head: str = "softmax"     # "softmax" | "sigmoid"
    cell: str = "lstm"
    hidden: int = 128
    layers: int = 1
    bidirectional: bool = False
    embed_dim: int = 64
    dropout: float = 0.0
    nonlinearity: str | None = None   # None: the cell's own default
    n_in_decoder: int = 0     # encoder-decoder: decoder vocabulary (targets + <bos>)

    def __post_init__(self):
        Kind(self.kind)  # raises for an unknown kind
        get_cell(self.cell)  # an unknown cell is a one-line error naming the installed ones
        if self.input not in ("tokens", "dense") or self.head not in ("softmax", "sigmoid"):
            raise SeqkitError("input must be 'tokens' or 'dense', head 'softmax' or 'sigmoid'")
        if self.kind == Kind.ONE_TO_MANY and self.bidirectional:
            raise SeqkitError("a one-to-many (generative) model cannot be bidirectional: "
                              "it would read the future it is asked to predict")
        if self.kind == Kind.ENCODER_DECODER and (self.bidirectional or self.n_in_decoder < 1):
            raise SeqkitError("encoder-decoder needs a unidirectional encoder and n_in_decoder")

    def cell_options(self) -> dict:
        cell = get_cell(self.cell)
        if "nonlinearity" in cell.options:
            return {"nonlinearity": self.nonlinearity or cell.defaults()["nonlinearity"]}
        if self.nonlinearity not in (None, "tanh"):  # format-1 files say "tanh" for every cell
            raise SeqkitError(f"cell {self.cell!r} has no nonlinearity option (only: "
                              + ", ".join(n for n, c in cell_types().items() if "nonlinearity" in c.options)
                              + ")")
        return {}

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> ModelSpec:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


HEADS = {"softmax": SoftmaxHead, "sigmoid": SigmoidHead}


class SequenceModel(Model):
    def __init__(self, spec: ModelSpec, backend=None, dtype: str = "float32", seed: int = 0):
        super().__init__(spec.kind, backend, dtype)
        self.spec = s = spec
        common = {"backend": self.backend, "dtype": dtype}
        parts, n_x = {}, s.n_in
        if s.input == "tokens":
            parts["embedding"] = Embedding(s.n_in, s.embed_dim, seed=seed, **common)
            n_x = s.embed_dim
        recurrent = {"num_layers": s.layers, "dropout": s.dropout, **common, **s.cell_options()}
        parts["rnn"] = Recurrent(s.cell, n_x, s.hidden, bidirectional=s.bidirectional,
                                 seed=seed + 1, **recurrent)
        if s.kind == Kind.ENCODER_DECODER:
            parts["decoder_embedding"] = Embedding(s.n_in_decoder, s.embed_dim, seed=seed + 2,
                                                   **common)
            parts["decoder"] = Recurrent(s.cell, s.embed_dim, s.hidden, seed=seed + 3, **recurrent)
        D = 2 if s.bidirectional else 1
        # "head" names W_y, b_y in the checkpoint; the loss and decoding are self.head's
        parts["head"] = Dense(D * s.hidden, s.n_y, seed=seed + 4, **common)
        self.parts = parts
        self.head = HEADS[s.head](s.n_y, **common)
        self.readout = LastStep(D, **common)
        # dropout on embeddings / dense inputs, seeded apart from the stack's
        self.input_dropout = Dropout(s.dropout, seed=seed + 5, **common)

    def named_layers(self):
        return dict(self.parts)

    def dropouts(self):
        return [self.input_dropout] + [self.parts[n].dropout for n in ("rnn", "decoder")
                                       if n in self.parts]

    def config(self) -> dict:
        return {"type": "sequence", **self.spec.to_json()}

    # -- forward / backward --------------------------------------------------
    def _encoder(self, ctx: Context, predict: bool):
        x = ctx.inputs["x"]
        if "embedding" in self.parts:
            x, bp_emb = self.parts["embedding"].begin_update(x, ctx)
        else:
            bp_emb = None
        x, bp_drop = self.input_dropout.begin_update(x, ctx)
        if predict:
            return self.parts["rnn"].predict(x, ctx), None
        a, bp_rnn = self.parts["rnn"].begin_update(x, ctx)

        def backprop(da, d_state=None):
            dx = bp_drop(bp_rnn(da, d_state))
            return dx if bp_emb is None else bp_emb(dx)

        return a, backprop

    def begin_update(self, batch, state0=None):
        """Logits z: (T, B, n_y) per step, (B, n_y) for many-to-one, (T_y, B, n_y)
        for encoder-decoder; the final state; and ``backprop(dz)``."""
        ctx = self.context(batch, training=True, state0=state0)
        a, bp_enc = self._encoder(ctx, predict=False)
        a_shape, rnn = a.shape, self.parts["rnn"]
        bp_read = bp_dec = None
        if self.kind == Kind.MANY_TO_ONE:
            a, bp_read = self.readout.begin_update(a, ctx)
        elif self.kind == Kind.ENCODER_DECODER:
            dec = self.parts["decoder"]
            dctx = Context(lengths=batch.decoder_lengths, training=True,
                           state0={dec: ctx.state_n[rnn]})
            e, bp_de = self.parts["decoder_embedding"].begin_update(
                self.backend.asarray(batch.decoder_in), dctx)
            a, bp_d = dec.begin_update(e, dctx)

            def bp_dec(da):
                bp_de(bp_d(da))
                return dctx.d_state0[dec]

        z, bp_head = self.parts["head"].begin_update(a, ctx)

        def backprop(dz):
            da, d_state = bp_head(dz), None
            if bp_read is not None:
                da = bp_read(da)
            elif bp_dec is not None:
                d_state, da = bp_dec(da), self.xp.zeros(a_shape, dtype=da.dtype)
            return bp_enc(da, d_state)

        return z, ctx.state_n, backprop

    def predict(self, batch, state0=None):
        """Logits and final state, nothing kept for BPTT (encoder-decoder: teacher forced)."""
        ctx = self.context(batch, training=False, state0=state0)
        a, _ = self._encoder(ctx, predict=True)
        if self.kind == Kind.MANY_TO_ONE:
            a = self.readout.predict(a, ctx)
        elif self.kind == Kind.ENCODER_DECODER:
            dec = self.parts["decoder"]
            dctx = Context(lengths=batch.decoder_lengths, training=False,
                           state0={dec: ctx.state_n[self.parts["rnn"]]})
            e = self.parts["decoder_embedding"].predict(self.backend.asarray(batch.decoder_in), dctx)
            a = dec.predict(e, dctx)
        return self.parts["head"].predict(a, ctx), ctx.state_n

    # -- encoder-decoder: greedy decoding ---------------------------------------
    def encoder_state(self, batch):
        """The encoder's final state, the decoder's a<0>."""
        ctx = self.context(batch, training=False)
        self._encoder(ctx, predict=True)
        return ctx.state_n[self.parts["rnn"]]

    def decoder_step(self, y_prev, state):
        """One decoder step from the previous token ids y_prev (B,).
        Returns the logits (B, n_y) and the decoder's new state."""
        dec = self.parts["decoder"]
        ctx = Context(lengths=None, training=False, state0={dec: state})
        e = self.parts["decoder_embedding"].predict(y_prev[None], ctx)
        a = dec.predict(e, ctx)
        return self.parts["head"].predict(a, ctx)[0], ctx.state_n[dec]
