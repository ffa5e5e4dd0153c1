"""Backend-agnostic layers with PyTorch-compatible names and shapes."""
from .base import Layer
from .dense import Dense
from .dropout import Dropout
from .embedding import Embedding
from .recurrent import GRU, LSTM, RNN

__all__ = ["Layer", "Dense", "Dropout", "Embedding", "RNN", "GRU", "LSTM"]
