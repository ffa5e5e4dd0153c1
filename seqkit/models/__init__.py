"""Models: the protocol, the core's default model, and models composed by tasks."""
from ..errors import SeqkitError
from .base import Model
from .composed import ComposedModel
from .sequence import ModelSpec, SequenceModel

__all__ = ["Model", "ModelSpec", "SequenceModel", "ComposedModel", "build_model"]


def build_model(config: dict, backend=None, dtype: str = "float32", seed: int = 0) -> Model:
    """The model a ``Model.config()`` describes. A config without a ``type`` is a
    default model's spec as checkpoints of format 1 stored it."""
    kind = config.get("type", "sequence") if isinstance(config, dict) else None
    if kind == "sequence":
        return SequenceModel(ModelSpec.from_json(config), backend=backend, dtype=dtype, seed=seed)
    if kind == "composed":
        return ComposedModel.from_config(config, backend=backend, dtype=dtype, seed=seed)
    raise SeqkitError(f"unknown model type {kind!r}")
