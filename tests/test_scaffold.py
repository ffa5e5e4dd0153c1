"""``seqkit new-plugin``: what it writes, what it refuses, and (slow) that each kind's
plugin, pip-installed in editable mode, passes its own tests as made.

The install goes into a throwaway virtual environment that sees this one's packages
(a ``.pth`` file adding its site-packages), so the developer's environment never holds
the demo plugins, even when a run is killed half way."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import tomllib

from seqkit.cli.scaffold import KINDS, scaffold
from seqkit.errors import SeqkitError
from seqkit.testing import run_seqkit

NAMES = {"cell": "demo", "backend": "mine", "task": "moods"}


@pytest.mark.parametrize("kind", KINDS)
def test_writes_a_complete_plugin(kind, tmp_path):
    name = NAMES[kind]
    root = scaffold(name, kind, tmp_path)
    assert root == tmp_path / f"seqkit-{name}"
    made = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert {"pyproject.toml", "README.md", f"docs/{name}.md", f"seqkit_{name}/__init__.py"} <= made
    assert any(m.startswith("tests/test_") for m in made)
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == f"seqkit-{name}"
    assert pyproject["project"]["entry-points"]["seqkit"] == {name: f"seqkit_{name}"}
    for path in root.rglob("*"):
        if path.suffix in (".py", ".toml", ".md"):
            text = path.read_text()
            assert "$" not in text and "__package__/" not in text, path  # every placeholder filled
            if path.suffix == ".py":
                ast.parse(text, str(path))
    if kind != "task":
        tests = (root / "tests" / "test_conformance.py").read_text()
        assert f'pytest.mark.seqkit({kind}="{name}")' in tests
        assert "from seqkit.conformance.suite import *" in tests


def test_refuses_bad_or_taken_names_and_existing_folders(tmp_path):
    with pytest.raises(SeqkitError, match="must be a lowercase identifier"):
        scaffold("My-Cell", "cell", tmp_path)
    with pytest.raises(SeqkitError, match="a cell 'gru' is already installed by seqkit-numpy"):
        scaffold("gru", "cell", tmp_path)
    with pytest.raises(SeqkitError, match="a task 'chars' is already installed by seqkit-text"):
        scaffold("chars", "task", tmp_path)
    scaffold("demo", "cell", tmp_path)
    with pytest.raises(SeqkitError, match="already exists"):
        scaffold("demo", "cell", tmp_path)
    with pytest.raises(SeqkitError, match="--description must be one line"):
        scaffold("other", "cell", tmp_path, summary='say "hi"')


def test_cli(tmp_path):
    r = run_seqkit("new-plugin", "demo", "--kind", "cell", "--dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == f"created {tmp_path / 'seqkit-demo'}/ (cell plugin 'demo', 7 files)"
    assert f"pip install -e {tmp_path / 'seqkit-demo'}" in r.stdout
    r = run_seqkit("new-plugin", "demo", "--kind", "cell", "--dir", tmp_path)
    assert r.returncode == 1 and r.stderr == f"Error: {tmp_path / 'seqkit-demo'} already exists; remove " \
                                             "it or choose another --dir\n"
    r = run_seqkit("new-plugin", "x", "--kind", "layer")
    assert r.returncode == 2 and "Error: Invalid value for '--kind'" in r.stderr


# -- installed, in a throwaway environment ----------------------------------------------

def _env() -> dict:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SEQKIT_", "PYTEST_"))}


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``seqkit new-plugin`` of every kind, then ``pip install -e`` of all three into a
    fresh virtual environment layered over this one: ``(python, {kind: folder})``."""
    where = tmp_path_factory.mktemp("scaffold")
    env_dir = where / "venv"
    venv.create(env_dir, with_pip=False, symlinks=os.name != "nt")
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    parents = [p for p in sys.path if p.rstrip("/\\").endswith("site-packages")]
    (Path(purelib) / "_seqkit_parent.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in parents) + "\n")
    roots = {}
    for kind in KINDS:
        r = run_seqkit("new-plugin", NAMES[kind], "--kind", kind, "--dir", where)
        assert r.returncode == 0, r.stderr
        roots[kind] = where / f"seqkit-{NAMES[kind]}"
    editable = [arg for root in roots.values() for arg in ("-e", str(root))]
    r = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                        "--no-build-isolation", "--no-input", "--disable-pip-version-check", "-q", *editable],
                       capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return python, roots


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_the_new_plugin_installs_and_passes_its_own_tests(installed, kind):
    python, roots = installed
    r = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=roots[kind],
                       capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " passed" in r.stdout and "failed" not in r.stdout and "error" not in r.stdout.lower()
    if kind == "cell":   # the kit ran: gradients over the grid and the rest
        assert r.stdout.count("passed") == 1 and int(r.stdout.split(" passed")[0].split()[-1]) >= 20
        listed = subprocess.run([python, "-m", "seqkit", "cells"], capture_output=True, text=True,
                                env=_env(), cwd=roots[kind])
        assert any(ln.startswith("demo ") for ln in listed.stdout.splitlines()), listed.stdout
