"""Fuzzing the checkpoint loader (hypothesis): random bytes, truncations and byte
mutations of a valid checkpoint, and edits of its manifest and arrays that keep
the archive intact, never give anything but one SeqkitError line from
``load_checkpoint``, ``seqkit.manifest.validate`` and ``Run.load``."""
from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import tempfile
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqkit.checkpoint import load_checkpoint
from seqkit.errors import SeqkitError
from seqkit.run import Run, get_task
from seqkit.train import TrainConfig

FUZZ = settings(max_examples=200, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@functools.lru_cache(maxsize=1)
def valid() -> tuple[bytes, dict, dict]:
    """A tiny chars checkpoint (hidden 4), one epoch trained: its bytes, arrays, manifest."""
    names = ["aaron", "bella", "carl", "dora", "emil", "fabi"]
    run = Run.create(get_task("chars"), names, {"hidden": 4, "embed_dim": 3},
                     TrainConfig(epochs=1, seed=0), {})
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.npz")
        run.fit(run.encode(names), [], path, progress=False, log=lambda *a: None)
        with open(path, "rb") as f:
            data = f.read()
        arrays, manifest = load_checkpoint(path)
    return data, arrays, manifest


_DIR = tempfile.mkdtemp(prefix="seqkit-fuzz-")
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)


def outcome(data: bytes) -> str:
    """"loaded" or "refused" (one line); anything else raised fails the test."""
    path = os.path.join(_DIR, "m.npz")
    with open(path, "wb") as f:
        f.write(data)
    try:
        Run.load(path)  # load_checkpoint, then seqkit.manifest.validate, then the build
    except SeqkitError as e:
        msg = str(e)
        assert "\n" not in msg and len(msg) < 400 + len(path), msg
        assert "allow_pickle" not in msg
        return "refused"
    return "loaded"


def test_the_unfuzzed_checkpoint_loads():
    assert outcome(valid()[0]) == "loaded"


# -- bytes --------------------------------------------------------------------------------------
@FUZZ
@given(st.binary(max_size=4096), st.sampled_from([b"", b"PK", b"PK\x03\x04", b"\x93NUMPY"]))
def test_random_bytes(data, prefix):
    assert outcome(prefix + data) == "refused"


@FUZZ
@given(st.data())
def test_truncations(data):
    raw = valid()[0]
    n = data.draw(st.integers(0, len(raw) - 1))
    assert outcome(raw[:n]) == "refused"


@FUZZ
@given(st.data())
def test_byte_mutations(data):
    raw = bytearray(valid()[0])
    n = len(raw)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, n - 1))
        raw[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):  # an insertion or a deletion shifts everything after it
        i = data.draw(st.integers(0, n - 1))
        raw[i:i] = data.draw(st.binary(min_size=0, max_size=16)) if data.draw(st.booleans()) else b""
        del raw[i:i + data.draw(st.integers(0, 16))]
    outcome(bytes(raw))


# -- an intact archive holding edited contents --------------------------------------------------
def archive(arrays: dict, manifest) -> bytes:
    """np.savez of ``arrays`` with ``manifest`` as JSON (NaN allowed), bypassing
    save_checkpoint's own checks so anything can be written."""
    import io

    buf = io.BytesIO()
    text = json.dumps(manifest).encode() if not isinstance(manifest, bytes) else manifest
    np.savez(buf, __manifest__=np.frombuffer(text, np.uint8), **arrays)
    return buf.getvalue()


def paths(obj, prefix=()):
    """Every key path in a JSON value."""
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:4]):
            out += paths(v, prefix + (i,))
    return out


@functools.lru_cache(maxsize=1)
def manifest_paths() -> list:
    return paths(valid()[2])[1:]


json_values = st.recursive(
    st.none() | st.booleans() | st.sampled_from([0, 1, -1, 2, 3, 4, 8, 32, 10**9, 10**30, 2**63])
    | st.integers() | st.floats() | st.text(max_size=8)
    | st.sampled_from(["sequence", "composed", "float64", "lstm", "gru", "adam", "sgd", "tokens",
                       "dense", "one-to-many", "encoder-decoder", "chars", "embedding", "recurrent"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "kind", "hidden", "layers", "layers", "name", "body", "head", "x"]),
        children, max_size=3),
    max_leaves=6)


@FUZZ
@given(st.data())
def test_manifest_edits(data):
    import copy

    _, arrays, manifest = valid()
    m = copy.deepcopy(manifest)
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from(manifest_paths()))
        parent = m
        try:
            for k in where[:-1]:
                parent = parent[k]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(where[-1], None)
            else:
                parent[where[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit changed the path
    outcome(archive(arrays, m))


@FUZZ
@given(st.data())
def test_array_edits(data):
    _, arrays, manifest = valid()
    a = dict(arrays)
    for _ in range(data.draw(st.integers(1, 3))):
        extra = ["model/extra", "optim/adam.m/x", "model/rnn.weight_hh_l1"]
        name = data.draw(st.sampled_from(sorted(a) + extra))
        action = data.draw(st.sampled_from(["delete", "reshape", "cast", "poison"]))
        old = a.get(name, np.zeros(2, np.float32))
        if action == "delete":
            a.pop(name, None)
        elif action == "reshape":
            shape = tuple(data.draw(st.lists(st.integers(0, 40), max_size=3)))
            a[name] = np.zeros(shape, old.dtype)
        elif action == "cast":
            dtype = data.draw(st.sampled_from([np.float16, np.float64, np.int32, np.uint8, np.bool_,
                                               np.complex64]))
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # complex to real: the point of the edit
                a[name] = old.astype(dtype)
        else:
            a[name] = np.array(np.real(old), dtype=np.float64, copy=True)
            if a[name].size:
                a[name].flat[data.draw(st.integers(0, a[name].size - 1))] = data.draw(
                    st.sampled_from([np.nan, np.inf, -np.inf, 1e300]))
    outcome(archive(a, manifest))


@pytest.mark.parametrize("text", [b"", b"null", b"[]", b'"x"', b"{" * 50_000, b"[" * 50_000, b"\xff\xfe",
                                  b'{"format": "seqkit-checkpoint", "format_version": 2}',
                                  b'{"format": "seqkit-checkpoint", "format_version": 1e400}'])
def test_odd_manifest_texts(text):
    _, arrays, _ = valid()
    assert outcome(archive(arrays, text)) == "refused"
