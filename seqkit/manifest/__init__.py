"""A checkpoint's manifest checked against its arrays before anything is built.

``validate(path, manifest, arrays)`` runs between ``load_checkpoint`` and
``Run.load``'s first allocation. Each problem is one ``SeqkitError`` line
naming the file and the key (``m.npz has an invalid manifest: model.hidden is
8000, but model/rnn.weight_hh_l0 has shape (32, 8)``); lists in messages are
cut to their first few names ("and N more").

What is checked:

* every key the loader reads, for presence and type: ``format_version``,
  ``task`` {name, kind, distribution, version}, ``model``, ``encoders``,
  ``options``, ``dtype`` (float32 or float64), ``config`` (each key a
  ``TrainConfig`` field, each value of that field's type and in its range:
  ``lr: "fast"`` or a negative ``lr`` is refused), ``epoch`` (an int >= 0),
  ``history`` (a list of dicts), ``cells``, ``hparams`` and ``run_id``
  (optional); the task's own ``options`` (when the task is installed) by
  their click types, and the ``encoders`` by the task's ``dims``;
* the weights (``model/...``) are finite real floating arrays (NaN, inf,
  complex and integer weights are refused); the optimizer's state
  (``optim/...``) is finite real numbers, of the optimizer ``config`` names,
  with the model's parameter names and shapes;
* sizes agree with the arrays in the file, so a forged size never allocates:

  - the generic rule, for every model (plugins' layers included): every
    positive integer in the model config (nested dicts and lists walked) is
    at most max(the largest dimension of any stored ``model/`` array, the
    number of stored ``model/`` arrays). Sizes are dimensions of weights and
    counts (layers) are at most the number of weights, so a model the file
    can fill never breaks it;
  - exactly, for the default model (``"type": "sequence"`` or a format-1
    spec) and for composed models made of the core's layers: the parameter
    names and shapes its config implies are computed (without allocating) and
    must be the stored ones, with the spec's own keys named first
    (``hidden`` against ``rnn.weight_hh_l0``, ``layers`` against the count of
    ``rnn.weight_hh_l{k}``, ``n_in``/``embed_dim`` against
    ``embedding.weight``, ``n_y`` against ``head.weight``).
"""
from __future__ import annotations

import os
from dataclasses import MISSING, fields

import click

from ..errors import SeqkitError
from ..examples import Kind
from .base import (
    Invalid,
    check_type,
    choice,
    field_kind,
    int_at_least,
    is_int,
    line,
    required,
    short,
    short_key,
    some,
    type_hints_of,
)
from .sizes import KINDS, check_model, check_optimizer, check_weights

DTYPES = ("float32", "float64")
#: task option types whose stored values are checked (by converting them again)
_VALUE_TYPES = (click.types.IntParamType, click.types.FloatParamType, click.types.BoolParamType,
                click.types.StringParamType, click.Choice)


def validate(path, manifest: dict, arrays: dict) -> None:
    """Raise a one-line SeqkitError naming ``path`` and the key for the first
    problem found in ``manifest`` (as ``load_checkpoint`` returned it) and
    ``arrays``; return None for a checkpoint ``Run.load`` can build."""
    name = os.fspath(path)
    try:
        _validate(manifest, arrays)
    except Invalid as e:
        what = {"manifest": "an invalid manifest", "arrays": "invalid arrays"}[e.where]
        raise SeqkitError(line(f"{name} has {what}: {short_key(e.key)} {e.message}")) from None


# -- the manifest's keys -------------------------------------------------------
def _validate(m: dict, arrays: dict) -> None:
    if not isinstance(m, dict):
        raise Invalid("manifest", "is not an object")
    version = required(m, "format_version", "")
    int_at_least("format_version", version, 1)
    task = check_type("task", required(m, "task", ""), dict)
    for k in ("name", "kind", "distribution", "version"):
        required(task, k, "task")
    if not check_type("task.name", task["name"], str):
        raise Invalid("task.name", "is empty")
    choice("task.kind", task["kind"], KINDS)
    check_type("task.distribution", task["distribution"], str, optional=True)
    check_type("task.version", task["version"], str, optional=True)
    cells = check_type("cells", m.get("cells", []), list)
    for i, c in enumerate(cells):
        check_type(f"cells[{i}]", c, dict)
        check_type(f"cells[{i}].name", required(c, "name", f"cells[{i}]"), str)
        for k in ("distribution", "version"):
            check_type(f"cells[{i}].{k}", c.get(k), str, optional=True)
    choice("dtype", required(m, "dtype", ""), DTYPES)
    config = _config(check_type("config", required(m, "config", ""), dict))
    int_at_least("epoch", required(m, "epoch", ""), 0)
    history = check_type("history", m.get("history", []), list)
    for i, e in enumerate(history):
        check_type(f"history[{i}]", e, dict)
        for k, v in e.items():
            if v is not None and not isinstance(v, (int, float, str)):
                raise Invalid(f"history[{i}].{k}", f"must be a number or a string, not {short(v)}")
    encoders = check_type("encoders", required(m, "encoders", ""), dict)
    options = check_type("options", m.get("options", {}), dict)
    check_type("hparams", m.get("hparams"), dict, optional=True)
    check_type("run_id", m.get("run_id"), str, optional=True)

    model = required(m, "model", "")
    if not isinstance(model, dict):
        raise Invalid("model", f"must be an object (a model config), not {short(model)}")
    weights = {k[len("model/"):]: a for k, a in arrays.items() if k.startswith("model/")}
    expected = check_model(model, weights, task["kind"])
    check_weights(weights, m["dtype"])
    state = {k[len("optim/"):]: a for k, a in arrays.items() if k.startswith("optim/")}
    shapes = expected if expected is not None else {k: tuple(a.shape) for k, a in weights.items()}
    check_optimizer(config, state, shapes, m["dtype"])
    _task_fit(task["name"], encoders, options, model)


#: ranges of TrainConfig's numbers that Run.load and training rely on
_CONFIG_LOW = {"epochs": 0, "batch_size": 1, "lr": 0.0, "weight_decay": 0.0, "momentum": 0.0,
               "clip_norm": 0.0, "clip_value": 0.0, "seed": 0, "patience": 0, "bptt": 1,
               "valid_fraction": 0.0, "lr_decay": 0.0}


def _config(config: dict) -> dict:
    from ..optim import OPTIMIZERS
    from ..train import TrainConfig

    hints = type_hints_of(TrainConfig)
    for k, v in config.items():
        key = f"config.{k}"
        if k not in hints:
            raise Invalid(key, f"is not a training option (known: {some(sorted(hints))})")
        kind, optional = field_kind(hints[k])
        check_type(key, v, kind, optional)
        if v is not None and k in _CONFIG_LOW and v < _CONFIG_LOW[k]:
            raise Invalid(key, f"must be at least {_CONFIG_LOW[k]}, not {short(v)}")
    if config.get("valid_fraction", 0.0) > 1:
        raise Invalid("config.valid_fraction", f"must be at most 1, not {config['valid_fraction']}")
    if "optimizer" in config:
        choice("config.optimizer", config["optimizer"], tuple(OPTIMIZERS))
    if "reduction" in config:
        choice("config.reduction", config["reduction"], ("sum", "mean"))
    defaults = {f.name: f.default for f in fields(TrainConfig) if f.default is not MISSING}
    return {**defaults, **config}


# -- what the task reads -------------------------------------------------------------
def _task_fit(name: str, encoders: dict, options: dict, model: dict) -> None:
    """Where the task is installed: its options by their click types, its
    encoders by its ``dims`` (and, for the default model, the sizes it gives)."""
    from ..plugins import registry

    task = registry().tasks.get(name)
    if task is None:
        return  # Run.load names the plugin it needs
    for o in getattr(task, "options", None) or []:
        if (getattr(o, "multiple", False) or getattr(o, "nargs", 1) != 1
                or not isinstance(getattr(o, "type", None), _VALUE_TYPES)):
            continue  # lists, paths (which may have moved), files, a plugin's own types
        value = options.get(o.name)
        if value is None:
            continue
        try:
            converted = o.type.convert(value, o, None)
            ok = converted == value and (type(converted) is type(value) or (
                isinstance(o.type, click.types.FloatParamType) and is_int(value)))
        except Exception:  # click.BadParameter, or whatever a type's convert raises
            ok = False
        if not ok:
            flag = "--" + o.name.replace("_", "-")
            raise Invalid(f"options.{o.name}", f"is not a valid {flag}: {short(value)}")
    try:
        dims = task.dims(encoders)
    except SeqkitError as e:
        raise Invalid("encoders", f"do not fit task {name!r}: {line(e)}") from None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
        detail = repr(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        raise Invalid("encoders", f"do not fit task {name!r} "
                                  f"({type(e).__name__}: {line(detail)[:80]})") from None
    if not isinstance(dims, dict) or model.get("type", "sequence") != "sequence":
        return
    pairs = [("n_in", "n_in"), ("n_y", "n_y")]
    if model.get("kind") == Kind.ENCODER_DECODER.value:
        pairs.append(("n_in_decoder", "n_in_decoder"))
    for dim, k in pairs:
        if dim in dims and is_int(dims[dim]) and dims[dim] != model.get(k):
            raise Invalid(f"model.{k}", f"is {short(model.get(k))}, but the encoders give "
                                        f"{dims[dim]} (task {name!r})")
