"""A whole sequence model: input, recurrent stack, output head, for each task kind.

    many-to-many / one-to-many   x<1..T_x> -> a<1..T_x> -> ŷ<t> = head(a<t>) at every valid t
    many-to-one                  x<1..T_x> -> a<T_x>    -> ŷ = head(a<T_x>)  (both directions'
                                 final states concatenated when bidirectional)
    encoder-decoder              x<1..T_x> -> encoder a<T_x> = decoder a<0>;
                                 decoder input <bos>, y<1..T_y-1> (teacher forcing) -> ŷ<1..T_y>

Inputs are token ids through an ``Embedding`` (the one-hot x<t> times W_ax as a
row gather) or dense features (T, B, n_x). ``forward`` returns the logits z;
the head's loss (``seqkit.losses``) turns them into a loss and dz, and
``backward(dz)`` runs BPTT through everything, filling ``grads()``.
Parameter names are ``<part>.<PyTorch name>``, e.g. ``rnn.weight_hh_l0``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .backend import get_backend
from .errors import SeqkitError
from .layers import GRU, LSTM, RNN, Dense, Dropout, Embedding
from .tasks import Kind

RECURRENT = {"rnn": RNN, "gru": GRU, "lstm": LSTM}


@dataclass
class ModelSpec:
    """Everything needed to rebuild a model (stored in checkpoints)."""

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
    nonlinearity: str = "tanh"
    n_in_decoder: int = 0     # encoder-decoder: decoder vocabulary (targets + <bos>)

    def __post_init__(self):
        Kind(self.kind)  # raises for an unknown kind
        if self.cell not in RECURRENT:
            raise SeqkitError(f"cell must be one of {', '.join(RECURRENT)}, not {self.cell!r}")
        if self.input not in ("tokens", "dense") or self.head not in ("softmax", "sigmoid"):
            raise SeqkitError("input must be 'tokens' or 'dense', head 'softmax' or 'sigmoid'")
        if self.kind == Kind.ONE_TO_MANY and self.bidirectional:
            raise SeqkitError("a one-to-many (generative) model cannot be bidirectional: "
                              "it would read the future it is asked to predict")
        if self.kind == Kind.ENCODER_DECODER and (self.bidirectional or self.n_in_decoder < 1):
            raise SeqkitError("encoder-decoder needs a unidirectional encoder and n_in_decoder")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> ModelSpec:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class SequenceModel:
    def __init__(self, spec: ModelSpec, backend=None, dtype: str = "float32", seed: int = 0):
        self.spec, self.backend = spec, get_backend(backend)
        self.xp, self.dtype = self.backend.xp, dtype
        common = {"backend": self.backend, "dtype": dtype}
        s, parts = spec, {}
        n_x = s.n_in
        if s.input == "tokens":
            parts["embedding"] = Embedding(s.n_in, s.embed_dim, seed=seed, **common)
            n_x = s.embed_dim
        extra = {"nonlinearity": s.nonlinearity} if s.cell == "rnn" else {}
        parts["rnn"] = RECURRENT[s.cell](n_x, s.hidden, num_layers=s.layers,
                                         bidirectional=s.bidirectional, dropout=s.dropout,
                                         seed=seed + 1, **common, **extra)
        if s.kind == Kind.ENCODER_DECODER:
            parts["decoder_embedding"] = Embedding(s.n_in_decoder, s.embed_dim, seed=seed + 2,
                                                   **common)
            parts["decoder"] = RECURRENT[s.cell](s.embed_dim, s.hidden, num_layers=s.layers,
                                                 dropout=s.dropout, seed=seed + 3,
                                                 **common, **extra)
        D = 2 if s.bidirectional else 1
        parts["head"] = Dense(D * s.hidden, s.n_y, seed=seed + 4, **common)
        self.parts = parts
        # dropout on embeddings / dense inputs, seeded apart from the stack's
        self.input_dropout = Dropout(s.dropout, seed=seed + 5, **common)

    # -- parameters ----------------------------------------------------------
    def params(self) -> dict:
        """Flat name -> backend array; the same arrays the layers use, so an
        optimizer updating them in place updates the model."""
        return {f"{p}.{n}": a for p, layer in self.parts.items() for n, a in layer.params.items()}

    def grads(self) -> dict:
        return {f"{p}.{n}": g for p, layer in self.parts.items() for n, g in layer.grads().items()}

    def zero_grad(self) -> None:
        for layer in self.parts.values():
            layer.zero_grad()

    def state_dict(self) -> dict:
        return {f"{p}.{n}": a for p, layer in self.parts.items()
                for n, a in layer.state_dict().items()}

    def load_state_dict(self, state: dict) -> None:
        for p, layer in self.parts.items():
            layer.load_state_dict({n[len(p) + 1:]: a for n, a in state.items()
                                   if n.startswith(p + ".")})

    def train(self, mode: bool = True) -> SequenceModel:
        for layer in (*self.parts.values(), self.input_dropout):
            layer.train(mode)
        return self

    def eval(self) -> SequenceModel:
        return self.train(False)

    def seed_dropout(self, seed: int) -> None:
        """Restart every dropout mask stream (per epoch, so a resumed run draws
        the same masks as an uninterrupted one)."""
        self.input_dropout.seed(seed)
        for i, name in enumerate(("rnn", "decoder")):
            if name in self.parts:
                self.parts[name].dropout.seed(seed * 7 + i + 1)

    # -- forward / backward --------------------------------------------------
    def _encode_input(self, x):
        if "embedding" in self.parts:
            x = self.parts["embedding"].forward(x)
        else:
            x = self.backend.asarray(x, dtype=self.dtype)
        return self.input_dropout.forward(x)

    def forward(self, x, lengths, h0=None, decoder_in=None, decoder_lengths=None):
        """Logits z: (T, B, n_y) per step, (B, n_y) for many-to-one, (T_y, B, n_y)
        for encoder-decoder. Returns ``(z, state)``, state the final recurrent state
        (carried across chunks by truncated BPTT, fed back when sampling)."""
        rnn, kind = self.parts["rnn"], self.spec.kind
        a, state = rnn.forward(self._encode_input(x), lengths, h0)
        self._a_shape = a.shape
        if kind == Kind.MANY_TO_ONE:
            h_n = state[0] if self.spec.cell == "lstm" else state
            D = rnn.num_directions
            # the last layer's final state of each direction, at each example's own end
            a = self.xp.concatenate(list(h_n[-D:]), axis=-1)
        elif kind == Kind.ENCODER_DECODER:
            emb = self.parts["decoder_embedding"].forward(decoder_in)
            a, state = self.parts["decoder"].forward(emb, decoder_lengths, state)
        return self.parts["head"].forward(a), state

    def encoder_state(self, x, lengths):
        """Encoder-decoder: the encoder's final state, the decoder's a<0>."""
        _, state = self.parts["rnn"].forward(self._encode_input(x), lengths)
        return state

    def decoder_step(self, y_prev, state):
        """Encoder-decoder: one decoder step from the previous token ids y_prev (B,).
        Returns the logits (B, n_y) and the decoder's new state."""
        emb = self.parts["decoder_embedding"].forward(y_prev[None])
        a, state = self.parts["decoder"].forward(emb, None, state)
        return self.parts["head"].forward(a)[0], state

    def backward(self, dz, d_state=None):
        """BPTT through the head, the stack(s) and the input; fills ``grads()``."""
        xp, kind, rnn = self.xp, self.spec.kind, self.parts["rnn"]
        da = self.parts["head"].backward(dz)
        if kind == Kind.MANY_TO_ONE:
            D, H, B = rnn.num_directions, rnn.hidden_size, da.shape[0]
            dh = xp.zeros((rnn.num_layers * D, B, H), dtype=da.dtype)
            for d in range(D):
                dh[rnn.num_layers * D - D + d] = da[:, d * H:(d + 1) * H]
            d_state = (dh, xp.zeros_like(dh)) if self.spec.cell == "lstm" else dh
            da = xp.zeros(self._a_shape, dtype=da.dtype)
        elif kind == Kind.ENCODER_DECODER:
            dec = self.parts["decoder"]
            self.parts["decoder_embedding"].backward(dec.backward(da, d_state))
            da, d_state = xp.zeros(self._a_shape, dtype=da.dtype), dec.d_state0
        dx = rnn.backward(da, d_state)
        dx = self.input_dropout.backward(dx)
        if "embedding" in self.parts:
            self.parts["embedding"].backward(dx)
        return dx
