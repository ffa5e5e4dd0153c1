"""NumpyBackend: the CPU reference backend, NumPy arrays and NumPy kernels.

Each cell's forward and BPTT live in their own module (``rnn``, ``gru``,
``lstm``); this class only plugs them into the ``seqkit.backend.Backend``
contract. The kernels keep the input's dtype (float32 stays float32).
"""
from __future__ import annotations

import numpy as np

from seqkit.backend import Backend

from .gru import gru_backward, gru_forward
from .lstm import lstm_backward, lstm_forward
from .rnn import rnn_backward, rnn_forward


class NumpyBackend(Backend):
    """NumPy on the CPU; always available."""

    name = "numpy"
    install_hint = "pip install -e plugins/seqkit-numpy"

    @property
    def xp(self):
        return np

    def rnn_forward(self, params, x, lengths, state0, nonlinearity="tanh"):
        return rnn_forward(params, x, lengths, state0, nonlinearity=nonlinearity)

    def rnn_backward(self, cache, da, d_state_n):
        return rnn_backward(cache, da, d_state_n)

    def gru_forward(self, params, x, lengths, state0):
        return gru_forward(params, x, lengths, state0)

    def gru_backward(self, cache, da, d_state_n):
        return gru_backward(cache, da, d_state_n)

    def lstm_forward(self, params, x, lengths, state0):
        return lstm_forward(params, x, lengths, state0)

    def lstm_backward(self, cache, da, d_state_n):
        return lstm_backward(cache, da, d_state_n)
