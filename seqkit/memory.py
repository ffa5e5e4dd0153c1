"""Freed memory kept for the next step, in a process seqkit owns (glibc's malloc).

Every training step allocates and frees arrays of a few MB: the input projection,
the gates and states of every step, the BPTT gradients. Their sizes change from
batch to batch (ragged lengths), and glibc's malloc then keeps moving its mmap
threshold and trimming the top of its heap, so a later step faults the same pages
in again. A page fault is cheap on bare metal but not everywhere: on this
project's virtual machine one cost about 7 us (an LSTM's forward + BPTT made to
fault 3,458 pages a call by a small fixed threshold ran 25 ms slower). Fixed,
high thresholds keep the freed pages in the process for the next step's arrays:
a 6-epoch ``seqkit train chars`` faulted 17,000 pages instead of 33,000 and took
0.957 of the time (median of 10 alternating pairs; docs/performance.md, "Freed
memory: kept for the next step").

What it costs: the process's RSS no longer shrinks after a peak until it exits
(the peak itself is the arrays alive at once, as before). So only the command
line calls ``configure()`` (a training or prediction run is one such peak, then
exit), never the library on import; ``SEQKIT_MALLOC=default`` opts out, and so
does setting glibc's own ``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_``
(the user's choice wins). Elsewhere than glibc (macOS, Windows, musl) it does nothing.
"""
from __future__ import annotations

import os
import sys

from .errors import SeqkitError

ENV = "SEQKIT_MALLOC"
#: arrays up to this size come from the heap and are reused, not unmapped (64 MiB: the
#: largest per-step arrays of the benchmark grid, B 64 x T 100 x 4 gates x H 512, are 52 MB)
MMAP_THRESHOLD = 64 << 20
#: free memory at the top of the heap kept up to this much before it is returned
TRIM_THRESHOLD = 512 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3     # glibc's malloc.h
_GLIBC_OWN = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_kept = False


def wanted() -> bool:
    """Whether ``configure()`` should act: ``SEQKIT_MALLOC`` is ``keep`` (the default)
    and glibc's own thresholds are not set; any other value is one line."""
    value = os.environ.get(ENV, "keep").strip().lower() or "keep"
    if value not in ("keep", "default"):
        raise SeqkitError(f"{ENV} must be 'keep' or 'default', not {os.environ[ENV]!r}")
    return value == "keep" and not any(k in os.environ for k in _GLIBC_OWN)


def configure() -> bool:
    """Keep freed memory in this process (see the module docstring). Returns whether
    glibc took the settings (False: opted out, or not glibc)."""
    global _kept
    if _kept or not wanted() or not sys.platform.startswith("linux"):
        return _kept
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):   # not glibc: musl's mallopt does nothing
            return False
        mallopt = libc.mallopt
    except OSError:
        return False
    _kept = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _kept


def kept() -> bool:
    """Whether this process keeps freed memory (``configure()`` took)."""
    return _kept
