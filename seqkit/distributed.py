"""Data-parallel training: the same model on N processes, one result.

Started by ``mpiexec -n N seqkit train TASK ... --distributed``. Every rank builds
the same model, then takes rank 0's weights and optimizer state (so a fresh and a
resumed run start identical everywhere). Each epoch, every rank draws the same
global order of batches of N x ``--batch-size`` examples and works on its share
of each: the gradient of the global batch is the examples' weighted mean,

    g = sum_r w_r g_r / sum_r w_r,   w_r = examples of rank r ("sum" reduction)
                                           or its valid steps ("mean" reduction),

so N ranks train exactly what one process trains with the global batch, up to
the order of float additions. One allreduce per step carries every gradient,
the loss, the weights and an error flag in one packed buffer (MPI's buffer
interface on NumPy arrays; the CuPy backend's NCCL on its arrays, MPI only to set it
up: ``Backend.allreduce_sum``); clipping
and the optimizer step then run identically on every rank.

Failures: a ``SeqkitError`` on any rank reaches every rank through the flag and
each ends with the same one-line message (printed once, by rank 0). A rank that
dies is noticed by the MPI runtime, which ends the job; a rank that hangs is
caught by a watchdog: no collective may wait longer than ``SEQKIT_MPI_TIMEOUT``
seconds (default 60).

mpi4py is imported only here, and only when ``--distributed`` is given.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

import numpy as np

from .errors import SeqkitError
from .rows import mark_dense

#: what launchers set in each process: (size variable, rank variable)
LAUNCHER_VARIABLES = (("PMI_SIZE", "PMI_RANK"),                        # MPICH, Intel MPI (hydra)
                      ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),  # Open MPI
                      ("PMIX_SIZE", "PMIX_RANK"))
DEFAULT_TIMEOUT = 60.0


def launched_ranks() -> int:
    """How many processes the MPI launcher started (1 outside a launcher), read from
    the environment without importing MPI."""
    for size, _ in LAUNCHER_VARIABLES:
        value = os.environ.get(size, "")
        if value.isdigit():
            return int(value)
    return 1


def timeout_from_environment() -> float:
    value = os.environ.get("SEQKIT_MPI_TIMEOUT", "")
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise SeqkitError(f"SEQKIT_MPI_TIMEOUT must be a positive number of seconds, not {value!r}")
    return seconds


class Single:
    """One process: every collective is the identity."""

    rank, size, local_rank, is_root = 0, 1, 0, True

    def shard(self, idx):
        return list(idx)

    def agreed(self, fn):
        return fn()

    def broadcast_state(self, run) -> None:
        pass

    def reduce_step(self, grads: dict, loss: float, n_tokens: float, weight: float,
                    error: BaseException | None = None, backend=None):
        if error is not None:
            raise error
        return loss, n_tokens, weight

    def broadcast_record(self, record: dict) -> dict:
        return record

    def check_same_weights(self, model) -> None:
        pass

    def close(self) -> None:
        pass


class Distributed(Single):
    """The ranks of ``MPI.COMM_WORLD`` training one model together."""

    def __init__(self, comm, timeout: float = DEFAULT_TIMEOUT):
        from mpi4py import MPI

        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.is_root = self.rank == 0
        # this rank's index among the ranks on its machine (a GPU backend picks its device by it)
        self.local_rank = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
        self.timeout = timeout
        self._buffers: dict = {}
        self._deadline: float | None = None
        self._waiting_for = ""
        self._closed = False
        self._watchdog = threading.Thread(target=self._watch, name="seqkit-mpi-watchdog", daemon=True)
        self._watchdog.start()

    @classmethod
    def connect(cls) -> Distributed:
        try:
            from mpi4py import MPI
        except ImportError:
            raise SeqkitError("--distributed needs mpi4py and an MPI runtime: "
                              "pip install 'seqkit[mpi]' (or mpi4py built against your "
                              "cluster's MPI)") from None
        return cls(MPI.COMM_WORLD, timeout_from_environment())

    # -- a watchdog, so that no collective waits for ever ------------------------
    @contextlib.contextmanager
    def _collective(self, what: str):
        self._waiting_for, self._deadline = what, time.monotonic() + self.timeout
        try:
            yield
        finally:
            self._deadline = None

    def _watch(self) -> None:
        while not self._closed:
            time.sleep(min(1.0, self.timeout / 4))
            deadline = self._deadline
            if deadline is not None and time.monotonic() > deadline:
                sys.stderr.write(f"Error: rank {self.rank} of {self.size} waited {self.timeout:g} s "
                                 f"for the other ranks ({self._waiting_for}): one of them died or "
                                 "hangs; stopping (SEQKIT_MPI_TIMEOUT sets the limit)\n")
                sys.stderr.flush()
                # MPI_Abort ends every rank (a launcher need not when one exits); exit if it hangs
                threading.Timer(5.0, os._exit, (1,)).start()
                self.comm.Abort(1)
                os._exit(1)

    def close(self) -> None:
        self._closed = True

    # -- data ----------------------------------------------------------------
    def shard(self, idx):
        """This rank's share of a global batch's indices (contiguous, sizes within one)."""
        return np.array_split(np.asarray(idx, dtype=np.int64), self.size)[self.rank].tolist()

    # -- agreement on errors ---------------------------------------------------
    def agreed(self, fn):
        """Run ``fn`` on every rank; if it raises a ``SeqkitError`` on any rank, every
        rank raises the same one (the lowest failing rank's message)."""
        try:
            result, error = fn(), None
        except SeqkitError as e:
            result, error = None, e
        self._agree(error, "set-up")
        return result

    def _agree(self, error: BaseException | None, what: str) -> None:
        flag = np.array([self.rank if error is not None else self.size], dtype=np.int64)
        first = np.empty_like(flag)
        with self._collective(what):
            self.comm.Allreduce(flag, first, op=self.MPI.MIN)
        if int(first[0]) < self.size:
            self._raise_from(int(first[0]), error)

    def _raise_from(self, failed: int, error: BaseException | None):
        """Every rank raises rank ``failed``'s message."""
        text = _message(error) if self.rank == failed else ""
        data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        length = np.array([data.size], dtype=np.int64)
        with self._collective("an error message"):
            self.comm.Bcast(length, root=failed)
            buf = data.copy() if self.rank == failed else np.empty(int(length[0]), dtype=np.uint8)
            self.comm.Bcast(buf, root=failed)
        message = buf.tobytes().decode("utf-8")
        if self.rank == failed and error is not None and not isinstance(error, SeqkitError):
            raise error  # a bug: its own rank keeps the traceback
        raise SeqkitError(message if failed == 0 or message.startswith("rank ")
                          else f"rank {failed}: {message}")

    # -- state ----------------------------------------------------------------
    def broadcast_state(self, run) -> None:
        """Rank 0's weights, optimizer slots and step count on every rank."""
        arrays = list(run.model.params().values())
        opt = run.optimizer
        arrays += [a for slot in opt.slots for a in opt.state[slot].values()]
        with self._collective("the initial weights"):
            for a in arrays:
                self._bcast_array(a)
            t = np.array([opt.t], dtype=np.int64)
            self.comm.Bcast(t, root=0)
            opt.t = int(t[0])
            epoch = np.array([run.epoch], dtype=np.int64)
            self.comm.Bcast(epoch, root=0)
        if int(epoch[0]) != run.epoch:
            raise SeqkitError(f"rank {self.rank} resumed from epoch {run.epoch}, rank 0 from "
                              f"{int(epoch[0])}: every rank must read the same --resume file")

    def _bcast_array(self, a) -> None:
        if isinstance(a, np.ndarray):
            self.comm.Bcast(a, root=0)  # contiguous parameter arrays, in place
            return
        host = np.ascontiguousarray(_to_host(a))
        self.comm.Bcast(host, root=0)
        a[...] = _array_module(a).asarray(host)

    # -- the step ---------------------------------------------------------------
    def reduce_step(self, grads: dict, loss: float, n_tokens: float, weight: float,
                    error: BaseException | None = None, backend=None):
        """Average ``grads`` (in place) over the ranks, weighted by ``weight``; returns
        the global batch's (loss, n_tokens, weight). One allreduce, by the backend
        (``Backend.allreduce_sum``: MPI on host memory, NCCL on CuPy's)."""
        arrays = list(grads.values())
        xp = _array_module(arrays[0])
        n = sum(int(a.size) for a in arrays)
        buf = self._buffer(xp, n + 4, arrays[0].dtype)
        if error is not None:
            weight, loss, n_tokens = 0.0, 0.0, 0.0
        offset = 0
        for a in arrays:  # copy and weight in one pass over memory
            xp.multiply(a.reshape(-1), weight, out=buf[offset:offset + a.size])
            offset += a.size
        buf[n:] = xp.asarray([weight * loss, weight, n_tokens, float(error is not None)],
                             dtype=buf.dtype)
        with self._collective("a gradient allreduce"):
            if backend is None:
                self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
            else:
                backend.allreduce_sum(self.comm, buf)
        total_loss, total_weight, total_tokens, failed = (float(v) for v in _to_host(buf[n:]))
        if failed:
            self._agree(error, "an error report")  # raises on every rank
        scale = 1.0 / total_weight if total_weight > 0 else 0.0
        offset = 0
        for a in arrays:
            segment = buf[offset:offset + a.size]
            if a.flags.c_contiguous:  # reshape(-1) is then a view: unpack and scale in one pass
                xp.multiply(segment, scale, out=a.reshape(-1))
            else:
                a[...] = (segment * scale).reshape(a.shape)
            mark_dense(a)  # other ranks' rows are in it now (seqkit.rows)
            offset += a.size
        return (total_loss / total_weight if total_weight else 0.0), total_tokens, total_weight

    def _buffer(self, xp, n: int, dtype):
        key = (xp.__name__, n, str(dtype))
        if key not in self._buffers:
            self._buffers = {key: xp.empty(n, dtype=dtype)}  # one shape per run
        return self._buffers[key]

    # -- the epoch's end ---------------------------------------------------------
    def broadcast_record(self, record: dict) -> dict:
        """Rank 0's validation numbers on every rank, so that early stopping and the
        NaN guard decide the same everywhere (even on machines whose floats differ)."""
        keys = [k for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        values = np.array([float(record[k]) for k in keys], dtype=np.float64)
        with self._collective("the validation metrics"):
            self.comm.Bcast(values, root=0)
        return {**record, **{k: (int(v) if isinstance(record[k], int) else float(v))
                             for k, v in zip(keys, values)}}

    def check_same_weights(self, model) -> None:
        """After an epoch every rank must hold the same weights; say so if not."""
        total = sum(float(_to_host(p).astype(np.float64).sum()) for p in model.params().values())
        mine = np.array([total, -total], dtype=np.float64)
        extremes = np.empty_like(mine)
        with self._collective("a weight check"):
            self.comm.Allreduce(mine, extremes, op=self.MPI.MAX)
        if extremes[0] != -extremes[1]:
            raise SeqkitError("the ranks' weights diverged (their sums differ): the MPI "
                              "reduction did not give every rank the same result")


def _message(error: BaseException | None) -> str:
    if error is None:
        return ""
    if isinstance(error, SeqkitError):
        return str(error)
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def _array_module(a):
    return np if isinstance(a, np.ndarray) else sys.modules[type(a).__module__.split(".")[0]]


def _to_host(a) -> np.ndarray:
    return a if isinstance(a, np.ndarray) else a.get()
