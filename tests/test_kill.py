"""SIGKILL a real training run at 20 random moments (seeded): every checkpoint it
leaves loads, holds exactly the state of one of its epochs, and the temporary
files a killed save leaves are gone after the next save (#8: acceptance).

Each run is ``python -m seqkit train chars ...`` exactly (``runpy`` of the
package's ``__main__``), in a process forked from a launcher that imported
seqkit once: the 20 runs then cost milliseconds to start, not seconds, and the
moments of the kills fall inside training and saving, not inside imports."""
from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqkit.checkpoint import load_checkpoint
from seqkit.run import Run, split_records

ROUNDS, EPOCHS, SEED = 20, 50, 1234

LAUNCHER = r"""
import hashlib, json, os, random, runpy, shutil, signal, sys, time
import seqkit.cli
from seqkit.checkpoint import load_checkpoint
from seqkit.errors import SeqkitError
from seqkit.plugins import registry

registry()  # plugins loaded once, before the forks
work, data, rounds, epochs, seed = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
out, snaps = os.path.join(work, "m.npz"), os.path.join(work, "snaps")
best = os.path.join(work, "m.best.npz")
os.makedirs(snaps)
rng = random.Random(seed)
base = ["train", "chars", "--data", data, "--out", out, "--hidden", "8", "--epochs", str(epochs), "-q"]


def epoch():
    try:
        return load_checkpoint(out)[1]["epoch"]
    except SeqkitError:
        return None


def digest(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except FileNotFoundError:
        return None


for i in range(rounds + 1):
    e = epoch()
    args = base + (["--resume", out] if e is not None and e < epochs
                   else ["--overwrite"] if os.path.exists(out) else [])
    log = os.path.join(snaps, f"{i}.log")
    pid = os.fork()
    if pid == 0:  # the run: `python -m seqkit train ...`
        fd = os.open(log, os.O_WRONLY | os.O_CREAT)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        sys.argv = ["seqkit", *args]
        code = 0
        try:
            runpy.run_module("seqkit", run_name="__main__")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 2
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    if i < rounds:
        time.sleep(rng.uniform(0.02, 0.45))
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    for path, name in ((out, f"{i}.npz"), (best, f"{i}.best.npz")):
        if os.path.exists(path):
            shutil.copyfile(path, os.path.join(snaps, name))
    print(json.dumps({"round": i, "killed": os.WIFSIGNALED(status),
                      "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                      "resumed": "--resume" in args, "files": sorted(os.listdir(work)),
                      "digest": digest(out), "best_digest": digest(best)}), flush=True)
"""


def temps(files, base):
    return {f for f in files if f.startswith(f".{base}.") and f.endswith(".tmp")}


@pytest.mark.slow
def test_sigkill_at_20_random_moments_leaves_only_whole_checkpoints(tmp_path):
    rng = random.Random(SEED)
    data = tmp_path / "names.txt"
    data.write_text("".join("".join(rng.choice("abcdefghijk") for _ in range(rng.randint(3, 8))) + "\n"
                            for _ in range(30)))
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", LAUNCHER, str(work), str(data), str(ROUNDS), str(EPOCHS),
                        str(SEED)], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    rounds = [json.loads(line) for line in r.stdout.splitlines()]
    snaps = work / "snaps"
    assert len(rounds) == ROUNDS + 1

    def log(i):
        return (snaps / f"{i}.log").read_text()

    for rd in rounds[:-1]:  # every run was killed, or had finished its epochs before the kill
        assert rd["killed"] or rd["code"] == 0, log(rd["round"])
    assert not rounds[-1]["killed"] and rounds[-1]["code"] == 0, log(ROUNDS)

    # every checkpoint left behind loads, and its epoch count is its history's length
    loaded = {}
    for path in sorted(snaps.glob("*.npz")):
        run = Run.load(str(path))
        assert run.epoch == len(run.history.epochs) >= 1, path.name
        assert [h["epoch"] for h in run.history.epochs] == list(range(1, run.epoch + 1))
        loaded[path.name] = run.epoch
    assert sum(1 for n in loaded if ".best" not in n) >= 5, "too few checkpoints to judge by"

    # ... and holds exactly that epoch's state: replay from the earliest one, an epoch at a time
    start = min(loaded, key=lambda n: (loaded[n], n))
    run = Run.load(str(snaps / start))
    splits = split_records(run.task, run.task.read(str(data), run.options), run.config.valid_fraction,
                           run.config.seed)
    train, valid = run.encode(splits["train"]), run.encode(splits.get("valid", []))
    reference = {run.epoch: load_checkpoint(snaps / start)[0]}
    replay = tmp_path / "replay.npz"
    while run.epoch < EPOCHS:
        run.config.epochs = run.epoch + 1
        run.fit(train, valid, str(replay), progress=False, log=lambda *a: None)
        reference[run.epoch] = load_checkpoint(replay)[0]
    for name, epoch in loaded.items():
        if epoch not in reference:
            continue  # a best checkpoint from before the earliest snapshot
        arrays = load_checkpoint(snaps / name)[0]
        assert arrays.keys() == reference[epoch].keys(), name
        for k, a in arrays.items():
            np.testing.assert_array_equal(a, reference[epoch][k], err_msg=f"{name} {k}")

    # a killed save's temporary file is gone after the next save of the same file
    for prev, cur in zip(rounds, rounds[1:]):
        for base, key in (("m.npz", "digest"), ("m.best.npz", "best_digest")):
            if cur[key] != prev[key]:
                left = temps(prev["files"], base) & temps(cur["files"], base)
                assert not left, f"round {cur['round']} saved {base} but left {left}"
    final = sorted(os.listdir(work))
    assert not [f for f in final if f.endswith(".tmp")], final
    assert hashlib.sha256(Path(work / "m.npz").read_bytes()).hexdigest() == rounds[-1]["digest"]
