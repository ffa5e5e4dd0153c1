"""seqkit: recurrent networks as the classic course teaches them, as real software."""
from .backend import Backend, BackendError, available_backends, get_backend, use_backend
from .errors import SeqkitError
from .hookspecs import hookimpl
from .layers import GRU, LSTM, RNN, Dense, Dropout, Embedding
from .tasks import Example, Kind, Task

__version__ = "0.1.0"

__all__ = [
    "Backend", "BackendError", "available_backends", "get_backend", "use_backend",
    "SeqkitError", "hookimpl", "Task", "Kind", "Example",
    "RNN", "GRU", "LSTM", "Dense", "Dropout", "Embedding",
    "__version__",
]
