"""A recurrent encoder over the characters of each word (the NER feature).

Every distinct word of the batch goes through the character RNN once: each
token gets the states of its type ("the", "," and "." are read once per batch,
not hundreds of times), and backward sums the gradients of a type's tokens
before the RNN's backward (the chain rule for a shared input), so outputs and
gradients equal the per-token computation. The types become the examples of a
few (L_max, N_types) kernel calls, one per band of word lengths (up to 4, 8,
16, ... characters; a band of fewer than ``MIN_GROUP`` types joins the next), so
a 30-letter word does not pad the hundreds of short ones to 30 steps; within a
call the kernel's ragged-length machinery does the rest. Inference also keeps
the states of the types it has read (up to ``TYPE_CACHE``) for the next batches,
as long as the parameters are the same bytes (a fingerprint of them is checked
on every call), so predicting a corpus reads each distinct word about once.

    ids : (T, B, L) character ids of word t of sentence b (ragged: the first
          ``sublengths[t, b]`` are real, ``ctx.sublengths[input]``)
    -> (T, B, D*H): each word's final states [forward a<L_w> | backward a<1>],
       zeros for padded positions and empty words.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .base import Context, Layer
from .embedding import Embedding
from .readout import LastStep
from .recurrent import Recurrent

#: fewest word types of one kernel call (a smaller length band joins the next)
MIN_GROUP = 64
#: word types whose states inference keeps between batches (0: none)
TYPE_CACHE = 100_000


def word_types(chars: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct words among ``chars`` (N, L) host ids whose first ``lengths`` (N,)
    entries are real: (first, inverse), with word ``first[inverse[n]]`` equal to word n.
    Two words are the same when their lengths and real characters are (what pads them
    is ignored)."""
    L = chars.shape[1]
    real = np.arange(L)[None, :] < lengths[:, None]
    key = np.empty((len(chars), L + 1), dtype=np.int64)
    key[:, 0] = lengths
    key[:, 1:] = np.where(real, chars, 0)
    rows = key.view(np.dtype((np.void, key.itemsize * (L + 1)))).ravel()
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def length_groups(lengths: np.ndarray, min_size: int | None = None) -> list[np.ndarray]:
    """Indices of ``lengths`` (N,) in bands of lengths up to 4, 8, 16, ...; a band with
    fewer than ``min_size`` (default ``MIN_GROUP``) members joins the next longer one
    (the last band, the one before)."""
    min_size = MIN_GROUP if min_size is None else min_size
    band = np.maximum(np.ceil(np.log2(np.maximum(lengths, 1))), 2).astype(np.int64)
    groups, pending = [], []
    for b in np.unique(band):
        pending.append(np.nonzero(band == b)[0])
        if sum(len(p) for p in pending) >= min_size:
            groups.append(np.concatenate(pending))
            pending = []
    if pending:
        groups = groups[:-1] + [np.concatenate(groups[-1:] + pending)]
    return groups


class CharEncoder(Layer):
    type_name = "char_encoder"
    #: read each distinct word of a batch once (False: every token, for tests and timing)
    per_type = True

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
        self._memo = None  # inference: (parameter fingerprint, {word bytes: row}, states table)

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

    def _encode(self, host, first, lengths, groups, training: bool, predict: bool):
        """(len(first), D*H) final states of the words ``host[first]`` (lengths ``lengths``),
        one kernel call per group of ``groups``; and the backprops of the groups."""
        final = self.xp.empty((len(first), self.output_size), dtype=self.dtype)
        backprops = []
        for g in groups:
            chars = np.ascontiguousarray(host[first[g], :int(lengths[g].max())].T)  # (L_g, N_g)
            wctx = Context(lengths=lengths[g], training=training)
            e, bp_e = self.embedding.begin_update(self.xp.asarray(chars), wctx)
            rows = self.xp.asarray(g)
            if predict:
                final[rows] = self.readout.predict(self.recurrent.predict(e, wctx), wctx)
                continue
            y, bp_r = self.recurrent.begin_update(e, wctx)
            final[rows], bp_f = self.readout.begin_update(y, wctx)
            backprops.append((rows, bp_e, bp_r, bp_f))
        return final, backprops

    def _fingerprint(self) -> bytes:
        h = hashlib.blake2b(digest_size=16)
        for layer in self.children():
            for name, p in sorted(layer.params.items()):
                h.update(name.encode())
                h.update(np.ascontiguousarray(self.backend.to_numpy(p)).tobytes())
        return h.digest()

    def _predict_types(self, host, first, lengths):
        """The types' final states at inference, those of types read before (same
        parameters) taken from the memo, the others read now and added to it."""
        fingerprint = self._fingerprint()
        if self._memo is None or self._memo[0] != fingerprint:
            self._memo = (fingerprint, {}, self.xp.empty((0, self.output_size), dtype=self.dtype))
        _, index, table = self._memo
        keys = [host[f, :n].tobytes() for f, n in zip(first.tolist(), lengths.tolist())]
        rows = np.array([index.get(k, -1) for k in keys], dtype=np.int64)
        new = np.nonzero(rows < 0)[0]
        if new.size:
            states, _ = self._encode(host, first[new], lengths[new], length_groups(lengths[new]),
                                     training=False, predict=True)
            if len(index) + new.size > TYPE_CACHE:  # full: this batch's states only
                final = self.xp.empty((len(first), self.output_size), dtype=self.dtype)
                known = np.nonzero(rows >= 0)[0]
                final[self.xp.asarray(known)] = table[self.xp.asarray(rows[known])]
                final[self.xp.asarray(new)] = states
                self._memo = None
                return final
            rows[new] = np.arange(len(index), len(index) + new.size)
            index.update(zip((keys[i] for i in new.tolist()), rows[new].tolist()))
            table = self.xp.concatenate([table, states])
            self._memo = (fingerprint, index, table)
        return table[self.xp.asarray(rows)]

    def begin_update(self, X, ctx: Context, predict: bool = False):
        ids, sub, t_idx, b_idx = self._words(ctx)
        T, B = sub.shape
        out = self.xp.zeros((T, B, self.output_size), dtype=self.dtype)
        if t_idx.size == 0:
            return out, lambda d: None
        word_len = sub[t_idx, b_idx].astype(np.int64)
        ti, bi = self.xp.asarray(t_idx), self.xp.asarray(b_idx)
        host = self.backend.to_numpy(ids)[t_idx, b_idx, :int(word_len.max())]  # (N_words, L)
        if not self.per_type:  # every token its own example, in one call
            final, backprops = self._encode(host, np.arange(len(host)), word_len,
                                            [np.arange(len(host))], ctx.training, predict)
            out[ti, bi] = final
            inverse = None
        else:
            first, inverse = word_types(host, word_len)
            lengths = word_len[first]
            if predict and TYPE_CACHE:
                final, backprops = self._predict_types(host, first, lengths), []
            else:
                final, backprops = self._encode(host, first, lengths, length_groups(lengths),
                                                ctx.training, predict)
            inverse = self.xp.asarray(inverse)
            out[ti, bi] = final[inverse]
        if predict:
            return out, None

        def backprop(d_out):
            d_final = d_out[ti, bi]
            if inverse is not None:  # a type's tokens share its states: their gradients add
                d_types = self.xp.zeros(final.shape, dtype=d_final.dtype)
                self.backend.scatter_add(d_types, inverse, d_final)
                d_final = d_types
            for rows, bp_e, bp_r, bp_f in backprops:
                bp_e(bp_r(bp_f(d_final[rows])))
            return None  # character ids carry no gradient

        return out, backprop

    def predict(self, X, ctx: Context):
        return self.begin_update(X, ctx, predict=True)[0]
