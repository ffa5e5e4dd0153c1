"""Model sizes against the stored arrays, and the arrays' values (see ``seqkit.manifest``)."""
from __future__ import annotations

from dataclasses import MISSING, fields

import numpy as np

from ..errors import SeqkitError
from ..examples import Kind
from .base import (
    Invalid,
    Unknown,
    check_type,
    choice,
    field_kind,
    int_at_least,
    is_int,
    line,
    required,
    short,
    some,
    type_hints_of,
)

KINDS = tuple(k.value for k in Kind)


# -- the model: sizes against the stored arrays ----------------------------------
def check_model(model: dict, weights: dict, task_kind: str) -> dict | None:
    """The parameter shapes the model config implies (None when a plugin's layer
    or cell is involved), after checking them against ``weights``."""
    kind = model.get("type", "sequence")
    if kind not in ("sequence", "composed"):
        raise Invalid("model.type", f"must be sequence or composed, not {short(kind)}")
    stored = {k: tuple(a.shape) for k, a in weights.items()}
    if kind == "sequence":
        spec = _sequence_spec(model, stored)
    else:
        check_type("model.body", required(model, "body", "model"), dict)
        check_type("model.head", required(model, "head", "model"), dict)
    model_kind = choice("model.kind", required(model, "kind", "model"), KINDS)
    if model_kind != task_kind:
        raise Invalid("model.kind", f"is {model_kind}, but task.kind is {task_kind}")
    _generic_sizes(model, stored)  # before any loop over a size
    try:
        expected = _sequence_shapes(spec) if kind == "sequence" else _composed(model)
    except Unknown:
        return None  # a plugin's layer, or a cell not installed (Run.load names its plugin)
    _compare(expected, stored)
    return expected


def _generic_sizes(model: dict, stored: dict) -> None:
    """Every positive integer in the config <= max(largest stored dimension, stored arrays)."""
    largest = max((n for shape in stored.values() for n in shape), default=0)
    bound = max(largest, len(stored))
    todo = [("model", model)]
    while todo:  # iterative: a deeply nested config cannot exhaust the stack
        key, v = todo.pop()
        if isinstance(v, dict):
            todo.extend((f"{key}.{k}", x) for k, x in reversed(list(v.items())))
        elif isinstance(v, list):
            todo.extend((f"{key}[{i}]", x) for i, x in reversed(list(enumerate(v))))
        elif is_int(v) and v > bound:
            raise Invalid(key, f"is {short(v)}, larger than any array in the file allows "
                                f"(largest dimension {largest}, {len(stored)} weight arrays)")


def _recurrent_shapes(prefix: str, cell: str, n_x: int, hidden: int, layers: int,
                      directions: int) -> dict:
    from ..cells import cell_types

    cell_type = cell_types().get(cell)
    if cell_type is None:
        raise Unknown(cell)
    G, out = cell_type.gates, {}
    for k in range(layers):
        n_in = n_x if k == 0 else hidden * directions
        for sfx in ("", "_reverse")[:directions]:
            out[f"{prefix}weight_ih_l{k}{sfx}"] = (G * hidden, n_in)
            out[f"{prefix}weight_hh_l{k}{sfx}"] = (G * hidden, hidden)
            out[f"{prefix}bias_ih_l{k}{sfx}"] = (G * hidden,)
            out[f"{prefix}bias_hh_l{k}{sfx}"] = (G * hidden,)
    return out


def _sequence_spec(spec: dict, stored: dict) -> dict:
    """The default model's spec (``seqkit.models.ModelSpec``), defaults filled in,
    its types and its sizes against the arrays that hold them checked."""
    from ..models import ModelSpec

    hints = type_hints_of(ModelSpec)
    for f in fields(ModelSpec):
        key = f"model.{f.name}"
        if f.name not in spec:
            if f.default is MISSING:
                raise Invalid(key, "is missing")
            continue
        check_type(key, spec[f.name], *field_kind(hints[f.name]))
    s = {f.name: f.default for f in fields(ModelSpec) if f.default is not MISSING}
    s.update({k: v for k, v in spec.items() if k in hints})
    for k in ("n_in", "n_y", "hidden", "layers", "embed_dim"):
        int_at_least(f"model.{k}", s[k], 1)
    int_at_least("model.n_in_decoder", s["n_in_decoder"], 0)
    if not 0 <= s["dropout"] < 1:
        raise Invalid("model.dropout", f"must be in [0, 1), not {short(s['dropout'])}")
    choice("model.input", s["input"], ("tokens", "dense"))
    choice("model.head", s["head"], ("softmax", "sigmoid"))
    encdec = s["kind"] == Kind.ENCODER_DECODER.value
    if encdec and s["n_in_decoder"] < 1:
        raise Invalid("model.n_in_decoder", "must be at least 1 for an encoder-decoder")

    # the spec's own sizes against the arrays that hold them, named first
    def against(key, value, array, axis):
        shape = stored.get(array)
        if shape is not None and len(shape) > axis and shape[axis] != value:
            raise Invalid(f"model.{key}", f"is {short(value)}, but model/{array} has shape {shape}")

    against("hidden", s["hidden"], "rnn.weight_hh_l0", 1)
    n_layers = 0
    while f"rnn.weight_hh_l{n_layers}" in stored:
        n_layers += 1
    if n_layers and n_layers != s["layers"]:
        raise Invalid("model.layers", f"is {short(s['layers'])}, but the file holds {n_layers} layer(s) "
                                       f"(model/rnn.weight_hh_l0..l{n_layers - 1})")
    if s["input"] == "tokens":
        against("n_in", s["n_in"], "embedding.weight", 0)
        against("embed_dim", s["embed_dim"], "embedding.weight", 1)
    else:
        against("n_in", s["n_in"], "rnn.weight_ih_l0", 1)
    against("n_y", s["n_y"], "head.weight", 0)
    return s


def _sequence_shapes(s: dict) -> dict:
    """Every parameter's shape, as ``seqkit.models.SequenceModel`` makes them."""
    encdec = s["kind"] == Kind.ENCODER_DECODER.value
    D = 2 if s["bidirectional"] else 1
    out, n_x = {}, s["n_in"]
    if s["input"] == "tokens":
        out["embedding.weight"] = (s["n_in"], s["embed_dim"])
        n_x = s["embed_dim"]
    out.update(_recurrent_shapes("rnn.", s["cell"], n_x, s["hidden"], s["layers"], D))
    if encdec:
        out["decoder_embedding.weight"] = (s["n_in_decoder"], s["embed_dim"])
        out.update(_recurrent_shapes("decoder.", s["cell"], s["embed_dim"], s["hidden"],
                                     s["layers"], 1))
    out["head.weight"] = (s["n_y"], D * s["hidden"])
    out["head.bias"] = (s["n_y"],)
    return out


def _arg(cfg: dict, key: str, name: str, kind, default=MISSING):
    if name not in cfg:
        if default is MISSING:
            raise Invalid(f"{key}.{name}", "is missing")
        return default
    value = check_type(f"{key}.{name}", cfg[name], kind)
    if kind is int:
        int_at_least(f"{key}.{name}", value, 1)
    return value


def _layer(cfg, key: str) -> list[tuple[str, dict]]:
    """(base name, {parameter: shape}) of each layer ``ComposedModel`` names, in
    tree order (``seqkit.models.composed``): core layers only."""
    check_type(key, cfg, dict)
    t = cfg.get("type")
    if t in ("chain", "concatenate"):
        layers = check_type(f"{key}.layers", required(cfg, "layers", key), list)
        return [leaf for i, c in enumerate(layers) for leaf in _layer(c, f"{key}.layers[{i}]")]
    if t in ("input", "dropout", "last_step", "softmax", "sigmoid"):
        return []
    if t == "embedding":
        return [("embedding", {"weight": (_arg(cfg, key, "num_embeddings", int),
                                          _arg(cfg, key, "embedding_dim", int))})]
    if t == "dense":
        n_in, n_out = _arg(cfg, key, "in_features", int), _arg(cfg, key, "out_features", int)
        return [("dense", {"weight": (n_out, n_in), "bias": (n_out,)})]
    if t == "recurrent":
        cell = _arg(cfg, key, "cell", str)
        D = 2 if _arg(cfg, key, "bidirectional", bool, False) else 1
        return [(cell, _recurrent_shapes("", cell, _arg(cfg, key, "input_size", int),
                                         _arg(cfg, key, "hidden_size", int),
                                         _arg(cfg, key, "num_layers", int, 1), D))]
    if t == "char_encoder":
        n, d = _arg(cfg, key, "num_embeddings", int), _arg(cfg, key, "embedding_dim", int)
        D = 2 if _arg(cfg, key, "bidirectional", bool, True) else 1
        rnn = _recurrent_shapes("rnn.", _arg(cfg, key, "cell", str, "lstm"), d,
                                _arg(cfg, key, "hidden_size", int), 1, D)
        return [("char_encoder", {"embedding.weight": (n, d), **rnn})]
    if t == "crf":
        K = _arg(cfg, key, "n_tags", int)
        return [("crf", {"transitions": (K, K), "start": (K,), "end": (K,)})]
    raise Unknown(t)


def _composed(model: dict) -> dict:
    leaves = _layer(model["body"], "model.body") + (_layer(model["head"], "model.head") or
                                                    [(model["head"].get("type"), {})])
    out, seen = {}, {}
    for base, params in leaves:
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}_{seen[base]}"
        out.update({f"{name}.{p}": shape for p, shape in params.items()})
    return out


def _compare(expected: dict, stored: dict) -> None:
    missing = [f"model/{n}" for n in expected if n not in stored]
    if missing:
        raise Invalid("model", f"needs {len(missing)} weight array(s) the file lacks: {some(missing)}")
    unexpected = [f"model/{n}" for n in stored if n not in expected]
    if unexpected:
        raise Invalid("model", f"does not have {len(unexpected)} weight array(s) the file holds: "
                                f"{some(unexpected)}")
    for n, shape in expected.items():
        if stored[n] != shape:
            raise Invalid("model", f"gives model/{n} the shape {shape}, but the file's has {stored[n]}")


# -- the arrays' values ------------------------------------------------------------
def _finite(key: str, a: np.ndarray, dtype: str) -> None:
    """Finite, and still finite once cast to the model's ``dtype``."""
    if not np.isfinite(a).all():
        raise Invalid(key, "holds NaN or infinite values", "arrays")
    if a.dtype.kind == "f" and a.size and a.dtype.itemsize > np.dtype(dtype).itemsize:
        big = float(np.abs(a).max())
        if big > float(np.finfo(dtype).max):
            raise Invalid(key, f"holds {big:.3g}, beyond {dtype} (the model's dtype)", "arrays")


def check_weights(weights: dict, dtype: str) -> None:
    for n, a in weights.items():
        if a.dtype.kind == "c":
            raise Invalid(f"model/{n}", "holds complex numbers; weights must be real floats", "arrays")
        if a.dtype.kind != "f":
            raise Invalid(f"model/{n}", f"has dtype {a.dtype}; weights must be real floats", "arrays")
        _finite(f"model/{n}", a, dtype)


def check_optimizer(config: dict, state: dict, shapes: dict, dtype: str) -> None:
    """The optimizer's slots: the optimizer the config names, the model's
    parameter names and shapes, finite real numbers, a step count >= 0."""
    if not state:
        return  # Run.load starts a fresh optimizer
    from ..optim import make_optimizer

    opt = config["optimizer"]
    kw = {"weight_decay": config["weight_decay"]}
    if opt in ("sgd", "rmsprop"):
        kw["momentum"] = config["momentum"]
    try:  # the slot names this optimizer keeps, from a one-parameter instance
        probe = make_optimizer(opt, {"p": np.zeros(1)}, config["lr"], **kw).state_dict()
    except SeqkitError as e:
        raise Invalid("config", line(e)) from None
    slots = sorted(k.split("/", 1)[0][len(opt) + 1:] for k in probe if "/" in k)
    owners = sorted({n.split(".", 1)[0] for n in state})
    if owners != [opt]:
        raise Invalid("config.optimizer", f"is {opt}, but the file holds the optimizer state of "
                                           f"{some(owners)}")
    expected = {f"{opt}.{slot}/{p}": shape for slot in slots for p, shape in shapes.items()}
    expected[f"{opt}.step"] = ()
    missing = [f"optim/{n}" for n in expected if n not in state]
    if missing:
        raise Invalid("optim", f"state lacks {len(missing)} array(s) that {opt} keeps for this "
                                f"model: {some(missing)}", "arrays")
    unexpected = [f"optim/{n}" for n in state if n not in expected]
    if unexpected:
        raise Invalid("optim", f"state holds {len(unexpected)} array(s) that are not {opt}'s for "
                                f"this model: {some(unexpected)}", "arrays")
    for n, a in state.items():
        key = f"optim/{n}"
        if tuple(a.shape) != tuple(expected[n]):
            raise Invalid(key, f"has shape {tuple(a.shape)}, expected {tuple(expected[n])}", "arrays")
        if a.dtype.kind not in "biuf":
            raise Invalid(key, f"has dtype {a.dtype}; optimizer state must be real numbers", "arrays")
        _finite(key, a, dtype)
    step = state[f"{opt}.step"]
    if step.dtype.kind not in "iu" or int(step) < 0:
        raise Invalid(f"optim/{opt}.step", f"must be an integer >= 0, not {short(step.tolist())}",
                       "arrays")


