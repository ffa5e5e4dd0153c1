"""Dense: y = x W^T + b over the last axis (the lecture's W_ya a<t> + b_y).

    x : (..., in_features) -> y : (..., out_features)
    weight : (out_features, in_features), bias : (out_features,)  (``nn.Linear``)
"""
from __future__ import annotations

import numpy as np

from .base import Layer


class Dense(Layer):
    type_name = "dense"

    def __init__(self, in_features: int, out_features: int, backend=None,
                 dtype: str = "float32", seed: int = 0):
        super().__init__(backend, dtype)
        self.in_features, self.out_features = in_features, out_features
        rng = np.random.default_rng(seed)
        bound = 1.0 / np.sqrt(in_features)  # nn.Linear's default bound
        self.add_param("weight", rng.uniform(-bound, bound, (out_features, in_features)))
        self.add_param("bias", rng.uniform(-bound, bound, (out_features,)))

    def config(self) -> dict:
        return {"type": self.type_name, "in_features": self.in_features,
                "out_features": self.out_features}

    def begin_update(self, x, ctx=None):
        W = self.params["weight"]

        def backprop(dy):
            # all time steps and examples as one GEMM, not a loop over t
            x2 = x.reshape(-1, self.in_features)
            dy2 = dy.reshape(-1, self.out_features)
            self.accumulate_grad("weight", dy2.T @ x2)
            self.accumulate_grad("bias", dy2.sum(axis=0))
            return dy @ W

        return x @ W.T + self.params["bias"], backprop
