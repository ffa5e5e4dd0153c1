"""Checkpoints: named NumPy arrays plus a JSON manifest in one ``.npz`` file.

Layout: a plain (uncompressed) ``.npz`` archive that ``np.load(path,
allow_pickle=False)`` opens. Every entry is a numeric array (bool, int,
uint, float, complex); the manifest is the UTF-8 JSON text stored as a 1-D
uint8 array under ``"__manifest__"`` and always carries
``"format": "seqkit-checkpoint"`` and ``"format_version"``. No pickle is
written or read, so loading a checkpoint never runs code.

Format versions: 1 stored the default model's spec as ``"model"``; 2 stores
any model's JSON config (``{"type": "sequence" | "composed", ...}``). Both
load; a newer version is refused in one line naming it.

Saving is atomic: the archive is written to a temporary file beside the
target, fsync'ed, then ``os.replace``'d onto it, so a crash or an error
leaves either the old checkpoint or the new one, never half of one.
"""
from __future__ import annotations

import json
import os
import tempfile

import numpy as np

from .errors import SeqkitError

FORMAT = "seqkit-checkpoint"
FORMAT_VERSION = 2
MANIFEST_KEY = "__manifest__"
# np.savez's own keyword arguments: entries under these names would be taken for them
_RESERVED = {MANIFEST_KEY, "file", "allow_pickle"}
_NUMERIC_KINDS = "biufc"


def _validated(arrays: dict, manifest: dict) -> dict[str, np.ndarray]:
    """Host arrays ready for ``np.savez``, manifest included; a SeqkitError
    for anything a pickle-free checkpoint cannot hold."""
    out = {}
    for name, a in arrays.items():
        if not isinstance(name, str) or not name or name in _RESERVED:
            raise SeqkitError(f"cannot save an array under the name {name!r}")
        try:
            a = np.asarray(a)
        except (TypeError, ValueError) as e:  # e.g. a CuPy array: convert with to_numpy first
            raise SeqkitError(f"cannot save {name!r} as a NumPy array: {e}") from None
        if a.dtype.kind not in _NUMERIC_KINDS:
            raise SeqkitError(f"cannot save {name!r}: dtype {a.dtype} is not numeric "
                              "(checkpoints hold numeric arrays only, never pickled objects)")
        out[name] = a
    if not isinstance(manifest, dict):
        raise SeqkitError(f"checkpoint manifest must be a dict, not {type(manifest).__name__}")
    full = {"format": FORMAT, "format_version": FORMAT_VERSION,
            **{k: v for k, v in manifest.items() if k not in ("format", "format_version")}}
    try:
        text = json.dumps(full, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise SeqkitError(f"checkpoint manifest is not plain JSON: {e}") from None
    out[MANIFEST_KEY] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    return out


def _umask() -> int:
    # os.umask can only be read by setting it; put it straight back
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def save_checkpoint(path, arrays: dict, manifest: dict) -> None:
    """Write ``arrays`` (name -> NumPy array) and ``manifest`` (a JSON-able
    dict) to ``path`` atomically. The file name is used as given (no ``.npz``
    appended). On any failure the temporary file is removed and an existing
    checkpoint at ``path`` is left untouched."""
    entries = _validated(arrays, manifest)  # before touching the disk
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                                   suffix=".tmp")
    except OSError as e:
        raise SeqkitError(f"cannot write checkpoint {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **entries)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: str) -> None:
    # makes the rename itself durable; not every OS/filesystem can open a directory
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _one_line(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by ``save_checkpoint``: ``(arrays, manifest)``,
    every array read into memory and the file closed. Any problem (missing,
    unreadable, not an archive, truncated, corrupted, foreign) raises a
    one-line SeqkitError naming the file."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            magic = f.read(6)
    except FileNotFoundError:
        raise SeqkitError(f"checkpoint {name} does not exist") from None
    except IsADirectoryError:
        raise SeqkitError(f"checkpoint {name} is a directory, not a file") from None
    except OSError as e:
        raise SeqkitError(f"checkpoint {name} is not readable ({e.strerror or e})") from None
    # sniff first: np.load's own errors for these would talk about pickles
    if not magic:
        raise SeqkitError(f"{name} is not a seqkit checkpoint (empty file)")
    if magic == b"\x93NUMPY":
        raise SeqkitError(f"{name} is not a seqkit checkpoint (a single .npy array, "
                          "not an .npz archive)")
    if not magic.startswith(b"PK"):
        raise SeqkitError(f"{name} is not a seqkit checkpoint (not an .npz/zip archive)")
    try:
        with np.load(name, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except Exception as e:  # BadZipFile (truncated, bad CRC), EOFError, ValueError (bad header)
        raise SeqkitError(f"{name} is not a seqkit checkpoint (corrupted or truncated: "
                          f"{_one_line(e)})") from None
    raw = arrays.pop(MANIFEST_KEY, None)
    if raw is None:
        raise SeqkitError(f"{name} is not a seqkit checkpoint (no {MANIFEST_KEY} entry)")
    try:
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise ValueError(f"{MANIFEST_KEY} is {raw.dtype} with shape {raw.shape}")
        manifest = json.loads(raw.tobytes().decode("utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("the manifest is not a JSON object")
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise SeqkitError(f"{name} is not a seqkit checkpoint (invalid manifest: "
                          f"{_one_line(e)})") from None
    if manifest.get("format") != FORMAT:
        raise SeqkitError(f"{name} is not a seqkit checkpoint "
                          f"(format {manifest.get('format')!r}, expected {FORMAT!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise SeqkitError(f"{name} has an invalid format_version {version!r}")
    if version > FORMAT_VERSION:
        raise SeqkitError(f"{name} was written by a newer seqkit (format_version {version}; "
                          f"this version reads up to {FORMAT_VERSION})")
    return arrays, manifest


def check_writable(path) -> None:
    """Fail now, not after hours of training, when ``path`` cannot be written:
    its directory must exist and accept a new file (tried for real, so
    read-only mounts and ACLs count) and ``path`` must not be a directory."""
    name = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(name))
    if not os.path.isdir(directory):
        raise SeqkitError(f"cannot write {name}: directory {directory} does not exist")
    if os.path.isdir(name):
        raise SeqkitError(f"cannot write {name}: it is a directory")
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(name)}.",
                                   suffix=".tmp")
    except OSError as e:
        raise SeqkitError(f"cannot write {name}: directory {directory} is not writable "
                          f"({e.strerror or e})") from None
    os.close(fd)
    os.unlink(tmp)
