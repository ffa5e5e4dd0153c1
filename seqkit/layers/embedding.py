"""Embedding: the lecture's one-hot x<t> times W_ax, computed as a row gather.

    x<t> = onehot(id<t>)  =>  W_ax x<t> = W_ax[:, id<t>], i.e. row id<t> of weight
    weight : (vocab_size, embedding_dim), PyTorch's ``nn.Embedding`` layout
"""
from __future__ import annotations

import numpy as np

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
            dW = self.xp.zeros_like(self.params["weight"])
            self.backend.scatter_add(dW, ids.reshape(-1), dy.reshape(-1, self.embedding_dim))
            self.accumulate_grad("weight", dW)

        return self.params["weight"][ids], backprop
