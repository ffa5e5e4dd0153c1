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

Saving is atomic (``seqkit.atomic``): the archive is written to a temporary
file beside the target (``.{basename}.{pid}.{random}.tmp``), fsync'ed, then
``os.replace``'d onto it, so a crash, a kill or an error leaves either the old
checkpoint or the new one, never half of one; the next save removes the
temporary files a killed save left. A failed write (full disk, no permission,
read-only file system) is one line, the old file intact.

Loading reads each entry's ``.npy`` header before its data: an entry holding
pickled objects, or anything but numbers, is refused by name and never
unpickled; an entry declaring more data than it holds is reported as
truncated before anything is allocated. Whether the manifest fits the arrays
is ``seqkit.manifest``'s to check.
"""
from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np

from .atomic import make_temp, reason, write_atomic
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


def save_checkpoint(path, arrays: dict, manifest: dict) -> None:
    """Write ``arrays`` (name -> NumPy array) and ``manifest`` (a JSON-able
    dict) to ``path`` atomically (``seqkit.atomic.write_atomic``). The file name
    is used as given (no ``.npz`` appended). On any failure the temporary file
    is removed and an existing checkpoint at ``path`` is left untouched; an
    ``OSError`` (full disk, no permission, read-only) is a one-line SeqkitError.
    Temporary files a killed save left for ``path`` are removed first."""
    entries = _validated(arrays, manifest)  # before touching the disk
    write_atomic(path, lambda f: np.savez(f, allow_pickle=False, **entries), what="checkpoint ")


def _one_line(e: BaseException) -> str:
    text = " ".join(f"{type(e).__name__}: {e}".split())
    if "pickle" in text.lower():  # NumPy's advice to trust the file (allow_pickle=True): never
        text = f"{type(e).__name__}: an .npy header seqkit cannot read"
    return text if len(text) <= 160 else text[:157] + "..."


class _Refused(Exception):
    """An entry that is intact but not what a checkpoint may hold."""


_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}


def _read_entries(name: str, only=None) -> dict[str, np.ndarray]:
    """Every entry of the archive (or those named in ``only``), each header checked
    before its data is read: no pickled object is ever unpickled, no array larger
    than its entry is allocated."""
    arrays = {}
    with zipfile.ZipFile(name) as zf:
        for info in zf.infolist():
            if only is not None and info.filename[:-4] not in only:
                continue
            if not info.filename.endswith(".npy"):
                raise _Refused(f"entry {info.filename!r:.60} is not a NumPy array")
            key = info.filename[:-4]
            if key in arrays:
                raise _Refused(f"entry {key!r:.60} appears twice")
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version not in _HEADER_READERS:
                    raise _Refused(f"entry {key!r:.60} is .npy format {version[0]}.{version[1]}, "
                                   "which seqkit does not write")
                shape, fortran, dtype = _HEADER_READERS[version](f)
                if dtype.hasobject:
                    raise _Refused(f"entry {key!r:.60} holds pickled objects; refused: loading it "
                                   "could run code")
                if dtype.kind not in _NUMERIC_KINDS or dtype.shape or dtype.names:
                    raise _Refused(f"entry {key!r:.60} has dtype {str(dtype):.40}, not a number "
                                   "type (checkpoints hold numeric arrays only)")
                nbytes = math.prod(shape) * dtype.itemsize
                if any(n < 0 for n in shape) or nbytes > info.file_size:
                    raise ValueError(f"entry {key!r:.60} declares shape {shape!s:.60} "
                                     f"({dtype}), more than its {info.file_size} bytes")
                data = bytearray(f.read(nbytes))  # writable, and no larger than the entry
                if len(data) != nbytes or f.read(1):
                    raise ValueError(f"entry {key!r:.60} holds {len(data)} bytes of data, its "
                                     f"header declares {nbytes}")
            a = np.frombuffer(data, dtype=dtype)
            arrays[key] = a.reshape(shape[::-1]).transpose() if fortran else a.reshape(shape)
    return arrays


def load_checkpoint(path) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint written by ``save_checkpoint``: ``(arrays, manifest)``,
    every array read into memory and the file closed. Any problem (missing,
    unreadable, not an archive, truncated, corrupted, foreign, an entry holding
    pickled objects or anything but numbers) raises a one-line SeqkitError
    naming the file. What the manifest says is checked by ``seqkit.manifest``."""
    return _load(os.fspath(path))


def read_manifest(path) -> dict:
    """The manifest of the checkpoint at ``path``, reading that entry only (with
    ``load_checkpoint``'s checks and one-line errors): who wrote a file, at
    which epoch, without loading its weights."""
    return _load(os.fspath(path), only={MANIFEST_KEY})[1]


def _load(name: str, only=None) -> tuple[dict[str, np.ndarray], dict]:
    try:
        with open(name, "rb") as f:
            magic = f.read(6)
    except FileNotFoundError:
        raise SeqkitError(f"checkpoint {name} does not exist") from None
    except IsADirectoryError:
        raise SeqkitError(f"checkpoint {name} is a directory, not a file") from None
    except OSError as e:
        raise SeqkitError(f"checkpoint {name} is not readable ({reason(e)})") from None
    # sniff first: np.load's own errors for these would talk about pickles
    if not magic:
        raise SeqkitError(f"{name} is not a seqkit checkpoint (empty file)")
    if magic == b"\x93NUMPY":
        raise SeqkitError(f"{name} is not a seqkit checkpoint (a single .npy array, "
                          "not an .npz archive)")
    if not magic.startswith(b"PK"):
        raise SeqkitError(f"{name} is not a seqkit checkpoint (not an .npz/zip archive)")
    try:
        arrays = _read_entries(name, only)
    except _Refused as e:
        raise SeqkitError(f"{name} is not a seqkit checkpoint ({e})") from None
    except Exception as e:  # BadZipFile (truncated, bad CRC), EOFError, ValueError (bad header)...
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
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError: ValueErrors
        raise SeqkitError(f"{name} is not a seqkit checkpoint (invalid manifest: "
                          f"{_one_line(e)})") from None
    if manifest.get("format") != FORMAT:
        raise SeqkitError(f"{name} is not a seqkit checkpoint "
                          f"(format {manifest.get('format')!r:.60}, expected {FORMAT!r})")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SeqkitError(f"{name} has an invalid format_version {version!r:.60}")
    if version > FORMAT_VERSION:
        raise SeqkitError(f"{name} was written by a newer seqkit (format_version {version}; "
                          f"this version reads up to {FORMAT_VERSION})")
    return arrays, manifest


def check_writable(path) -> None:
    """Fail now, not after hours of training, when ``path`` cannot be written:
    its directory must exist and accept a new file (tried for real, so
    read-only mounts and ACLs count) and ``path`` must not be a directory.
    Every OSError is a one-line SeqkitError."""
    name = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(name))
    if not os.path.isdir(directory):
        raise SeqkitError(f"cannot write {name}: directory {directory} does not exist")
    if os.path.isdir(name):
        raise SeqkitError(f"cannot write {name}: it is a directory")
    try:
        fd, tmp = make_temp(name)
    except OSError as e:
        raise SeqkitError(f"cannot write {name}: directory {directory} is not writable "
                          f"({reason(e)})") from None
    try:
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise SeqkitError(f"cannot write {name}: {reason(e)} (probing {directory})") from None
