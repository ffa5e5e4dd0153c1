"""Data-parallel training on MPI (#12): N ranks train what one process trains with
an N-times larger batch; one rank's failure ends every rank with one line.

These run real ``mpiexec -n 2`` (MPICH from the ``mpich`` wheel in CI) on a small
word list, in float64 so that "equal" can mean 1e-6 relative."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import numpy as np
import pytest

from seqkit.checkpoint import load_checkpoint
from seqkit.run import Run

pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'seqkit[mpi]')")
MPIEXEC = shutil.which("mpiexec", path=os.pathsep.join([os.path.dirname(sys.executable),
                                                        os.environ.get("PATH", "")]))
if MPIEXEC is None:
    pytest.skip("no mpiexec on PATH (pip install 'seqkit[mpi]' brings MPICH's)",
                allow_module_level=True)

ENV = {"OPENBLAS_NUM_THREADS": "1", "SEQKIT_LOAD_PLUGINS": "numpy,text"}
SMALL = ["--hidden", "12", "--embed-dim", "8", "--dtype", "float64", "-q", "--seed", "3"]


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    names = ["".join(rng.choice(letters, rng.integers(3, 14))) for _ in range(90)]
    path = tmp_path_factory.mktemp("words") / "words.txt"
    path.write_text("\n".join(names) + "\n")
    return str(path)


def env(**extra):
    return {**os.environ, **ENV, **extra}


def mpi(n, *args, timeout=300, **extra):
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable, "-m", "seqkit", *map(str, args)],
                          capture_output=True, text=True, env=env(**extra), timeout=timeout)


def one(*args):
    return subprocess.run([sys.executable, "-m", "seqkit", *map(str, args)], capture_output=True,
                          text=True, env=env(), timeout=300)


def weights(path) -> dict:
    arrays, _ = load_checkpoint(str(path))
    return {k: v for k, v in arrays.items() if k.startswith(("model/", "optim/"))}


def assert_same_weights(a, b, rtol=1e-6):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        scale = max(float(np.abs(wb[k]).max()), 1e-12)
        assert float(np.abs(wa[k] - wb[k]).max()) / scale < rtol, k


def assert_ok(r):
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.parametrize("ranks, extra", [
    (2, []),
    # uneven shards (3 ranks), truncated BPTT windows, per-token mean loss
    (3, ["--bptt", "4", "--reduction", "mean", "--clip-norm", "0.5"]),
])
def test_ranks_train_what_one_process_trains_with_the_global_batch(tmp_path, words, ranks, extra):
    common = ["train", "chars", "--data", words, "--epochs", "2", *SMALL, *extra]
    assert_ok(mpi(ranks, *common, "--out", tmp_path / "d.npz", "--batch-size", 5, "--distributed"))
    assert_ok(one(*common, "--out", tmp_path / "s.npz", "--batch-size", 5 * ranks))
    assert_same_weights(tmp_path / "d.npz", tmp_path / "s.npz")
    # and the batch size really is global: one process with the per-rank batch differs
    assert_ok(one(*common, "--out", tmp_path / "small.npz", "--batch-size", 5))
    with pytest.raises(AssertionError):
        assert_same_weights(tmp_path / "d.npz", tmp_path / "small.npz")
    # rank 0 alone wrote: one checkpoint, its best, no other file
    assert sorted(p.name for p in tmp_path.glob("d*")) == ["d.best.npz", "d.npz"]
    history = Run.load(str(tmp_path / "d.npz")).history.epochs
    assert [e["epoch"] for e in history] == [1, 2]


def test_a_resumed_distributed_run_continues_exactly(tmp_path, words):
    common = ["train", "chars", "--data", words, *SMALL]
    assert_ok(mpi(2, *common, "--epochs", 1, "--out", tmp_path / "d.npz", "--batch-size", 4,
                  "--distributed"))
    assert_ok(mpi(2, *common, "--epochs", 3, "--out", tmp_path / "d.npz", "--resume",
                  tmp_path / "d.npz", "--batch-size", 4, "--distributed"))
    assert_ok(one(*common, "--epochs", 3, "--out", tmp_path / "s.npz", "--batch-size", 8))
    assert_same_weights(tmp_path / "d.npz", tmp_path / "s.npz")


def test_ranks_without_distributed_are_refused_in_one_line(tmp_path, words):
    r = mpi(2, "train", "chars", "--data", words, "--out", tmp_path / "m.npz", *SMALL)
    assert r.returncode != 0
    message = ("Error: this is one of 2 processes started by an MPI launcher: add "
               "--distributed to train them as one, or run seqkit without mpiexec")
    # each rank says it once (their lines may interleave), and nothing else
    assert r.stderr.count(message) == 2
    assert len(r.stderr.replace(message, "").split()) == 0
    assert not (tmp_path / "m.npz").exists()


def test_a_failure_on_rank_0_ends_every_rank_with_its_line(tmp_path, words):
    """Rank 0 cannot own --out (a live run holds its lock): nobody trains, one line."""
    out = tmp_path / "m.npz"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (tmp_path / "m.npz.lock").write_text(f"{holder.pid}\n")
        start = time.monotonic()
        r = mpi(2, "train", "chars", "--data", words, "--out", out, *SMALL, "--distributed",
                timeout=120)
        assert time.monotonic() - start < 60
    finally:
        holder.kill()
    assert r.returncode != 0
    assert [ln for ln in r.stderr.splitlines() if ln.strip()] == [
        f"Error: {out} is being written by another seqkit run (pid {holder.pid}); "
        "wait for it to finish or choose another --out"]
    assert not out.exists()


PROTOCOL = textwrap.dedent("""
    import sys, time
    import numpy as np
    from seqkit.distributed import Distributed
    from seqkit.errors import SeqkitError
    d = Distributed.connect()
    case = sys.argv[1]
    grads = {"W": np.full((3, 2), float(d.rank + 1)), "b": np.arange(2.0) * (d.rank + 1)}
    if case == "average":
        # weights 1 and 3: (1*1 + 3*2) / 4 = 1.75 everywhere
        loss, n, w = d.reduce_step(grads, loss=2.0 * (d.rank + 1), n_tokens=5, weight=1 + 2 * d.rank)
        assert np.allclose(grads["W"], 1.75) and np.allclose(grads["b"], [0, 1.75]), grads
        assert (loss, n, w) == ((1 * 2 + 3 * 4) / 4, 10, 4), (loss, n, w)
        print("ok", d.rank)
    elif case == "error":
        error = SeqkitError("bad window in chr7") if d.rank == 1 else None
        try:
            d.reduce_step(grads, 1.0, 1, 1, error)
        except SeqkitError as e:  # one file per rank: lines of two processes may interleave
            open(f"{sys.argv[2]}.{d.rank}", "w").write(str(e))
    elif case == "hang":
        if d.rank == 1:
            time.sleep(300)  # never joins the collective
        d.reduce_step(grads, 1.0, 1, 1)
""")


def protocol(tmp_path, case, timeout=120, **extra):
    script = tmp_path / "protocol.py"
    script.write_text(PROTOCOL)
    return subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(script), case,
                           str(tmp_path / "message")],
                          capture_output=True, text=True, env=env(**extra), timeout=timeout)


def test_one_allreduce_gives_the_weighted_mean_of_the_ranks_gradients(tmp_path):
    r = protocol(tmp_path, "average")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("ok") == 2  # each rank's assertions passed


def test_an_error_on_one_rank_reaches_every_rank_as_the_same_message(tmp_path):
    r = protocol(tmp_path, "error")
    assert r.returncode == 0, r.stderr
    for rank in (0, 1):
        assert (tmp_path / f"message.{rank}").read_text() == "rank 1: bad window in chr7"


def test_a_rank_that_hangs_is_noticed_by_the_watchdog(tmp_path):
    start = time.monotonic()
    r = protocol(tmp_path, "hang", SEQKIT_MPI_TIMEOUT="2")
    assert time.monotonic() - start < 60
    assert r.returncode != 0
    assert ("Error: rank 0 of 2 waited 2 s for the other ranks (a gradient allreduce): one of "
            "them died or hangs; stopping (SEQKIT_MPI_TIMEOUT sets the limit)") in r.stderr


def _rank_pid(marker: str, rank: int) -> int | None:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        if f"SEQKIT_TEST_MARK={marker}".encode() in environ and any(
                v in environ for v in (f"PMI_RANK={rank}".encode(),
                                       f"OMPI_COMM_WORLD_RANK={rank}".encode())):
            return int(pid)
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the rank through /proc")
def test_killing_one_rank_mid_epoch_ends_the_others_and_the_checkpoint_loads(tmp_path, words):
    out, marker = tmp_path / "m.npz", uuid.uuid4().hex
    job = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, "-m", "seqkit", "train", "chars",
                            "--data", words, "--out", str(out), "--epochs", "500",
                            "--batch-size", "2", *SMALL, "--distributed"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env=env(SEQKIT_TEST_MARK=marker))
    try:
        deadline = time.monotonic() + 120
        while not out.exists() and time.monotonic() < deadline and job.poll() is None:
            time.sleep(0.2)
        assert out.exists(), job.communicate(timeout=30)[1]
        time.sleep(0.3)  # into the next epoch
        pid = _rank_pid(marker, 1)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        _, err = job.communicate(timeout=90)
        assert time.monotonic() - killed < 60
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0
    assert "Traceback" not in err
    run = Run.load(str(out))  # atomic writes: the last checkpoint is whole
    assert run.epoch >= 1 and len(run.history.epochs) == run.epoch


def test_distributed_without_mpi4py_says_what_to_install(monkeypatch):
    from seqkit.distributed import Distributed
    from seqkit.errors import SeqkitError

    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(SeqkitError, match=r"pip install 'seqkit\[mpi\]'"):
        Distributed.connect()


@pytest.mark.gpu
def test_the_allreduce_runs_on_the_gpu_with_nccl(tmp_path, words):
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    try:
        n_gpus = cupy.cuda.runtime.getDeviceCount()
        from cupy.cuda import nccl  # noqa: F401
    except Exception as e:  # no driver, no device, no NCCL
        pytest.skip(f"no usable CUDA device with NCCL: {e}")
    ranks = min(n_gpus, 2)  # NCCL needs one GPU per rank
    common = ["train", "chars", "--data", words, "--epochs", "1", *SMALL, "--backend", "cupy"]
    assert_ok(mpi(ranks, *common, "--out", tmp_path / "d.npz", "--batch-size", 4, "--distributed"))
    assert_ok(one(*common, "--out", tmp_path / "s.npz", "--batch-size", 4 * ranks))
    assert_same_weights(tmp_path / "d.npz", tmp_path / "s.npz")
