"""seqkit: recurrent networks as the classic course teaches them, as real software."""
from .backend import Backend, BackendError, available_backends, get_backend, use_backend
from .cells import Cell, get_cell
from .errors import SeqkitError
from .examples import Example, Kind, Output
from .heads import CRF, Head, SigmoidHead, SoftmaxHead, transition_constraints
from .hookspecs import hookimpl
from .layers import (
                     GRU,
                     LSTM,
                     RNN,
                     Chain,
                     CharEncoder,
                     Concatenate,
                     Context,
                     Dense,
                     Dropout,
                     Embedding,
                     Input,
                     LastStep,
                     Layer,
                     Recurrent,
                     chain,
                     concatenate,
)
from .models import ComposedModel, Model, ModelSpec, SequenceModel, build_model
from .tasks import Task

__version__ = "0.2.0"

__all__ = [
    "Backend", "BackendError", "available_backends", "get_backend", "use_backend",
    "Cell", "get_cell", "SeqkitError", "hookimpl", "Task", "Kind", "Example", "Output",
    "Layer", "Context", "RNN", "GRU", "LSTM", "Recurrent", "Dense", "Dropout", "Embedding",
    "Input", "Chain", "Concatenate", "chain", "concatenate", "LastStep", "CharEncoder",
    "Head", "SoftmaxHead", "SigmoidHead", "CRF", "transition_constraints",
    "Model", "ModelSpec", "SequenceModel", "ComposedModel", "build_model",
    "__version__",
]
