"""The chars task end to end through the real CLI: train, resume, generate, evaluate,
predict, and every user mistake ending in one line with nothing overwritten."""
import json
from pathlib import Path

import numpy as np
import pytest

from seqkit.testing import run_seqkit

NAMES = Path(__file__).parent / "data" / "names.txt"
FAST = ["--hidden", "16", "--embed-dim", "8", "--batch-size", "16", "-q"]


def ok(r):
    assert r.returncode == 0, r.stderr
    return r


def one_line_error(r, *fragments):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert len(lines) == 1, r.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("chars") / "m.npz"
    ok(run_seqkit("train", "chars", "--data", NAMES, "--epochs", "1", "--out", out, *FAST))
    return out


def test_train_then_generate_is_reproducible(trained):
    first = ok(run_seqkit("generate", trained, "--seed", "1")).stdout
    second = ok(run_seqkit("generate", trained, "--seed", "1")).stdout
    assert first == second and first.strip()
    assert ok(run_seqkit("generate", trained, "--seed", "2", "-n", "3")).stdout != first
    primed = ok(run_seqkit("generate", trained, "--primer", "Bra", "--seed", "1")).stdout
    assert primed.startswith("Bra")


def test_checkpoint_opens_without_pickle_and_has_a_manifest(trained):
    with np.load(trained, allow_pickle=False) as f:
        names = set(f.files)
        manifest = json.loads(bytes(f["__manifest__"]).decode())
    assert "model/rnn.weight_hh_l0" in names and "model/embedding.weight" in names
    assert manifest["task"] == {"name": "chars", "kind": "one-to-many",
                                "distribution": "seqkit-text", "version": "0.1.0"}
    assert manifest["encoders"]["vocab"]["tokens"][:3] == ["<unk>", "<bos>", "<eos>"]
    assert {"model", "dtype", "backend", "seed", "epoch", "rng", "config"} <= manifest.keys()


def test_resume_equals_uninterrupted_training(tmp_path):
    args = ["--data", NAMES, *FAST, "--dropout", "0.2", "--seed", "3"]
    ok(run_seqkit("train", "chars", *args, "--epochs", "2", "--out", tmp_path / "two.npz"))
    ok(run_seqkit("train", "chars", *args, "--epochs", "1", "--out", tmp_path / "one.npz"))
    ok(run_seqkit("train", "chars", *args, "--epochs", "2", "--resume", tmp_path / "one.npz",
                  "--out", tmp_path / "resumed.npz"))
    with np.load(tmp_path / "two.npz") as a, np.load(tmp_path / "resumed.npz") as b:
        assert set(a.files) == set(b.files)
        for k in a.files:
            if k != "__manifest__":
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        assert json.loads(bytes(a["__manifest__"]))["epoch"] == 2


def test_evaluate_and_predict(trained):
    metrics = json.loads(ok(run_seqkit("evaluate", trained, "--data", NAMES, "--split", "valid",
                                       "--json")).stdout)
    assert metrics["bpc"] > 0 and metrics["perplexity"] == pytest.approx(
        2 ** metrics["bpc"], rel=1e-5)
    out = ok(run_seqkit("predict", trained, "Brasaurus", "Qqqqqq")).stdout.splitlines()
    bits = [float(line.split("\t")[1].split()[0]) for line in out]
    assert bits[0] < bits[1]  # a name like the training data is less surprising


def test_loss_falls(tmp_path):
    r = ok(run_seqkit("train", "chars", "--data", NAMES, "--epochs", "3", *FAST,
                      "--out", tmp_path / "m.npz"))
    losses = [float(line.split("train_loss ")[1].split()[0])
              for line in r.stderr.splitlines() if "train_loss" in line]
    assert len(losses) == 3 and losses[2] < losses[0]


# -- user mistakes: one line, non-zero exit, nothing overwritten ---------------------------
@pytest.fixture
def existing_out(tmp_path):
    out = tmp_path / "keep.npz"
    out.write_bytes(b"precious")
    return out


def test_empty_file(tmp_path, existing_out):
    (tmp_path / "empty.txt").write_text("  \n")
    one_line_error(run_seqkit("train", "chars", "--data", tmp_path / "empty.txt",
                              "--out", existing_out), "empty")
    assert existing_out.read_bytes() == b"precious"


def test_binary_file(tmp_path, existing_out):
    (tmp_path / "bin.dat").write_bytes(bytes(range(256)))
    one_line_error(run_seqkit("train", "chars", "--data", tmp_path / "bin.dat",
                              "--out", existing_out), "binary")
    assert existing_out.read_bytes() == b"precious"


def test_missing_data_option_and_file(tmp_path):
    one_line_error(run_seqkit("train", "chars", "--out", tmp_path / "m.npz"), "--data")
    one_line_error(run_seqkit("train", "chars", "--data", tmp_path / "nope.txt",
                              "--out", tmp_path / "m.npz"), "nope.txt")


def test_unknown_task(tmp_path):
    one_line_error(run_seqkit("train", "poetry", "--data", NAMES, "--out", tmp_path / "m.npz"),
                   "unknown task 'poetry'", "chars")


def test_checkpoint_of_a_task_that_is_not_installed(trained):
    one_line_error(run_seqkit("generate", trained, env={"SEQKIT_DISABLE_PLUGINS": "text"}),
                   "needs task 'chars' from seqkit-text 0.1.0", "pip install seqkit-text")


def test_corrupted_checkpoint(tmp_path, trained):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(trained.read_bytes()[:300])
    one_line_error(run_seqkit("generate", bad), "bad.npz")
    one_line_error(run_seqkit("generate", tmp_path / "absent.npz"), "absent.npz")


def test_plot_is_saved(tmp_path):
    pytest.importorskip("matplotlib")
    ok(run_seqkit("train", "chars", "--data", NAMES, "--epochs", "2", *FAST,
                  "--out", tmp_path / "m.npz", "--plot", tmp_path / "curve.png"))
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tasks_lists_chars():
    rows = json.loads(ok(run_seqkit("tasks", "--json")).stdout)
    assert {"name": "chars", "kind": "one-to-many", "plugin": "seqkit-text"}.items() <= next(
        r for r in rows if r["name"] == "chars").items()


def test_resume_past_the_end_is_a_clear_error(trained, tmp_path):
    one_line_error(run_seqkit("train", "chars", "--data", NAMES, "--epochs", "1", "--resume", trained,
                              "--out", tmp_path / "again.npz"), "already trained 1 epoch")
    assert not (tmp_path / "again.npz").exists()


def test_nan_loss_stops_with_one_line_and_keeps_the_checkpoint(existing_out):
    r = run_seqkit("train", "chars", "--data", NAMES, "--epochs", "2", "--cell", "rnn",
                   "--nonlinearity", "relu", "--optimizer", "sgd", "--lr", "1e6", "--clip-norm", "0",
                   "--out", existing_out, "--overwrite", *FAST)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "Warning" not in r.stderr
    assert "became nan" in r.stderr.splitlines()[-1]
    assert existing_out.read_bytes() == b"precious"


def test_truncated_bptt_on_running_text(tmp_path):
    text = tmp_path / "running.txt"
    text.write_text(" ".join(NAMES.read_text().split()) * 3)
    r = ok(run_seqkit("train", "chars", "--data", text, "--chunk", "60", "--bptt", "15",
                      "--epochs", "3", *FAST, "--out", tmp_path / "m.npz"))
    losses = [float(line.split("train_loss ")[1].split()[0])
              for line in r.stderr.splitlines() if "train_loss" in line]
    assert losses[-1] < losses[0]
    with np.load(tmp_path / "m.npz") as f:
        manifest = json.loads(bytes(f["__manifest__"]))
    assert manifest["config"]["bptt"] == 15 and manifest["options"]["chunk"] == 60
