import errno
import os
import re
import subprocess
import sys
import time
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
    with pytest.raises(SeqkitError, match="cannot write checkpoint .*m.npz: No space left on device; "
                       "the existing file is unchanged$") as err:
        save_checkpoint(path, {"new": np.zeros(1000)}, {"v": 2})
    _assert_one_line(err, path)
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


# -- every OSError on write is one line, the old file intact, nothing left behind (#8 item 5) ------
def _oserror(code):
    def fail(*args, **kw):
        raise OSError(code, os.strerror(code))

    return fail


def _savez_then(code):
    real = np.savez

    def savez(f, *args, **kw):
        real(f, *args, **kw)  # half a file is on disk when the device fills
        raise OSError(code, os.strerror(code))

    return savez


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
@pytest.mark.parametrize("where", ["write", "fsync", "chmod", "replace", "mkstemp"])
def test_every_oserror_on_save_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch, code, where):
    import tempfile

    path = tmp_path / "m.npz"
    save_checkpoint(path, {"old": np.arange(3)}, {"v": 1})
    before = path.read_bytes()
    target, name, fake = {"write": (np, "savez", _savez_then(code)),
                          "fsync": (os, "fsync", _oserror(code)),
                          "chmod": (os, "chmod", _oserror(code)),
                          "replace": (os, "replace", _oserror(code)),
                          "mkstemp": (tempfile, "mkstemp", _oserror(code))}[where]
    monkeypatch.setattr(target, name, fake)
    with pytest.raises(SeqkitError, match=f"cannot write checkpoint .*m.npz: {os.strerror(code)}") as err:
        save_checkpoint(path, {"new": np.zeros(1000)}, {"v": 2})
    _assert_one_line(err, path)
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no chained tracebacks
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


def test_a_failed_first_save_leaves_no_file_at_all(tmp_path, monkeypatch):
    monkeypatch.setattr(np, "savez", _savez_then(errno.ENOSPC))
    with pytest.raises(SeqkitError, match="No space left on device$"):
        save_checkpoint(tmp_path / "m.npz", {"w": np.zeros(1000)}, {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["mkstemp", "close", "unlink"])
def test_every_oserror_in_check_writable_is_one_line(tmp_path, monkeypatch, where):
    import tempfile

    target = {"mkstemp": (tempfile, "mkstemp"), "close": (os, "close"), "unlink": (os, "unlink")}
    monkeypatch.setattr(*target[where], _oserror(errno.EROFS))
    with pytest.raises(SeqkitError, match="Read-only file system") as err:
        check_writable(tmp_path / "m.npz")
    _assert_one_line(err, tmp_path / "m.npz")


ENOSPC_ON_FSYNC = """\
import errno, os
if os.environ.get("SEQKIT_TEST_ENOSPC"):
    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    os.fsync = fsync
"""


def test_a_full_disk_during_training_is_one_line_and_keeps_the_checkpoint(tmp_path):
    from seqkit.testing import run_seqkit

    (tmp_path / "names.txt").write_text("aaron\nbella\ncarl\ndora\nemil\nfabi\ngreta\nhugo\n")
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(ENOSPC_ON_FSYNC)
    out = tmp_path / "m.npz"
    args = ["train", "chars", "--data", tmp_path / "names.txt", "--hidden", "4", "-q"]
    r = run_seqkit(*args, "--out", out, "--epochs", "1")
    assert r.returncode == 0, r.stderr
    before = out.read_bytes()
    r = run_seqkit(*args, "--resume", out, "--out", out, "--epochs", "2", pythonpath=site,
                   env={"SEQKIT_TEST_ENOSPC": "1"})
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[-1] == f"Error: cannot write checkpoint {out}: No space left on device; the existing " \
                       "file is unchanged"
    assert out.read_bytes() == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


# -- temporary files: named after their writer, removed once it is gone (#8 item 13) ----------------
def test_temporary_files_carry_the_writers_pid(tmp_path, monkeypatch):
    seen = []
    real = os.replace

    def replace(src, dst):
        seen.append(os.path.basename(src))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    save_checkpoint(tmp_path / "m.npz", {"w": np.zeros(2)}, {})
    assert re.fullmatch(rf"\.m\.npz\.{os.getpid()}\.[a-z0-9_]+\.tmp", seen[0]), seen


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporary_files_are_removed_at_the_next_save_and_only_those(tmp_path):
    dead = _dead_pid()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            f".m.npz.{dead}.k2x9q1ab.tmp": False,          # its writer is gone: removed
            f".m.npz.{live.pid}.k2x9q1ab.tmp": True,       # a live writer's: kept
            f".m.npz.{os.getpid()}.zz9zz9zz.tmp": True,    # this process's own: kept
            f".other.npz.{dead}.k2x9q1ab.tmp": True,       # another target's
            ".m.npz.abcd1234.tmp": False,                  # the pre-pid naming, an hour old
            ".m.npz.efgh5678.tmp": True,                   # the pre-pid naming, fresh
            "m.npz.lock": True, ".m.npz.notes": True, f"m.npz.{dead}.k2x9q1ab.tmp": True,
        }
        for name in names:
            (tmp_path / name).write_bytes(b"x" * 1000)
        old = time.time() - 2 * 3600
        os.utime(tmp_path / ".m.npz.abcd1234.tmp", (old, old))
        save_checkpoint(tmp_path / "m.npz", {"w": np.zeros(2)}, {})
        left = {p.name for p in tmp_path.iterdir()}
        assert left == {n for n, kept in names.items() if kept} | {"m.npz"}
    finally:
        live.kill()
        live.wait()


KILLED_MID_SAVE = """\
import sys, time
import numpy as np
from seqkit.checkpoint import save_checkpoint
real = np.savez
def savez(f, *args, **kw):
    real(f, *args, **kw)
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
np.savez = savez
save_checkpoint(sys.argv[1], {"w": np.zeros(100_000)}, {})
"""


def test_the_temporary_file_of_a_killed_save_is_removed_by_the_next_save(tmp_path):
    path = tmp_path / "m.npz"
    save_checkpoint(path, {"old": np.arange(3)}, {})
    p = subprocess.Popen([sys.executable, "-c", KILLED_MID_SAVE, str(path)], stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == "writing"
    finally:
        p.kill()  # SIGKILL: no cleanup runs
        p.wait()
        p.stdout.close()
    temps = [q.name for q in tmp_path.iterdir() if q.name.endswith(".tmp")]
    assert len(temps) == 1 and temps[0].startswith(f".m.npz.{p.pid}."), temps
    assert list(load_checkpoint(path)[0]) == ["old"]  # the old checkpoint is whole
    save_checkpoint(path, {"new": np.zeros(2)}, {})
    assert [q.name for q in tmp_path.iterdir()] == ["m.npz"]


# -- what an archive may hold: no pickles, no NumPy advice, nothing read blindly (#8 item 14) -------
def _zip(path, members: dict):
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


def _npy(a) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=True)
    return buf.getvalue()


MANIFEST = _npy(np.frombuffer(b'{"format": "seqkit-checkpoint", "format_version": 2}', np.uint8))


def _raw_npy(header: str, data: bytes, version=(1, 0)) -> bytes:
    import struct

    header = header + " " * ((64 - (len(header) + 11) % 64) % 64) + "\n"
    size = struct.pack("<H" if version == (1, 0) else "<I", len(header))
    return b"\x93NUMPY" + bytes(version) + size + header.encode("latin1") + data


def test_a_pickled_entry_is_reported_as_such_and_never_unpickled(tmp_path):
    path = tmp_path / "m.npz"
    np.savez(path, __manifest__=np.frombuffer(b'{"format": "seqkit-checkpoint", "format_version": 2}',
                                              np.uint8), w=np.array([1, "a", None], dtype=object))
    with pytest.raises(SeqkitError) as err:
        load_checkpoint(path)
    msg = str(err.value)
    assert msg == f"{path} is not a seqkit checkpoint (entry 'w' holds pickled objects; refused: " \
                  "loading it could run code)"
    assert "allow_pickle" not in msg and "corrupted" not in msg


def test_numpys_allow_pickle_advice_never_appears(tmp_path):
    # a header too long for NumPy to parse safely: NumPy's message advises allow_pickle=True
    path = tmp_path / "m.npz"
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }" + " " * 20000
    _zip(path, {"__manifest__.npy": MANIFEST, "w.npy": _raw_npy(header, b"\0" * 8, (2, 0))})
    with pytest.raises(SeqkitError, match="corrupted or truncated") as err:
        load_checkpoint(path)
    _assert_one_line(err, path)
    assert "pickle" not in str(err.value).replace(str(path), "")


@pytest.mark.parametrize("members,match", [
    ({"__manifest__": b'{"format": "seqkit-checkpoint", "format_version": 2}'},
     "entry '__manifest__' is not a NumPy array"),
    ({"__manifest__.npy": MANIFEST, "w.npy": _npy(np.array(["a", "b"]))}, "entry 'w' has dtype <U1, not"),
    ({"__manifest__.npy": MANIFEST, "w.npy": _npy(np.zeros(2, dtype=[("a", "<f4")]))}, "entry 'w' has"),
    ({"__manifest__.npy": MANIFEST,
      "w.npy": _raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }", b"\0" * 8)},
     "corrupted or truncated: ValueError: entry 'w' declares shape"),
    ({"__manifest__.npy": MANIFEST,
      "w.npy": _raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (-5,), }", b"\0" * 8)},
     "corrupted or truncated"),
    ({"__manifest__.npy": MANIFEST, "w.npy": _raw_npy("{'descr': '<f8'}", b"", (3, 0))}, "format 3.0"),
    ({"__manifest__.npy": _npy(np.frombuffer(b"[" * 100_000, np.uint8))}, "invalid manifest"),
])
def test_archive_entries_are_checked_before_they_are_read(tmp_path, members, match):
    path = tmp_path / "m.npz"
    _zip(path, members)
    start = time.perf_counter()
    with pytest.raises(SeqkitError, match=match) as err:
        load_checkpoint(path)
    _assert_one_line(err, path)
    assert len(str(err.value)) < 300 and time.perf_counter() - start < 1


def test_complex_arrays_still_round_trip(tmp_path):
    # the format holds any numeric array; whether weights may be complex is seqkit.manifest's call
    save_checkpoint(tmp_path / "m.npz", {"z": np.array([1 + 2j])}, {})
    assert load_checkpoint(tmp_path / "m.npz")[0]["z"][0] == 1 + 2j


def test_read_manifest_reads_only_the_manifest(tmp_path):
    from seqkit.checkpoint import read_manifest

    path = tmp_path / "m.npz"
    save_checkpoint(path, {"w": np.zeros(3)}, {"epoch": 4})
    assert read_manifest(path)["epoch"] == 4
    # a damaged weight entry does not matter to it; a damaged manifest does, in one line
    header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }"
    _zip(path, {"__manifest__.npy": MANIFEST, "w.npy": _raw_npy(header, b"")})
    assert read_manifest(path)["format_version"] == 2
    _zip(path, {"__manifest__.npy": _npy(np.array([object()], dtype=object))})
    with pytest.raises(SeqkitError, match="holds pickled objects") as err:
        read_manifest(path)
    _assert_one_line(err, path)


def test_the_best_checkpoint_is_a_link_that_later_epochs_leave_alone(tmp_path):
    from seqkit.atomic import link_atomic
    last, best = tmp_path / "m.npz", tmp_path / "m.best.npz"
    save_checkpoint(last, {"w": np.zeros(3)}, {"epoch": 1})
    assert link_atomic(last, best)
    assert os.stat(last).st_ino == os.stat(best).st_ino
    save_checkpoint(last, {"w": np.ones(3)}, {"epoch": 2})   # a later, worse epoch
    assert load_checkpoint(best)[1]["epoch"] == 1 and load_checkpoint(last)[1]["epoch"] == 2
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_where_links_fail_nothing_is_left_and_the_caller_is_told(tmp_path, monkeypatch):
    from seqkit.atomic import link_atomic
    last, best = tmp_path / "m.npz", tmp_path / "m.best.npz"
    save_checkpoint(last, {"w": np.zeros(3)}, {"epoch": 1})

    def no_links(*args):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    assert not link_atomic(last, best) and not best.exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_training_links_the_best_epoch_instead_of_writing_it_twice(tmp_path):
    from seqkit.testing import run_seqkit
    m = tmp_path / "m.npz"
    r = run_seqkit("train", "chars", "--data", "dinos", "--out", m, "--hidden", "8",
                   "--embed-dim", "4", "--epochs", "1", "-q")
    assert r.returncode == 0, r.stderr
    assert os.stat(m).st_ino == os.stat(tmp_path / "m.best.npz").st_ino   # epoch 1 is the best
