"""The BLAS thread policy (seqkit.threads) and the --threads / SEQKIT_THREADS settings."""
import subprocess
import sys

import numpy as np
import pytest

from seqkit import SeqkitError, threads


@pytest.fixture(autouse=True)
def _policy(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.setattr(threads, "_owned", False)
    threads.set_threads(None)
    yield
    threads.set_threads(None)


def test_parse_threads():
    assert threads.parse_threads("auto") is None and threads.parse_threads(None) is None
    assert threads.parse_threads(" 3 ") == 3
    for bad in ("0", "-1", "x", "1.5"):
        with pytest.raises(SeqkitError, match="positive integer or 'auto'"):
            threads.parse_threads(bad)


def test_small_gemms_get_one_thread_big_ones_more(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(threads._load, "others_cores", lambda: 0.0)
    assert threads.threads_for(16, 256, 64) == 1           # a per-step LSTM GEMM, B 16, H 64
    assert threads.threads_for(32, 512, 128) == 2          # B 32, H 128: 4.2 MFLOP
    assert threads.threads_for(3200, 1024, 256) == 4       # an input projection, T*B 3200
    flops_of_two = threads.FLOPS_PER_THREAD * 2
    assert threads.threads_for(1, 1, int(flops_of_two // 2)) == 2


def test_busy_cores_are_not_counted(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads._load, "others_cores", lambda: 1.0)   # another training
    assert threads.threads_for(3200, 1024, 256) == 1
    monkeypatch.setattr(threads._load, "others_cores", lambda: 0.3)
    assert threads.threads_for(3200, 1024, 256) == 2


def test_fixed_count_overrides_the_policy(monkeypatch):
    threads.set_threads(3)
    assert threads.threads_for(1, 1, 1) == 3
    threads.set_threads("auto")
    assert threads.threads_for(1, 1, 1) == 1
    monkeypatch.setenv(threads.ENV, "2")
    threads._fixed_read = False
    assert threads.fixed_threads() == 2


def test_the_load_is_read_from_proc_stat():
    load = threads._Load()
    load.others_cores()
    load.at -= 1.0  # force a new sample
    assert 0.0 <= load.others_cores() <= threads.usable_cores() + 1


@pytest.mark.skipif(threads.blas_threads() is None, reason="numpy's BLAS is not controllable here")
def test_gemm_blocks_set_and_restore_the_blas_count():
    before = threads.blas_threads()
    threads.set_threads(None)
    with threads.gemm(16, 64, 64):
        assert threads.blas_threads() == 1
        np.ones((16, 64)) @ np.ones((64, 64))
    assert threads.blas_threads() == before
    threads.set_threads(2)
    with threads.gemm(16, 64, 64):
        assert threads.blas_threads() == 2
    assert threads.blas_threads() == before
    # a CuPy-like module: no-op
    xp = type(sys)("cupy")
    with threads.gemm(16, 64, 64, xp):
        assert threads.blas_threads() == before


def test_kernels_agree_whatever_the_thread_count():
    from seqkit import LSTM
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 8, 16)).astype(np.float32)
    layer = LSTM(16, 32, seed=0)
    outs = []
    for n in (1, 2, None):
        threads.set_threads(n)
        y, _ = layer.forward(x)
        dx = layer.backward(np.ones_like(y))
        outs.append((np.array(y), dx))
    for y, dx in outs[1:]:
        np.testing.assert_allclose(y, outs[0][0], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(dx, outs[0][1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("args, env, code, message", [
    (["--threads", "0", "tasks"], {}, 2, "Invalid value for '--threads'"),
    (["tasks"], {"SEQKIT_THREADS": "many"}, 1, "Error: threads must be a positive integer or 'auto'"),
])
def test_cli_mistakes_are_one_line(args, env, code, message):
    import os
    r = subprocess.run([sys.executable, "-m", "seqkit", *args], capture_output=True, text=True,
                       env={**os.environ, **env})
    assert r.returncode == code
    assert message in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) <= 3  # click's usage lines + the error


def test_cli_threads_option_is_accepted():
    r = subprocess.run([sys.executable, "-m", "seqkit", "--threads", "1", "tasks"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(threads.blas_threads() is None, reason="numpy's BLAS is not controllable here")
def test_configure_sets_the_count_between_kernel_gemms():
    before = threads.blas_threads()
    try:
        assert threads.configure("auto") is None and threads.blas_threads() == 1
        assert threads.configure(2) == 2 and threads.blas_threads() == 2
        assert "fixed at 2" in threads.describe()
    finally:
        threads.set_threads(None)
        threads.set_blas_threads(before)


@pytest.mark.skipif(threads.blas_threads() is None, reason="numpy's BLAS is not controllable here")
def test_a_process_seqkit_owns_keeps_the_count_between_gemms(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads._load, "others_cores", lambda: 0.0)
    before = threads.blas_threads()
    try:
        threads.configure("auto")
        assert threads.blas_threads() == 1
        with threads.gemm(3200, 1024, 256):       # big: both free cores
            assert threads.blas_threads() == 2
        assert threads.blas_threads() == 2        # not switched back (no thread to wake next time)
        with threads.gemm(4, 4, 4):               # too small to decide: left as it is
            assert threads.blas_threads() == 2
        monkeypatch.setattr(threads._load, "others_cores", lambda: 1.0)   # another training
        with threads.gemm(3200, 1024, 256):
            assert threads.blas_threads() == 1
        assert threads.blas_threads() == 1
    finally:
        threads._owned = False
        threads.set_blas_threads(before)
