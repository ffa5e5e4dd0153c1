"""Nothing lost, one line for every mistake (issue "Nothing lost"): each numbered
repro of the issue, run as written through the real CLI."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from seqkit.testing import run_seqkit

ROOT = Path(__file__).resolve().parents[1]
DINOS = ROOT / "plugins" / "seqkit-text" / "seqkit_text" / "data" / "dinos.txt"
FAST = ["--embed-dim", "8", "-q"]


@pytest.fixture(scope="module")
def d200(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "d200.txt"
    path.write_text("\n".join(DINOS.read_text().splitlines()[:200]) + "\n")
    return path


def ok(r):
    assert r.returncode == 0, r.stderr
    return r


def one_line(r, *fragments):
    # the run's own report ("chars: 180 training / ...", epoch lines) may come first
    lines = [ln for ln in r.stderr.splitlines() if ln.strip() and not re.match(r"(chars: |epoch )", ln)]
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    assert len(lines) == 1, r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


def manifest(path):
    with np.load(path) as f:
        return json.loads(bytes(f["__manifest__"]))


def test_1_resume_refuses_an_optimizer_change_and_applies_weight_decay(tmp_path, d200):
    m = tmp_path / "m.npz"
    ok(run_seqkit("train", "chars", "--data", d200, "--out", m, "--hidden", "16", "--epochs", "2", *FAST))
    before = m.read_bytes()
    one_line(run_seqkit("train", "chars", "--data", d200, "--resume", m, "--out", m, "--epochs", "3",
                        "--optimizer", "sgd", *FAST),
             "--optimizer sgd cannot change on --resume", "trained with --optimizer adam")
    one_line(run_seqkit("train", "chars", "--data", d200, "--resume", m, "--out", m, "--epochs", "3",
                        "--momentum", "0.9", *FAST), "--momentum 0.9 cannot change")
    assert m.read_bytes() == before
    ok(run_seqkit("generate", m))
    ok(run_seqkit("train", "chars", "--data", d200, "--resume", m, "--out", m, "--epochs", "3",
                  "--weight-decay", "0.01", *FAST))
    assert manifest(m)["config"]["weight_decay"] == 0.01 and manifest(m)["epoch"] == 3
    ok(run_seqkit("generate", m))
    ok(run_seqkit("generate", tmp_path / "m.best.npz"))


def test_2_weights_made_non_finite_by_the_last_step_are_never_saved(tmp_path, d200):
    g = tmp_path / "g.npz"
    r = run_seqkit("train", "chars", "--data", d200, "--out", g, "--hidden", "16", "--epochs", "3",
                   "--batch-size", "1000", "--lr", "1e38", *FAST)
    line = one_line(r, "non-finite")
    assert "no checkpoint was written" in line or "last good checkpoint" in line
    if g.exists():  # only a finite one
        ok(run_seqkit("generate", g))
    else:
        one_line(run_seqkit("generate", g), "no such checkpoint")


def test_3_a_second_run_on_one_out_is_refused_naming_the_holder(tmp_path, d200):
    m = tmp_path / "m.npz"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / "m.npz.lock").write_text(f"{holder.pid}\n")
        one_line(run_seqkit("train", "chars", "--data", d200, "--out", m, "--epochs", "1", *FAST),
                 f"pid {holder.pid}")
        assert not m.exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is stale and taken over, then released
    ok(run_seqkit("train", "chars", "--data", d200, "--out", m, "--hidden", "8", "--epochs", "1", *FAST))
    assert m.exists() and not (tmp_path / "m.npz.lock").exists()


def test_4_a_fresh_run_never_replaces_a_result_silently(tmp_path, d200):
    m, best = tmp_path / "m.npz", tmp_path / "m.best.npz"
    ok(run_seqkit("train", "chars", "--data", d200, "--out", m, "--hidden", "32", "--epochs", "6", *FAST))
    good_best = best.read_bytes()
    one_line(run_seqkit("train", "chars", "--data", d200, "--out", m, "--epochs", "1", *FAST),
             "already exists", "--overwrite")
    r = ok(run_seqkit("train", "chars", "--data", d200, "--out", m, "--hidden", "8", "--epochs", "1",
                      "--overwrite", *FAST))
    assert manifest(m)["epoch"] == 1            # --overwrite replaced the latest epoch
    assert best.read_bytes() == good_best        # but not the other run's better best
    assert "kept" in r.stderr and "better" in r.stderr


def test_8_a_diverging_resume_names_a_file_that_exists(tmp_path, d200):
    m = tmp_path / "m.npz"
    ok(run_seqkit("train", "chars", "--data", d200, "--out", m, "--hidden", "16", "--epochs", "1", *FAST))
    new = tmp_path / "new.npz"
    line = one_line(run_seqkit("train", "chars", "--data", d200, "--resume", m, "--out", new,
                               "--epochs", "3", "--lr", "1e38", "--batch-size", "1000", *FAST))
    named = re.search(r"last good checkpoint is (\S+) \(epoch (\d+)\)", line)
    assert named, line
    assert Path(named.group(1)).exists() and manifest(named.group(1))["epoch"] == int(named.group(2))
    ok(run_seqkit("generate", named.group(1)))


def test_9_ctrl_c_says_interrupted_and_exits_130(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # a background job inherits SIGINT ignored (CI runs this way): give the run the
    # default disposition a terminal's Ctrl-C meets
    p = subprocess.Popen([sys.executable, "-m", "seqkit", "train", "chars", "--data", str(DINOS),
                          "--out", str(tmp_path / "m.npz"), "--epochs", "50"],
                         stderr=subprocess.PIPE, text=True, env=env,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = p.stderr.readline()  # "chars: N training / ..." once training starts
        assert "training" in first, first
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        _, rest = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, rest
    assert rest.strip().splitlines()[-1] == "Interrupted." and "Aborted" not in rest


BAD_PLUGIN = """
import numpy as np
from seqkit import Backend, hookimpl
from seqkit.cells import Cell

class Bad(Backend):
    name = "bad"
    @property
    def xp(self):
        return np

class Worse(Backend):
    name = "worse"
    @classmethod
    def unavailable_reason(cls):
        raise RuntimeError("probe exploded")

def forward(params, x, lengths, state0, **options):
    raise RuntimeError("kernel exploded")

@hookimpl
def register_backends(register):
    register(Bad)
    register(Worse)

@hookimpl
def register_cells(register):
    for name, gates, states in (("rnn", 1, ("a",)), ("gru", 3, ("a",)), ("lstm", 4, ("a", "c"))):
        register(Cell(name, gates, "bad", forward, forward, states=states,
                      options={"nonlinearity": ("tanh", "relu")} if name == "rnn" else {}))
"""


def fake_plugin(tmp_path, dist, module, code):
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(code))
    info = tmp_path / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[seqkit]\n{module.removeprefix('seqkit_')} = {module}\n")
    return tmp_path


def test_10_a_backend_whose_code_raises_is_one_line_naming_it(tmp_path, d200):
    path = fake_plugin(tmp_path, "seqkit-bad", "seqkit_bad", BAD_PLUGIN)
    r = ok(run_seqkit("backends", pythonpath=path))
    assert re.search(r"worse +unavailable: its unavailable_reason\(\) failed: RuntimeError: probe", r.stdout)
    for args in (["gradcheck", "-b", "bad", "--cell", "gru"],
                 ["train", "chars", "--data", d200, "--out", tmp_path / "m.npz", "-b", "bad", *FAST]):
        line = one_line(run_seqkit(*args, pythonpath=path),
                        "plugin 'bad' failed: RuntimeError: kernel exploded")
        assert "SEQKIT_DEBUG=1" in line
    r = run_seqkit("gradcheck", "-b", "bad", "--cell", "gru", pythonpath=path, env={"SEQKIT_DEBUG": "1"})
    assert r.returncode == 1 and "Traceback" in r.stderr and "kernel exploded" in r.stderr
    one_line(run_seqkit("gradcheck", "-b", "worse", pythonpath=path), "backend 'worse' is unavailable")


def test_11_a_plugin_calling_sys_exit_on_import_is_one_warning(tmp_path):
    path = fake_plugin(tmp_path, "seqkit-quitter", "seqkit_quitter", "import sys\nsys.exit(3)\n")
    r = ok(run_seqkit("tasks", pythonpath=path))
    assert "chars" in r.stdout
    assert re.search(r"Warning: plugin 'quitter' \(seqkit-quitter\) failed to load: SystemExit", r.stderr)


def test_12_one_huge_line_is_refused_suggesting_chunk(tmp_path):
    big = tmp_path / "one-line.txt"
    big.write_text("abcdefghij" * 200_000)  # 2 MB, no newline
    one_line(run_seqkit("train", "chars", "--data", big, "--out", tmp_path / "m.npz", *FAST),
             "line 1 has 2,000,000 characters", "--chunk N")
    ok(run_seqkit("train", "chars", "--data", big, "--chunk", "200", "--epochs", "1", "--hidden", "8",
                  "--out", tmp_path / "m.npz", *FAST))


def test_15_the_readme_first_model_runs_on_a_fresh_clone_without_shared(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## A first model\n\n```bash\n(.*?)```", readme, re.S).group(1)
    assert "../shared" not in block
    for line in block.splitlines():
        for command in line.split("#")[0].split(";"):
            args = command.split()
            assert args[0] == "seqkit"
            r = subprocess.run([sys.executable, "-m", "seqkit", *args[1:]], cwd=tmp_path,
                               capture_output=True, text=True, timeout=300)
            assert r.returncode == 0, (command, r.stderr)
    assert (tmp_path / "dinos.npz").exists() and (tmp_path / "dinos.png").exists()


def test_16_help_shows_defaults_and_every_option_says_what_it_does():
    text = ok(run_seqkit("train", "chars", "--help")).stdout
    text = re.sub(r"\n {20,}", " ", text)  # each option's help on one line
    for option, default in (("--cell", "lstm"), ("--hidden", "128"), ("--layers", "1"), ("--lr", "0.005"),
                            ("--epochs", "20"), ("--batch-size", "32"), ("--optimizer", "adam")):
        assert re.search(rf"^  {re.escape(option)} .*\[default: {re.escape(default)}\]", text, re.M), option
    assert "dinos" in text
    for command, options in (("generate", ["--temperature", "--seed"]), ("evaluate", ["--json"])):
        text = ok(run_seqkit(command, "--help")).stdout
        for option in options:
            line = next(ln for ln in text.splitlines() if ln.strip().startswith(option))
            assert len(line.split()) > 2 or "\n" in text, line
