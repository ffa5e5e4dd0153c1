import os
from pathlib import Path

import numpy as np
import pytest

from seqkit.checkpoint import FORMAT_VERSION, check_writable, load_checkpoint, save_checkpoint
from seqkit.errors import SeqkitError


def _arrays():
    rng = np.random.default_rng(0)
    return {
        "rnn.weight_ih_l0": rng.standard_normal((8, 3)).astype(np.float32),
        "adam.m/rnn.weight_ih_l0": rng.standard_normal((8, 3)),
        "adam.step": np.array(7, dtype=np.int64),
        "mask": np.array([True, False]),
    }


def _assert_one_line(err, path):
    msg = str(err.value)
    assert "\n" not in msg and os.fspath(path) in msg


def test_round_trip(tmp_path):
    path = tmp_path / "m.npz"
    arrays = _arrays()
    manifest = {"model": "lstm", "epoch": 3, "vocab": {"tokens": ["<unk>", "a"], "unk": "<unk>"}}
    save_checkpoint(path, arrays, manifest)
    loaded, got = load_checkpoint(path)
    assert loaded.keys() == arrays.keys()
    for k, a in arrays.items():
        assert loaded[k].dtype == a.dtype and loaded[k].shape == a.shape
        np.testing.assert_array_equal(loaded[k], a)
    assert got == {"format": "seqkit-checkpoint", "format_version": FORMAT_VERSION, **manifest}
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_plain_numpy_opens_it_without_pickle(tmp_path):
    path = tmp_path / "m.npz"
    save_checkpoint(path, _arrays(), {})
    with np.load(path, allow_pickle=False) as z:
        assert "__manifest__" in z.files and z["__manifest__"].dtype == np.uint8
        np.testing.assert_array_equal(z["adam.step"], 7)


def test_mode_follows_umask(tmp_path):
    path = tmp_path / "m.npz"
    save_checkpoint(path, {}, {})
    mask = os.umask(0o022)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize("bad,match", [
    ({"x": np.array([object()])}, "not numeric"),
    ({"x": np.array(["a"])}, "not numeric"),
    ({"__manifest__": np.zeros(1)}, "name"),
    ({"file": np.zeros(1)}, "name"),
])
def test_refuses_what_it_cannot_store_and_keeps_the_old_file(tmp_path, bad, match):
    path = tmp_path / "m.npz"
    save_checkpoint(path, {"old": np.arange(3)}, {"v": 1})
    before = path.read_bytes()
    with pytest.raises(SeqkitError, match=match):
        save_checkpoint(path, {"ok": np.zeros(2), **bad}, {"v": 2})
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_refuses_a_manifest_that_is_not_json(tmp_path):
    with pytest.raises(SeqkitError, match="JSON"):
        save_checkpoint(tmp_path / "m.npz", {}, {"x": np.zeros(1)})
    assert list(tmp_path.iterdir()) == []


def test_failure_mid_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save_checkpoint(path, {"old": np.arange(3)}, {"v": 1})
    before = path.read_bytes()
    real_savez = np.savez

    def savez_then_crash(f, *args, **kw):
        real_savez(f, *args, **kw)  # a half-finished file is on disk when it fails
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", savez_then_crash)
    with pytest.raises(OSError, match="No space"):
        save_checkpoint(path, {"new": np.zeros(1000)}, {"v": 2})
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]
    monkeypatch.undo()
    arrays, manifest = load_checkpoint(path)
    assert manifest["v"] == 1 and list(arrays) == ["old"]


def test_interrupted_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "m.npz"
    save_checkpoint(path, {"old": np.arange(3)}, {})

    def interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"new": np.zeros(1)}, {})
    assert list(tmp_path.iterdir()) == [path]
    monkeypatch.undo()
    assert list(load_checkpoint(path)[0]) == ["old"]


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupted_or_truncated_file(tmp_path, damage):
    path = tmp_path / "m.npz"
    save_checkpoint(path, {"w": np.arange(2000, dtype=np.float64)}, {})
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:  # flip bytes inside the array data: only the zip CRC can notice
        for i in range(4000, 4016):
            data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(SeqkitError, match="m.npz is not a seqkit checkpoint .corrupted or "
                       "truncated: BadZipFile") as err:
        load_checkpoint(path)
    _assert_one_line(err, path)


@pytest.mark.parametrize("content,match", [
    (b"\x00" + os.urandom(1000), "not an .npz/zip archive"),
    (b"", "empty file"),
    (b"\x93NUMPY" + os.urandom(100), "a single .npy array"),
    (b"PK\x03\x04" + os.urandom(1000), "corrupted or truncated"),
])
def test_random_bytes(tmp_path, content, match):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    with pytest.raises(SeqkitError, match=f"not a seqkit checkpoint .{match}") as err:
        load_checkpoint(path)
    _assert_one_line(err, path)


def test_foreign_files(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, w=np.zeros(2))
    with pytest.raises(SeqkitError, match="no __manifest__"):
        load_checkpoint(plain)
    other = tmp_path / "other.npz"
    np.savez(other, __manifest__=np.frombuffer(b'{"format": "other"}', dtype=np.uint8))
    with pytest.raises(SeqkitError, match="format 'other'"):
        load_checkpoint(other)
    newer = tmp_path / "newer.npz"
    text = b'{"format": "seqkit-checkpoint", "format_version": 99}'
    np.savez(newer, __manifest__=np.frombuffer(text, dtype=np.uint8))
    with pytest.raises(SeqkitError, match="newer seqkit"):
        load_checkpoint(newer)
    garbled = tmp_path / "garbled.npz"
    np.savez(garbled, __manifest__=np.frombuffer(b"{not json", dtype=np.uint8))
    with pytest.raises(SeqkitError, match="invalid manifest"):
        load_checkpoint(garbled)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(2))
    with pytest.raises(SeqkitError, match="single .npy array"):
        load_checkpoint(single)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(SeqkitError, match="does not exist") as err:
        load_checkpoint(tmp_path / "nope.npz")
    _assert_one_line(err, tmp_path / "nope.npz")
    with pytest.raises(SeqkitError, match="directory"):
        load_checkpoint(tmp_path)


def test_check_writable(tmp_path):
    check_writable(tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []  # the probe file is gone
    with pytest.raises(SeqkitError, match="does not exist"):
        check_writable(tmp_path / "missing" / "m.npz")
    with pytest.raises(SeqkitError, match="is a directory"):
        check_writable(tmp_path)


def test_unwritable_directory(tmp_path, monkeypatch):
    # chmod cannot lock out root (the usual CI user), so refuse the file creation itself
    import tempfile

    def denied(*args, **kw):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(SeqkitError, match="not writable .Permission denied") as err:
        check_writable(tmp_path / "m.npz")
    _assert_one_line(err, tmp_path / "m.npz")
    with pytest.raises(SeqkitError, match="cannot write .*Permission denied"):
        save_checkpoint(tmp_path / "m.npz", {}, {})


def test_a_format_1_checkpoint_still_loads_and_samples_the_same(tmp_path):
    """tests/data/chars-format1.npz was written by seqkit 0.1.0 (format 1: the default
    model's spec as "model"); its samples then were tsbpp / zhudls / sshe?mm??..."""
    from seqkit.testing import run_seqkit

    path = Path(__file__).parent / "data" / "chars-format1.npz"
    assert load_checkpoint(path)[1]["format_version"] == 1
    r = run_seqkit("generate", path, "--seed", "3", "-n", "3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["tsbpp", "zhudls", "sshe?mm??uitmuznmpi?benintzn?o?hpaese"]


def test_a_newer_format_is_refused_in_one_line(tmp_path):
    path = tmp_path / "new.npz"
    save_checkpoint(path, {"w": np.zeros(2)}, {"x": 1})
    arrays, manifest = load_checkpoint(path)
    manifest["format_version"] = FORMAT_VERSION + 1
    import json

    with np.load(path) as npz:
        entries = {k: npz[k] for k in npz.files if k != "__manifest__"}
    entries["__manifest__"] = np.frombuffer(json.dumps(manifest).encode(), dtype=np.uint8)
    np.savez(path, **entries)
    with pytest.raises(SeqkitError, match=f"newer seqkit \\(format_version {FORMAT_VERSION + 1}"):
        load_checkpoint(path)
