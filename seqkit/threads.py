"""How many BLAS threads each operation of a kernel gets.

A multi-threaded BLAS pays off only on GEMMs big enough to split, and only
while another core is free. OpenBLAS's threads spin between calls, so on a
shared machine (two trainings, cross-validation folds, a test runner) a
2-thread GEMM waits for a thread the scheduler has given to someone else, and
training ran 2.5-8x slower than with one thread (docs/performance.md).

The policy, per GEMM (``gemm(m, n, k)`` around it):

    threads = min(cap, flops // FLOPS_PER_THREAD, free cores)      (at least 1)

* ``flops = 2 m n k``; ``FLOPS_PER_THREAD`` (2 MFLOP) is where a second thread
  paid in whole training epochs on this machine's idle cores: only the tiniest
  GEMMs (a per-step GEMM of B 16, H 64) stay on one thread; the contention
  protection is the next point, not this threshold.
* *free cores*: the cores this process may use (its affinity mask) minus the
  CPU time other processes used on them over the last ~0.25 s, read from
  ``/proc/stat`` (Linux; elsewhere every core counts as free). Niced work
  counts too: with the kernel's autogroups (``sched_autogroup_enabled``, the
  default of desktop and many server kernels) ``nice`` orders processes only
  within one session, and a ``nice -n 19`` training started from another
  shell took half of our core here. Only where autogroups are off and we are
  not niced ourselves is niced work left out (the scheduler then gives way to
  us). So a second training on the cores sends both to one thread each.
* *a process seqkit owns* (the CLI: ``configure()`` under the policy): a GEMM's
  count stays set after it, until the next GEMM big enough to decide, and GEMMs
  too small to split run on whatever is set. Switching back to one thread after
  every GEMM put a BLAS thread to sleep that the next GEMM had to wake.
  As a library (no ``configure()``) every block restores the count it found.
* *cap*: ``SEQKIT_THREADS`` or ``set_threads(n)`` (``seqkit --threads N``)
  fixes the count of every GEMM to ``n`` (no policy); ``auto`` (the default)
  lets the policy decide up to the usable cores.

Only NumPy's BLAS is touched (through threadpoolctl), and a ``gemm`` block
restores the count it found, so a library user's own settings survive.
CuPy arrays and a BLAS threadpoolctl cannot control make every call a no-op.
"""
from __future__ import annotations

import os
import time

from .errors import SeqkitError

ENV = "SEQKIT_THREADS"

#: a GEMM gets one thread per this many floating-point operations (2 m n k).
#: Set from whole training epochs on the idle machine (bench/train_speed.py,
#: docs/performance.md), not from isolated GEMMs: bench/gemm_threads.py puts the
#: crossover of a lone GEMM nearer 8-30 MFLOP, but inside a kernel the threads are
#: already awake, and 24e6 here left a fifth of the 2-thread speed unused.
FLOPS_PER_THREAD = 2e6

#: how often (seconds) the other processes' CPU use is re-read
_SAMPLE_S = 0.25

_fixed: int | None = None      # set_threads(n) / SEQKIT_THREADS=n; None: the policy
_fixed_read = False            # whether the environment was read
_libs: list | None = None      # threadpoolctl controllers of numpy's BLAS
_owned = False                 # configure() ran under the policy: the process's BLAS is ours


def parse_threads(value) -> int | None:
    """``"auto"``/None -> None (the policy), ``"N"`` -> N >= 1; else a SeqkitError."""
    if value is None or str(value).strip().lower() in ("", "auto"):
        return None
    try:
        n = int(str(value).strip())
    except ValueError:
        n = 0
    if n < 1:
        raise SeqkitError(f"threads must be a positive integer or 'auto', not {value!r}")
    return n


def set_threads(n) -> None:
    """Fix every kernel GEMM to ``n`` BLAS threads (an int, or "auto"/None for the policy).
    Overrides ``SEQKIT_THREADS``."""
    global _fixed, _fixed_read
    _fixed, _fixed_read = parse_threads(n), True


def fixed_threads() -> int | None:
    """The fixed count (``set_threads`` or ``SEQKIT_THREADS``), None under the policy."""
    global _fixed, _fixed_read
    if not _fixed_read:
        _fixed, _fixed_read = parse_threads(os.environ.get(ENV)), True
    return _fixed


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _autogroups() -> bool:
    """Whether the scheduler's autogroups may be on (then nice works within a session only)."""
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            return f.read().strip() != "0"
    except OSError:
        return True


class _Load:
    """The CPU time other processes used recently, in cores (``/proc/stat``
    minus this process's own time; niced work too, see the module docstring)."""

    def __init__(self):
        self.at, self.busy, self.own, self.others = None, 0.0, 0.0, 0.0
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.count_nice = (hasattr(os, "nice") and os.nice(0) > 0) or _autogroups()

    def _read(self):
        """(busy seconds of the cores we may use, our own CPU seconds)."""
        try:
            mine = {f"cpu{i}" for i in os.sched_getaffinity(0)}
        except (AttributeError, OSError):
            mine = None
        busy = 0
        with open("/proc/stat") as f:
            for line in f:
                name, *fields = line.split()
                if not name.startswith("cpu"):
                    break
                if (name == "cpu") != (mine is None) or (mine is not None and name not in mine):
                    continue
                user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
                busy += user + system + irq + softirq + steal + (nice if self.count_nice else 0)
        t = os.times()
        return busy / self.tick, t.user + t.system

    def others_cores(self) -> float:
        now = time.monotonic()
        if self.at is not None and now - self.at < _SAMPLE_S:
            return self.others
        try:
            busy, own = self._read()
        except (OSError, ValueError):
            return 0.0
        if self.at is not None and now > self.at:
            self.others = max(0.0, (busy - self.busy) - (own - self.own)) / (now - self.at)
        self.at, self.busy, self.own = now, busy, own
        return self.others


_load = _Load()


def free_cores() -> int:
    """Usable cores not busy with other processes' work (at least 1)."""
    return max(1, usable_cores() - int(_load.others_cores() + 0.5))


def _worth(m: int, n: int, k: int) -> int:
    """The threads an (m, k) @ (k, n) GEMM's size is worth, before the cores' limits."""
    return int(2.0 * m * n * k // FLOPS_PER_THREAD)


def threads_for(m: int, n: int, k: int) -> int:
    """How many BLAS threads an (m, k) @ (k, n) GEMM gets (see the module docstring)."""
    fixed = fixed_threads()
    if fixed is not None:
        return fixed
    want = _worth(m, n, k)
    if want <= 1:
        return 1
    return max(1, min(want, usable_cores(), free_cores()))


class _Blas:
    """One BLAS's thread count, read and set through its own C functions
    (threadpoolctl finds them; its Python-level setter costs ~6 us a call,
    the C function ~1 us, and a kernel switches a few times per call)."""

    def __init__(self, lc):
        self.lc, self.get, self.set = lc, lc.get_num_threads, lc.set_num_threads
        if getattr(lc, "internal_api", "") == "openblas" and lc.threading_layer != "openmp":
            get, set_ = (getattr(lc, "_get_symbol", lambda _: None)(f"openblas_{w}_num_threads")
                         for w in ("get", "set"))
            if get is not None and set_ is not None:
                self.get, self.set = get, set_


def _blas_libs() -> list:
    global _libs
    if _libs is None:
        try:
            import numpy as np  # noqa: F401  (its BLAS must be loaded to be found)
            from threadpoolctl import ThreadpoolController
            libs = ThreadpoolController().select(user_api="blas").lib_controllers
            # numpy's own BLAS only, not torch's or another library's
            own = [lc for lc in libs if "numpy" in lc.filepath or "scipy_openblas" in lc.filepath]
            _libs = [_Blas(lc) for lc in own or libs]
        except Exception:  # no threadpoolctl, or a BLAS it cannot control: no-op
            _libs = []
    return _libs


def blas_threads() -> int | None:
    """numpy's BLAS thread count now (None if it cannot be read)."""
    libs = _blas_libs()
    return libs[0].get() if libs else None


def set_blas_threads(n: int) -> None:
    """Set numpy's BLAS thread count (no-op without a controllable BLAS)."""
    for lib in _blas_libs():
        lib.set(n)


class gemm:
    """``with gemm(m, n, k): ...``: the block's BLAS calls run on
    ``threads_for(m, n, k)`` threads; the count found is restored after it.
    ``xp`` other than numpy (CuPy) makes it a no-op."""

    __slots__ = ("want", "before")

    def __init__(self, m: int, n: int, k: int, xp=None):
        if (xp is not None and xp.__name__ != "numpy") or (
                _owned and fixed_threads() is None and _worth(m, n, k) <= 1):
            # a GEMM too small to split runs on whatever count is set: in a process
            # seqkit owns, switching it costs more than the GEMM would gain
            self.want = None
        else:
            self.want = threads_for(m, n, k)
        self.before = None

    def __enter__(self):
        if self.want is not None and _blas_libs():
            self.before = blas_threads()
            if self.want != self.before:
                set_blas_threads(self.want)
        return self

    def __exit__(self, *exc):
        # in a process seqkit owns the count stays until the next GEMM decides again
        # (waking a sleeping BLAS thread per GEMM cost more than it saved)
        if self.before is not None and self.before != self.want and not _owned:
            set_blas_threads(self.before)
        return False


def configure(n=None) -> int | None:
    """For a whole process (the CLI calls it once): fix the count if ``n`` is given
    (else read ``SEQKIT_THREADS``). Under the policy the process's BLAS is then
    seqkit's: the count starts at 1 and stays, between kernel GEMMs, where the
    last GEMM big enough to decide put it (see the module docstring); a fixed
    count is set once. Returns the fixed count (None: the policy)."""
    global _owned
    if n is not None:
        set_threads(n)
    fixed = fixed_threads()
    _owned = fixed is None
    if _blas_libs():
        set_blas_threads(fixed if fixed is not None else 1)
    return fixed


def describe() -> str:
    """One line: the policy and the BLAS it controls (for ``seqkit info``-like output)."""
    fixed = fixed_threads()
    libs = _blas_libs()
    blas = ", ".join(f"{b.lc.internal_api} {b.lc.version}" for b in libs) or "no controllable BLAS"
    policy = f"fixed at {fixed}" if fixed is not None else (
        f"auto (1 per {FLOPS_PER_THREAD / 1e6:g} MFLOP of a GEMM, at most {usable_cores()} "
        "usable cores less those other processes keep busy)")
    return f"BLAS threads: {policy}; {blas}"
