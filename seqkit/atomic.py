"""Atomic file writes: a temporary file beside the target, fsync'ed, then renamed onto it.

A crash, a kill or an error leaves either the old file or the new one, never
half of one. Temporary files are named after the target and their writer::

    .{basename}.{pid}.{random}.tmp        e.g.  .m.npz.4242.k2x9_q1a.tmp

so the next write to the same target removes those a killed writer left
(``remove_stale_temps``): a file is removed only when its pid is not a live
process (never this process's own, nor another live one's). A reused pid keeps
a stale file until that process ends; a writer on another machine sharing the
directory (NFS) cannot be seen, so its file may be taken for stale, and its
rename then fails in one line, its old file intact. Files of the naming
seqkit used before the pid was added (``.{basename}.{random}.tmp``) are removed
once they have not changed for ``LEGACY_STALE_AFTER_S`` seconds.

Every ``OSError`` on the way (ENOSPC, EACCES, EROFS, EDQUOT, ...) becomes one
``SeqkitError`` line naming the target; the temporary file is removed first.
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Callable
from typing import BinaryIO

from .errors import SeqkitError

TEMP_SUFFIX = ".tmp"
#: pre-pid temporary files (seqkit <= 0.2.0) older than this are taken for stale
LEGACY_STALE_AFTER_S = 3600.0
_RANDOM = r"[a-z0-9_]+"  # tempfile's alphabet


def temp_prefix(path, pid: int | None = None) -> str:
    """``.{basename}.{pid}.``: the start of the name of every temporary file
    written for ``path`` by process ``pid`` (this one by default)."""
    return f".{os.path.basename(os.fspath(path))}.{os.getpid() if pid is None else pid}."


def make_temp(path) -> tuple[int, str]:
    """Create (exclusively, mode 0600) a temporary file beside ``path``:
    ``(fd, temp_path)``. Raises ``OSError`` as ``tempfile.mkstemp`` does."""
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    return tempfile.mkstemp(dir=directory, prefix=temp_prefix(path), suffix=TEMP_SUFFIX)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there: never guess
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError, OSError):
        return True  # another user's live process, or not a pid we can ask about: keep it
    return True


def stale_temps(path) -> list[str]:
    """Temporary files of seqkit's naming for ``path`` whose writer is gone."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = re.escape(os.path.basename(path))
    current = re.compile(rf"\.{base}\.([1-9][0-9]{{0,9}})\.{_RANDOM}{re.escape(TEMP_SUFFIX)}")
    legacy = re.compile(rf"\.{base}\.[a-z0-9_]{{8}}{re.escape(TEMP_SUFFIX)}")
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    out, now = [], time.time()
    for name in names:
        full = os.path.join(directory, name)
        m = current.fullmatch(name)
        if m:
            if not _pid_alive(int(m.group(1))):
                out.append(full)
        elif legacy.fullmatch(name):
            try:
                if now - os.lstat(full).st_mtime > LEGACY_STALE_AFTER_S:
                    out.append(full)
            except OSError:
                pass
    return sorted(out)


def remove_stale_temps(path) -> list[str]:
    """Remove what ``stale_temps(path)`` finds, as far as allowed (errors are
    ignored: cleaning up never fails a write). Returns the paths removed."""
    removed = []
    for tmp in stale_temps(path):
        try:
            if os.path.isfile(tmp) and not os.path.islink(tmp):
                os.unlink(tmp)
                removed.append(tmp)
        except OSError:
            pass
    return removed


def _umask() -> int:
    # os.umask can only be read by setting it; put it straight back
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def fsync_dir(directory: str) -> None:
    """Make a rename in ``directory`` durable (where the OS can open a directory)."""
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


def reason(e: OSError) -> str:
    """An OSError's reason in a few words: ``No space left on device``."""
    return e.strerror or " ".join(str(e).split()) or type(e).__name__


def write_atomic(path, write: Callable[[BinaryIO], None], what: str = "") -> None:
    """Write ``path`` atomically: ``write(f)`` fills a binary file object that
    becomes ``path`` only once complete, flushed and fsync'ed; it gets the mode
    a plain ``open()`` would give (umask). Stale temporary files for ``path``
    are removed first. Any ``OSError`` is a one-line ``SeqkitError``
    ("cannot write {what}{path}: ..."), with ``path`` untouched and no
    temporary file left; any other exception (KeyboardInterrupt too) removes
    the temporary file and propagates."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    remove_stale_temps(path)
    try:
        fd, tmp = make_temp(path)
    except OSError as e:
        raise SeqkitError(f"cannot write {what}{path}: {reason(e)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        kept = "; the existing file is unchanged" if os.path.lexists(path) else ""
        raise SeqkitError(f"cannot write {what}{path}: {reason(e)}{kept}") from None
    except BaseException:
        _remove(tmp)
        raise
    fsync_dir(directory)


def link_atomic(src, path) -> bool:
    """Make ``path`` a hard link to the complete file ``src``, atomically (a link
    made beside it, then renamed onto it). A later atomic write of either name
    makes a new file and leaves the other as it was. False, with ``path``
    untouched, where the file system cannot link (the caller then writes it)."""
    path = os.fspath(path)
    remove_stale_temps(path)
    try:
        fd, tmp = make_temp(path)
        os.close(fd)
        os.remove(tmp)          # mkstemp reserved the name; link needs it free
        os.link(src, tmp)
    except OSError:
        return False
    try:
        os.replace(tmp, path)
    except OSError:
        _remove(tmp)
        return False
    fsync_dir(os.path.dirname(os.path.abspath(path)))
    return True
