import json

import seqkit
from seqkit.testing import run_seqkit


def one_line_error(r):
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


def test_version():
    r = run_seqkit("--version")
    assert r.returncode == 0 and seqkit.__version__ in r.stdout


def test_no_backend_installed_is_one_line():
    line = one_line_error(run_seqkit("gradcheck", env={"SEQKIT_LOAD_PLUGINS": ""}))
    assert "no backend is installed" in line


def test_unknown_backend_lists_installed():
    line = one_line_error(run_seqkit("gradcheck", "-b", "nosuch"))
    assert "nosuch" in line and "installed: " in line and "numpy" in line


def test_backend_env_var():
    line = one_line_error(run_seqkit("gradcheck", env={"SEQKIT_BACKEND": "nosuch"}))
    assert "nosuch" in line


def test_unavailable_backend_says_why(plugin_dir):
    line = one_line_error(run_seqkit("gradcheck", "-b", "fake", pythonpath=plugin_dir,
                                     env={"SEQKIT_DISABLE_PLUGINS": "broken"}))
    assert "unavailable" in line and "fakegpu" in line and "pip install seqkit-fake" in line


def test_usage_error_is_one_line():
    line = one_line_error(run_seqkit("gradcheck", "--cell", "transformer"))
    assert "transformer" in line


def test_backends_json(plugin_dir):
    r = run_seqkit("backends", "--json", pythonpath=plugin_dir,
                   env={"SEQKIT_DISABLE_PLUGINS": "broken"})
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert rows["numpy"]["available"] and rows["numpy"]["device"] == "cpu"
    assert not rows["fake"]["available"] and "fakegpu" in rows["fake"]["reason"]


def test_gradcheck_command_passes_for_one_cell():
    r = run_seqkit("gradcheck", "--cell", "gru")
    assert r.returncode == 0, r.stderr
    assert "gru bi 2-layer one" in r.stdout and "FAIL" not in r.stdout


def test_gradcheck_command_fails_above_tolerance():
    r = run_seqkit("gradcheck", "--cell", "rnn", "--tol", "1e-30")
    assert "FAIL" in r.stdout
    assert "above tolerance" in one_line_error(r)
