"""Who owns an output: one run per ``--out`` at a time, no silent replacement.

    OUT.lock      holds the pid of the run writing OUT (and OUT.best.npz); a second
                  run is refused while that process lives; a lock left by a killed
                  run (its pid gone) is taken over
    OUT           a fresh run refuses to replace it unless --overwrite (or --resume)
    OUT.best.npz  never replaced by a worse checkpoint of another run: each run has a
                  ``run_id`` in its manifest, and a best file of another run is kept
                  when its monitored metric is better
"""
from __future__ import annotations

import contextlib
import os

from . import checkpoint
from .errors import SeqkitError


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


@contextlib.contextmanager
def output_lock(out: str):
    """Hold ``OUT.lock`` while training into ``out``."""
    lock = f"{out}.lock"
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            holder = _holder(lock)
            if holder is not None and holder != os.getpid() and pid_alive(holder):
                raise SeqkitError(f"{out} is being written by another seqkit run (pid {holder}); "
                                  "wait for it to finish or choose another --out") from None
            with contextlib.suppress(FileNotFoundError):  # stale: its run was killed
                os.unlink(lock)
        except OSError as e:
            raise SeqkitError(f"cannot lock {out}: {e.strerror or e}") from None
    else:
        raise SeqkitError(f"cannot lock {out}: {lock} keeps reappearing")
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()}\n")
    try:
        yield
    finally:
        if _holder(lock) == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(lock)


def _holder(lock: str) -> int | None:
    try:
        with open(lock) as f:
            return int(f.read().strip() or "0") or None
    except (OSError, ValueError):
        return None


def read_manifest(path: str) -> dict | None:
    """The manifest of the checkpoint at ``path`` (only that entry is read), or None
    when there is no readable seqkit checkpoint there."""
    try:
        return checkpoint.read_manifest(path)
    except SeqkitError:  # missing, foreign or damaged: nothing to protect or compare
        return None


def check_fresh_out(out: str, overwrite: bool, resume: str | None) -> None:
    """A fresh run (or a resumed one into a new file) must not replace an existing
    checkpoint unless told to."""
    if overwrite or not os.path.exists(out):
        return
    if resume and os.path.abspath(resume) == os.path.abspath(out):
        return
    m = read_manifest(out)
    what = (f" (task {m.get('task', {}).get('name')!r}, {m.get('epoch')} epoch(s))"
            if isinstance(m, dict) and isinstance(m.get("task"), dict) else "")
    raise SeqkitError(f"{out} already exists{what}; pass --overwrite to replace it, "
                      f"or --resume {out} to continue it")


def best_is_ours_to_replace(path: str, run_id: str, value: float, monitor) -> tuple[bool, str]:
    """Whether this run may write its best checkpoint to ``path``: yes if there is none,
    if it is this run's, or if it is another run's with a worse monitored metric."""
    m = read_manifest(path)
    if not isinstance(m, dict) or m.get("run_id") in (None, run_id):
        return True, ""
    key, mode = monitor
    values = [e.get(f"valid_{key}") for e in m.get("history", []) if isinstance(e, dict)]
    values = [v for v in values if isinstance(v, (int, float))]
    if not values:
        return True, ""
    theirs = (min if mode == "min" else max)(values)
    better = value < theirs if mode == "min" else value > theirs
    return better, (f"kept {path}: another run's best valid_{key} {theirs:.4g} is better than "
                    f"this run's {value:.4g}")
