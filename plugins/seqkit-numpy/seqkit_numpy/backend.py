"""NumpyBackend: the CPU reference backend, NumPy arrays and NumPy kernels.

Each cell's forward and BPTT live in their own module (``rnn``, ``gru``,
``lstm``) and are registered as cells (``CELLS``); this class only provides
the arrays. The kernels keep the input's dtype (float32 stays float32).
"""
from __future__ import annotations

import numpy as np

from seqkit.backend import Backend
from seqkit.cells import Cell

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


CELLS = [
    Cell("rnn", gates=1, backend="numpy", forward=rnn_forward, backward=rnn_backward,
         options={"nonlinearity": ("tanh", "relu")},
         description="the course's vanilla cell: a<t> = g(W_aa a<t-1> + W_ax x<t> + b_a)"),
    Cell("gru", gates=3, backend="numpy", forward=gru_forward, backward=gru_backward, pairs=True,
         description="gated recurrent unit (gates r, z, n)"),
    Cell("lstm", gates=4, backend="numpy", forward=lstm_forward, backward=lstm_backward,
         states=("a", "c"), pairs=True, description="long short-term memory (gates i, f, g, o)"),
]
