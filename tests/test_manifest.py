"""A checkpoint's manifest is checked against its arrays before anything is built
(seqkit.manifest): every key the loader reads, every size against the stored arrays,
the weights' values; each problem one short line naming the file and the key."""
from __future__ import annotations

import copy
import importlib
import itertools
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

from seqkit.checkpoint import load_checkpoint, save_checkpoint
from seqkit.errors import SeqkitError
from seqkit.manifest import validate
from seqkit.manifest.sizes import check_model
from seqkit.models import ModelSpec, SequenceModel
from seqkit.run import Run, get_task
from seqkit.train import TrainConfig

NAMES = ["aaron", "bella", "carl", "dora", "emil", "fabi", "greta", "hugo"]


@pytest.fixture(scope="module")
def chars_ckpt(tmp_path_factory) -> Path:
    """A tiny chars checkpoint (hidden 8), one epoch trained so the optimizer has state."""
    path = tmp_path_factory.mktemp("manifest") / "m.npz"
    run = Run.create(get_task("chars"), NAMES, {"hidden": 8, "embed_dim": 4},
                     TrainConfig(epochs=1, seed=0), {})
    run.fit(run.encode(NAMES), [], str(path), progress=False, log=lambda *a: None)
    return path


def edited(src: Path, dst: Path, manifest=None, arrays=None) -> Path:
    """A copy of ``src`` with ``manifest(m)`` / ``arrays(a)`` applied (each edits in place)."""
    a, m = load_checkpoint(src)
    if manifest:
        manifest(m)
    if arrays:
        arrays(a)
    save_checkpoint(dst, a, m)
    return dst


def refused(path, match: str) -> str:
    # validation must come before the model is built: building it now is a failure
    import seqkit.run

    def no_build(*args, **kwargs):
        raise AssertionError("the model was built before the manifest was refused")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(seqkit.run, "build_model", no_build)
        with pytest.raises(SeqkitError, match=match) as err:
            Run.load(str(path))
    msg = str(err.value)
    assert "\n" not in msg and str(path) in msg and len(msg) < 300 + len(str(path)), msg
    return msg


def setter(*keys, value=None, delete=False):
    def edit(m):
        d = m
        for k in keys[:-1]:
            d = d[k]
        if delete:
            del d[keys[-1]]
        else:
            d[keys[-1]] = value

    return edit


# -- item 6: sizes are checked against the stored arrays, before allocating -----------------------
@pytest.mark.parametrize("key,value,match", [
    ("hidden", 10**9, r"model.hidden is 1000000000, but model/rnn.weight_hh_l0 has shape \(32, 8\)"),
    ("hidden", 8000, r"model.hidden is 8000, but model/rnn.weight_hh_l0 has shape \(32, 8\)"),
    ("hidden", 16, r"model.hidden is 16, but model/rnn.weight_hh_l0"),
    ("layers", 20000, r"model.layers is 20000, but the file holds 1 layer\(s\)"),
    ("layers", 2, r"model.layers is 2, but the file holds 1 layer"),
    ("n_in", 10**6, r"model.n_in is 1000000, but model/embedding.weight has shape"),
    ("embed_dim", 5, r"model.embed_dim is 5, but model/embedding.weight has shape"),
    ("n_y", 7, r"model.n_y is 7, but model/head.weight has shape"),
    ("bidirectional", True, r"needs 4 weight array\(s\) the file lacks: model/rnn.weight_ih_l0_reverse"),
    ("cell", "gru", r"gives model/rnn.weight_ih_l0 the shape \(24, 4\), but the file's has \(32, 4\)"),
])
def test_model_sizes_must_agree_with_the_arrays(chars_ckpt, tmp_path, key, value, match):
    path = edited(chars_ckpt, tmp_path / "m.npz", setter("model", key, value=value))
    tracemalloc.start()
    try:
        refused(path, match)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MB allocated before refusing"


def test_a_generic_bound_holds_for_every_model_config(chars_ckpt, tmp_path):
    # a size no stored array could hold, anywhere in the config (here where no exact check looks)
    path = edited(chars_ckpt, tmp_path / "m.npz", setter("model", "n_in_decoder", value=10**9))
    refused(path, r"model.n_in_decoder is 1000000000, larger than any array in the file allows "
                  r"\(largest dimension 32, 7 weight arrays\)")


def test_missing_and_extra_weights_are_named_briefly(chars_ckpt, tmp_path):
    def drop(a):
        del a["model/head.bias"]

    refused(edited(chars_ckpt, tmp_path / "a.npz", arrays=drop), r"model needs 1 weight array\(s\) the "
            r"file lacks: model/head.bias$")

    def add(a):
        a.update({f"model/junk{i}.w": np.zeros(1, np.float32) for i in range(5000)})

    msg = refused(edited(chars_ckpt, tmp_path / "b.npz", arrays=add),
                  r"does not have 5000 weight array\(s\) the file holds: .* and 4997 more$")
    assert len(msg) < 300


# -- item 7: every key the loader reads ------------------------------------------------------------
@pytest.mark.parametrize("edit,match", [
    (setter("epoch", delete=True), "epoch is missing"),
    (setter("epoch", value="abc"), "epoch must be an integer, not 'abc'"),
    (setter("epoch", value=-1), "epoch must be at least 0"),
    (setter("epoch", value=1.5), "epoch must be an integer"),
    (setter("encoders", delete=True), "encoders is missing"),
    (setter("encoders", value=[]), "encoders must be an object"),
    (setter("encoders", "vocab", delete=True), r"encoders do not fit task 'chars' \(KeyError: 'vocab'\)"),
    (setter("encoders", "vocab", value="x"), "encoders do not fit task 'chars'"),
    (setter("model", value="x"), "model must be an object .a model config., not 'x'"),
    (setter("model", delete=True), "model is missing"),
    (setter("model", "type", value="x"), "model.type must be sequence or composed, not 'x'"),
    (setter("model", "kind", value="many-to-one"), "model.kind is many-to-one, but task.kind is one-to-many"),
    (setter("model", "hidden", value="8"), "model.hidden must be an integer, not '8'"),
    (setter("model", "dropout", value=1.5), r"model.dropout must be in \[0, 1\)"),
    (setter("model", "n_in", value=14), "model.n_in is 14, but model/embedding.weight"),
    (setter("config", "lr", value="fast"), "config.lr must be a finite number, not 'fast'"),
    (setter("config", "lr", value=-1.0), "config.lr must be at least 0.0"),
    (setter("config", "batch_size", value=0), "config.batch_size must be at least 1"),
    (setter("config", "optimizer", value="lbfgs"), "config.optimizer must be one of sgd, adagrad"),
    (setter("config", "reduction", value="max"), "config.reduction must be one of sum, mean"),
    (setter("config", "turbo", value=True), "config.turbo is not a training option"),
    (setter("config", "patience", value="x"), "config.patience must be an integer or null"),
    (setter("config", value=[]), "config must be an object"),
    (setter("dtype", value="float16"), "dtype must be one of float32, float64, not 'float16'"),
    (setter("dtype", delete=True), "dtype is missing"),
    (setter("task", value="chars"), "task must be an object"),
    (setter("task", "distribution", delete=True), "task.distribution is missing"),
    (setter("task", "name", value=7), "task.name must be a string"),
    (setter("task", "kind", value="sideways"), "task.kind must be one of many-to-many"),
    (setter("history", value={"a": 1}), "history must be a list"),
    (setter("history", value=[1]), r"history\[0\] must be an object"),
    (setter("cells", value=[{"version": "1"}]), r"cells\[0\].name is missing"),
    (setter("options", value=[]), "options must be an object"),
    (setter("options", "chunk", value="x"), "options.chunk is not a valid --chunk: 'x'"),
    (setter("options", "chunk", value=1), "options.chunk is not a valid --chunk: 1"),
    (setter("hparams", value=5), "hparams must be an object or null"),
    (setter("run_id", value=5), "run_id must be a string or null"),
])
def test_every_key_the_loader_reads_is_checked(chars_ckpt, tmp_path, edit, match):
    refused(edited(chars_ckpt, tmp_path / "m.npz", edit), f"has an invalid manifest: {match}")


@pytest.mark.parametrize("name,value,match", [
    ("model/rnn.weight_hh_l0", np.nan, "model/rnn.weight_hh_l0 holds NaN or infinite values"),
    ("model/head.bias", np.inf, "model/head.bias holds NaN or infinite values"),
    ("optim/adam.m/head.bias", np.nan, "optim/adam.m/head.bias holds NaN or infinite values"),
    ("model/head.weight", 1e300, "model/head.weight holds 1e[+]300, beyond float32 .the model's dtype."),
    ("optim/adam.v/head.bias", -1e300, "optim/adam.v/head.bias holds 1e[+]300, beyond float32"),
])
def test_weights_and_optimizer_state_must_be_finite(chars_ckpt, tmp_path, name, value, match):
    def poison(a):
        a[name] = a[name].astype(np.float64)  # float64, so that a value beyond float32 can be stored
        a[name].flat[0] = value

    refused(edited(chars_ckpt, tmp_path / "m.npz", arrays=poison), f"has invalid arrays: {match}")


@pytest.mark.parametrize("dtype,match", [
    (np.complex64, "holds complex numbers; weights must be real floats"),
    (np.int64, "has dtype int64; weights must be real floats"),
])
def test_weights_must_be_real_floats(chars_ckpt, tmp_path, dtype, match):
    def cast(a):
        a["model/head.weight"] = a["model/head.weight"].astype(dtype)

    path = edited(chars_ckpt, tmp_path / "m.npz", arrays=cast)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        refused(path, f"model/head.weight {match}")
    assert not seen  # refused, not cast with a warning


def test_an_optimizer_state_of_another_optimizer_is_named(chars_ckpt, tmp_path):
    path = edited(chars_ckpt, tmp_path / "m.npz", setter("config", "optimizer", value="sgd"))
    refused(path, "config.optimizer is sgd, but the file holds the optimizer state of adam")


def test_optimizer_state_names_and_shapes(chars_ckpt, tmp_path):
    def extra(a):
        a.update({f"optim/adam.s{i}/head.bias": np.zeros(15, np.float32) for i in range(3000)})

    refused(edited(chars_ckpt, tmp_path / "a.npz", arrays=extra),
            r"optim state holds 3000 array\(s\) that are not adam's for this model: .* and 2997 more$")

    def reshape(a):
        a["optim/adam.v/head.bias"] = np.zeros(3, np.float32)

    refused(edited(chars_ckpt, tmp_path / "b.npz", arrays=reshape),
            r"optim/adam.v/head.bias has shape \(3,\), expected")

    def step(a):
        a["optim/adam.step"] = np.array(-1)

    refused(edited(chars_ckpt, tmp_path / "c.npz", arrays=step), "optim/adam.step must be an integer >= 0")


def test_a_valid_checkpoint_passes_and_loads(chars_ckpt):
    a, m = load_checkpoint(chars_ckpt)
    validate(chars_ckpt, m, a)
    run = Run.load(str(chars_ckpt))
    assert run.epoch == 1 and len(run.history.epochs) == 1


def test_the_format_1_checkpoint_passes():
    path = Path(__file__).parent / "data" / "chars-format1.npz"
    a, m = load_checkpoint(path)
    validate(path, m, a)


# -- through the CLI: one line, as the issue reproduced it -----------------------------------------
@pytest.mark.parametrize("edit,match", [
    (setter("model", "hidden", value=10**9), "model.hidden is 1000000000"),
    (setter("model", "layers", value=20000), "model.layers is 20000"),
    (setter("epoch", value="abc"), "epoch must be an integer"),
    (setter("config", "lr", value="fast"), "config.lr must be a finite number"),
])
def test_generate_on_an_edited_manifest_is_one_line(chars_ckpt, tmp_path, edit, match):
    from seqkit.testing import run_seqkit

    path = edited(chars_ckpt, tmp_path / "m.npz", edit)
    r = run_seqkit("generate", path)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"Error: {path} has an invalid manifest: {match}")
    assert len(r.stderr) < 400


# -- the shapes computed from a config are the ones the models make (no drift) ---------------------
SPECS = [dict(kind=k, input=i, head=h, cell=c, bidirectional=b, layers=n)
         for k, i, h, c, b, n in itertools.product(
             ["many-to-many", "many-to-one", "one-to-many", "encoder-decoder"], ["tokens", "dense"],
             ["softmax", "sigmoid"], ["rnn", "gru", "lstm"], [False, True], [1, 2])
         if not (b and k in ("one-to-many", "encoder-decoder"))]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: "-".join(map(str, s.values())))
def test_expected_shapes_are_the_default_models(spec):
    s = ModelSpec(n_in=7, n_y=5, hidden=3, embed_dim=4, n_in_decoder=6, **spec)
    model = SequenceModel(s)
    actual = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert check_model(model.config(), model.state_dict(), s.kind) == actual


FIXTURES = Path(__file__).parent / "plugins_fixtures"


@pytest.fixture
def toytag():
    sys.path.insert(0, str(FIXTURES))
    try:
        yield importlib.import_module("seqkit_toytag")
    finally:
        sys.path.remove(str(FIXTURES))


def composed(toytag):
    task = next(v for v in vars(toytag).values()
                if isinstance(v, type) and getattr(v, "name", "") == "toytag")()
    model = task.build_model({"n_in": 30, "n_y": 4, "n_chars": 12}, {"hidden": 6}, None, "float32", 0)
    return model, model.config(), model.state_dict()


def test_expected_shapes_are_the_composed_models(toytag):
    model, config, weights = composed(toytag)
    assert check_model(config, weights, "many-to-many") == {k: tuple(v.shape) for k, v in weights.items()}


def _composed_manifest(chars_ckpt, config):
    _, m = load_checkpoint(chars_ckpt)
    m = copy.deepcopy(m)
    m["task"] = {"name": "toytag-not-installed", "kind": "many-to-many", "distribution": None,
                 "version": None}
    m["model"] = config
    m["encoders"] = {}
    return m


def _find(config, type_name):
    todo = [config]
    while todo:
        c = todo.pop()
        if c.get("type") == type_name:
            return c
        todo.extend(c.get("layers", []))


@pytest.mark.parametrize("key,value,match", [
    ("num_layers", 20000, r"model.body.layers\[2\].num_layers is 20000, larger than any array"),
    ("hidden_size", 10**9, r"model.body.layers\[2\].hidden_size is 1000000000, larger than any"),
    ("hidden_size", 5, r"model gives model/lstm.weight_ih_l0 the shape \(20, 52\), but the file's has"),
    ("num_layers", 2, r"model needs 8 weight array\(s\) the file lacks: model/lstm.weight_ih_l1, "),
    ("bidirectional", "yes", r"model.body.layers\[2\].bidirectional must be true or false"),
])
def test_composed_model_sizes_are_checked(chars_ckpt, toytag, key, value, match):
    model, config, weights = composed(toytag)
    _find(config["body"], "recurrent")[key] = value
    arrays = {f"model/{k}": v for k, v in weights.items()}
    with pytest.raises(SeqkitError, match=match) as err:
        validate("t.npz", _composed_manifest(chars_ckpt, config), arrays)
    assert len(str(err.value)) < 300


def test_a_plugins_layer_gets_the_generic_bound(chars_ckpt, toytag):
    model, config, weights = composed(toytag)
    arrays = {f"model/{k}": v for k, v in weights.items()}
    config["body"]["layers"][1] = {"type": "mystery", "window": 3}
    validate("t.npz", _composed_manifest(chars_ckpt, config), arrays)  # nothing to compare exactly
    config["body"]["layers"][1] = {"type": "mystery", "window": 10**6}
    with pytest.raises(SeqkitError, match=r"model.body.layers\[1\].window is 1000000, larger than"):
        validate("t.npz", _composed_manifest(chars_ckpt, config), arrays)
