"""Backend-agnostic layers with PyTorch-compatible names and shapes, and the
combinators that compose them into models."""
from .base import Context, Layer
from .chars import CharEncoder
from .combinators import Chain, Concatenate, Input, chain, concatenate
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .readout import LastStep
from .recurrent import GRU, LSTM, RNN, Recurrent

__all__ = ["Layer", "Context", "Dense", "Dropout", "Embedding", "Recurrent", "RNN", "GRU", "LSTM",
           "Input", "Chain", "Concatenate", "chain", "concatenate", "LastStep", "CharEncoder"]
