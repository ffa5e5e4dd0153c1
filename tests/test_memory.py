"""seqkit.memory: the command line keeps freed memory for the next step (glibc)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from seqkit import memory
from seqkit.errors import SeqkitError

ROOT = Path(__file__).parents[1]


def _glibc() -> bool:
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


GLIBC = sys.platform.startswith("linux") and _glibc()
needs_glibc = pytest.mark.skipif(not GLIBC, reason="mallopt thresholds are glibc's; elsewhere a no-op")

# arrays of changing sizes freed and made again, as ragged batches make them
CHURN = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from seqkit import memory
    took = memory.configure() if sys.argv[1] == "keep" else False
    sizes = [(1 << 20) * k for k in (1, 3, 6, 2, 5, 4)]
    late = 0
    for r in range(12):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        arrays = [np.ones(sizes[(r + i) % 6] // 8) for i in range(4)]
        del arrays
        if r >= 4:
            late += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
    print(took, late)
""")


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("SEQKIT_MALLOC", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")}
    return {**env, **extra}


def _churn(mode, **env):
    r = subprocess.run([sys.executable, "-c", CHURN, mode], capture_output=True, text=True,
                       env=_env(**env), check=True)
    took, late = r.stdout.split()
    return took == "True", int(late)


@needs_glibc
def test_kept_memory_is_reused_instead_of_faulted_in_again():
    took, kept_faults = _churn("keep")
    _, default_faults = _churn("default")
    assert took
    # glibc's own policy faults ~2,000 pages a round here (unmapped or trimmed, then
    # touched again); with the thresholds raised the pages stay and are reused
    assert default_faults > 2000
    assert kept_faults < default_faults / 10


@needs_glibc
@pytest.mark.parametrize("env", [{"SEQKIT_MALLOC": "default"}, {"MALLOC_TRIM_THRESHOLD_": "131072"},
                                 {"MALLOC_MMAP_THRESHOLD_": "131072"}])
def test_the_users_choice_wins(env):
    took, _ = _churn("keep", **env)
    assert not took


@needs_glibc
def test_the_command_line_keeps_freed_memory():
    code = "from seqkit.cli import cli; from seqkit import memory; cli.main(['tasks']); print(memory.kept())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "True"
    # the library alone never opts in (a program that embeds seqkit keeps its own policy)
    code = "import seqkit; from seqkit import memory; seqkit.RNN(4, 3, seed=0); print(memory.kept())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_a_bad_setting_is_one_line():
    r = subprocess.run([sys.executable, "-m", "seqkit", "tasks"], capture_output=True, text=True,
                       env=_env(SEQKIT_MALLOC="lots"))
    assert r.returncode == 1
    assert r.stderr.strip() == "Error: SEQKIT_MALLOC must be 'keep' or 'default', not 'lots'"
    assert "\n" + r.stderr.strip() + "\n" in (ROOT / "docs" / "cli.md").read_text()   # quoted there


def test_wanted_reads_the_environment(monkeypatch):
    for k in ("SEQKIT_MALLOC", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(k, raising=False)
    assert memory.wanted()
    monkeypatch.setenv("SEQKIT_MALLOC", " Default ")
    assert not memory.wanted()
    monkeypatch.setenv("SEQKIT_MALLOC", "keep")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    assert not memory.wanted()
    monkeypatch.setenv("SEQKIT_MALLOC", "always")
    with pytest.raises(SeqkitError, match="SEQKIT_MALLOC must be 'keep' or 'default', not 'always'"):
        memory.wanted()
