"""Embedding: the lecture's one-hot x<t> times W_ax, computed as a row gather.

    x<t> = onehot(id<t>)  =>  W_ax x<t> = W_ax[:, id<t>], i.e. row id<t> of weight
    weight : (vocab_size, embedding_dim), PyTorch's ``nn.Embedding`` layout

Backward is a scatter-add into the rows that were gathered. The gradient is
one dense (V, E) array kept from step to step: backward writes the touched
rows, ``zero_grad`` zeroes just those, so a step costs the rows of its batch,
not a V x E array of zeros (a 17,494-word vocabulary: 7 MB per step). The
array is registered as row-sparse (``seqkit.rows``), so clipping and the lazy
``SparseAdam`` can work on the touched rows only. Being reused, the array a
``grads()`` returned changes after ``zero_grad``: copy it to keep it.
"""
from __future__ import annotations

import numpy as np

from .. import rows
from ..errors import SeqkitError
from .base import Layer


class Embedding(Layer):
    type_name = "embedding"

    def __init__(self, num_embeddings: int, embedding_dim: int, backend=None,
                 dtype: str = "float32", seed: int = 0):
        super().__init__(backend, dtype)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        # N(0, 1) as in PyTorch
        self.add_param("weight", np.random.default_rng(seed).standard_normal(
            (num_embeddings, embedding_dim)))
        self._dW = None       # the persistent gradient (V, E), allocated at first use
        self._touched = []    # the id arrays scattered into it since zero_grad

    def config(self) -> dict:
        return {"type": self.type_name, "num_embeddings": self.num_embeddings,
                "embedding_dim": self.embedding_dim}

    def begin_update(self, ids, ctx=None):
        """ids : (...) integer token ids -> (..., embedding_dim)."""
        ids = self.backend.asarray(ids)
        if ids.dtype.kind not in "iu":
            raise SeqkitError(f"Embedding takes integer ids, got {ids.dtype}")
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= self.num_embeddings):
            raise SeqkitError(f"token ids must be in [0, {self.num_embeddings})")

        def backprop(dy):
            """Scatter-add dy into the rows that were gathered (repeats accumulate).
            The ids are not differentiable, so nothing is returned."""
            flat = ids.reshape(-1)
            self.backend.scatter_add(self._gradient(), flat, dy.reshape(-1, self.embedding_dim))
            self._touched.append(flat)

        return self.params["weight"][ids], backprop

    # -- the row-sparse gradient ---------------------------------------------------
    def _gradient(self):
        if self._dW is None:
            self._dW = self.xp.zeros_like(self.params["weight"])
            rows.register(self._dW, self)
        return self._dW

    def touched_rows(self):
        """The rows of the gradient backward wrote since ``zero_grad`` (sorted, unique)."""
        if not self._touched:
            return self.xp.zeros(0, dtype=self.xp.int64)
        return self.xp.unique(self.xp.concatenate(self._touched))

    def grads(self) -> dict:
        return {"weight": self._gradient()}

    def zero_grad(self) -> None:
        super().zero_grad()
        if self._dW is not None:
            if rows.take_dense(self._dW):   # written beyond its rows (an allreduce)
                self._dW[...] = 0
            elif self._touched:
                self._dW[self.touched_rows()] = 0
        self._touched = []
