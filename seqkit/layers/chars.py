"""A recurrent encoder over the characters of each word (the NER feature).

Every word of the batch goes through the character RNN in one kernel call:
the words become the examples of one (L_max, N_words) batch whose lengths are
the word lengths, so the kernel's ragged-length machinery does the rest.

    ids : (T, B, L) character ids of word t of sentence b (ragged: the first
          ``sublengths[t, b]`` are real, ``ctx.sublengths[input]``)
    -> (T, B, D*H): each word's final states [forward a<L_w> | backward a<1>],
       zeros for padded positions and empty words.
"""
from __future__ import annotations

import numpy as np

from .base import Context, Layer
from .embedding import Embedding
from .readout import LastStep
from .recurrent import Recurrent


class CharEncoder(Layer):
    type_name = "char_encoder"

    def __init__(self, input: str, num_embeddings: int, embedding_dim: int, hidden_size: int,
                 cell: str = "lstm", bidirectional: bool = True, backend=None,
                 dtype: str = "float32", seed: int = 0, **cell_options):
        super().__init__(backend, dtype)
        self.input = input
        common = {"backend": self.backend, "dtype": dtype}
        self.embedding = Embedding(num_embeddings, embedding_dim, seed=seed, **common)
        self.recurrent = Recurrent(cell, embedding_dim, hidden_size, bidirectional=bidirectional,
                                   seed=seed + 1, **common, **cell_options)
        self.readout = LastStep(self.recurrent.num_directions, **common)

    @property
    def output_size(self) -> int:
        return self.recurrent.output_size

    def named_children(self) -> dict:
        return {"embedding": self.embedding, "rnn": self.recurrent}

    def children(self):
        return [self.embedding, self.recurrent]

    def config(self) -> dict:
        r = self.recurrent
        return {"type": self.type_name, "input": self.input,
                "num_embeddings": self.embedding.num_embeddings,
                "embedding_dim": self.embedding.embedding_dim, "hidden_size": r.hidden_size,
                "cell": r.cell, "bidirectional": r.num_directions == 2, **r.options}

    def _words(self, ctx: Context):
        ids = ctx.inputs[self.input]
        sub = np.asarray(ctx.sublengths[self.input])
        t_idx, b_idx = np.nonzero(sub > 0)
        return ids, sub, t_idx, b_idx

    def begin_update(self, X, ctx: Context, predict: bool = False):
        ids, sub, t_idx, b_idx = self._words(ctx)
        T, B = sub.shape
        out = self.xp.zeros((T, B, self.output_size), dtype=self.dtype)
        if t_idx.size == 0:
            return out, lambda d: None
        word_len = sub[t_idx, b_idx].astype(np.int64)
        ti, bi = self.xp.asarray(t_idx), self.xp.asarray(b_idx)
        chars = ids[ti, bi, : int(word_len.max())].T          # (L_max, N_words)
        wctx = Context(lengths=word_len, training=ctx.training)
        e, bp_e = self.embedding.begin_update(chars, wctx)
        if predict:
            out[ti, bi] = self.readout.predict(self.recurrent.predict(e, wctx), wctx)
            return out, None
        y, bp_r = self.recurrent.begin_update(e, wctx)
        final, bp_f = self.readout.begin_update(y, wctx)
        out[ti, bi] = final

        def backprop(d_out):
            bp_e(bp_r(bp_f(d_out[ti, bi])))
            return None  # character ids carry no gradient

        return out, backprop

    def predict(self, X, ctx: Context):
        return self.begin_update(X, ctx, predict=True)[0]
