import json
import warnings
from pathlib import Path

import pytest

from seqkit import plugins
from seqkit.backend import BackendError, get_backend
from seqkit.testing import run_seqkit


@pytest.fixture
def fresh_plugins():
    plugins.reset()
    yield plugins
    plugins.reset()


def test_numpy_backend_arrives_through_entry_point(fresh_plugins):
    reg = fresh_plugins.registry()
    assert "numpy" in reg.backends
    assert reg.backend_plugin["numpy"].distribution == "seqkit-numpy"
    assert get_backend("numpy").xp.__name__ == "numpy"


def test_real_entry_point_plugin_and_broken_one(fresh_plugins, plugin_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_dir))
    with pytest.warns(plugins.PluginWarning, match="'broken'.*seqkit-broken.*broken on purpose"):
        reg = fresh_plugins.registry()
    assert {"numpy", "fake"} <= set(reg.backends)
    assert reg.backend_plugin["fake"].distribution == "seqkit-fake"
    assert reg.backend_plugin["fake"].version == "0.3"
    with pytest.raises(BackendError, match="unavailable: ImportError.*fakegpu.*pip install"):
        get_backend("fake")


def test_strict_mode_turns_a_broken_plugin_into_an_error(fresh_plugins, plugin_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.setenv("SEQKIT_STRICT_PLUGINS", "1")
    with pytest.raises(plugins.PluginError, match="broken"):
        fresh_plugins.load_plugins()


@pytest.mark.parametrize("load, disable, expected", [
    ("", None, set()),
    ("numpy", None, {"numpy"}),
    ("seqkit-fake", None, {"fake"}),  # a distribution name works too
    (None, "broken,fake", "all but broken and fake"),
])
def test_env_vars_limit_loading(fresh_plugins, plugin_dir, monkeypatch, load, disable, expected):
    monkeypatch.syspath_prepend(str(plugin_dir))
    for var, value in (("SEQKIT_LOAD_PLUGINS", load), ("SEQKIT_DISABLE_PLUGINS", disable)):
        if value is None:
            monkeypatch.delenv(var, raising=False)
        else:
            monkeypatch.setenv(var, value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the broken plugin is never imported here
        fresh_plugins.load_plugins()
    loaded = {name for name, p in fresh_plugins.pm.list_name_plugin() if p is not None}
    if isinstance(expected, set):
        assert loaded == expected
    else:
        assert "numpy" in loaded and not loaded & {"broken", "fake"}


def test_misspelled_hook_is_caught(fresh_plugins):
    class Typo:
        @plugins.hookspecs.hookimpl
        def register_backend(self, register):  # missing "s"
            pass

    fresh_plugins.load_plugins()
    fresh_plugins.pm.register(Typo())
    with pytest.raises(Exception, match="register_backend"):
        fresh_plugins.pm.check_pending()


def test_every_hook_is_documented():
    from seqkit import hookspecs

    for name in ("register_backends", "register_tasks", "register_commands"):
        spec = getattr(hookspecs, name)
        assert spec.__doc__ and len(spec.__doc__.strip()) > 20
    docs = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    for name in ("register_backends", "register_tasks", "register_commands"):
        assert name in docs


def test_cli_plugins_lists_others_when_one_is_broken(plugin_dir):
    r = run_seqkit("plugins", "--json", pythonpath=plugin_dir)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    names = {row["name"] for row in rows}
    assert {"numpy", "fake"} <= names and "broken" not in names
    assert all({"name", "version", "hooks"} <= row.keys() for row in rows)
    fake = next(row for row in rows if row["name"] == "fake")
    assert fake["hooks"] == ["register_backends", "register_commands"]
    warning_lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(warning_lines) == 1 and "broken" in warning_lines[0]


def test_plugin_adds_a_command(plugin_dir):
    r = run_seqkit("hello", pythonpath=plugin_dir)
    assert r.returncode == 0 and "hello from fake" in r.stdout


def test_a_plugin_whose_hook_raises_costs_only_itself(fresh_plugins):
    class Raising:
        @plugins.hookspecs.hookimpl
        def register_tasks(self, register):
            raise RuntimeError("boom")

    fresh_plugins.load_plugins()
    fresh_plugins.pm.register(Raising(), name="raising")
    with pytest.warns(plugins.PluginWarning, match="'raising' failed in register_tasks.*boom"):
        reg = fresh_plugins.registry()
    assert "numpy" in reg.backends


def test_cli_survives_a_plugin_whose_hooks_raise(tmp_path):
    (tmp_path / "seqkit_raising.py").write_text(
        "from seqkit import hookimpl\n\n"
        "@hookimpl\ndef register_commands(cli):\n    raise RuntimeError('no commands today')\n\n"
        "@hookimpl\ndef register_tasks(register):\n    raise ValueError('no tasks either')\n")
    info = tmp_path / "seqkit_raising-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: seqkit-raising\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[seqkit]\nraising = seqkit_raising\n")
    r = run_seqkit("tasks", "--json", pythonpath=tmp_path)
    assert r.returncode == 0 and "chars" in r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and all(ln.startswith("Warning: plugin 'raising' failed in") for ln in lines)
