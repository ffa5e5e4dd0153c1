"""Reading inputs and writing results: one-line errors, no partial files.

Results are written to a temporary file beside the target and renamed onto
it, so a full disk or a crash leaves the old file (or none), never half a file.
"""
from __future__ import annotations

import os

from .atomic import write_atomic
from .errors import SeqkitError


def read_lines(path: str) -> list[str]:
    """The lines of a UTF-8 text file, without their line ends."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise SeqkitError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise SeqkitError(f"{path} is not UTF-8 text (byte {e.start}: {e.reason})") from None


def write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename)."""
    write_atomic(path, lambda f: f.write(data))


def write_text(path: str, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_samples(samples: list, path: str) -> None:
    """Text samples one per line in ``path``; bytes samples each as a file of its
    own (``path``, then ``stem-2.ext``, ``stem-3.ext``, ...)."""
    if all(isinstance(s, str) for s in samples):
        write_text(path, "".join(s + "\n" for s in samples))
        return
    stem, ext = os.path.splitext(path)
    for i, s in enumerate(samples):
        data = s if isinstance(s, bytes) else str(s).encode("utf-8")
        write_bytes(path if i == 0 else f"{stem}-{i + 1}{ext}", data)
