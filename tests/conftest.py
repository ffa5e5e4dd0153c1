import os
import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def plugin_dir(tmp_path):
    """A folder holding two real entry-point plugins (dist-info + module): one that
    registers a backend, one that raises on import."""

    def make(dist, module, code):
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(code))
        info = tmp_path / f"{dist.replace('-', '_')}-0.3.dist-info"  # the wheel spelling
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
        (info / "entry_points.txt").write_text(f"[seqkit]\n{module.removeprefix('seqkit_')} = {module}\n")

    make("seqkit-fake", "seqkit_fake", """
        from seqkit import Backend, hookimpl

        class FakeBackend(Backend):
            name = "fake"
            install_hint = "pip install seqkit-fake[gpu]"

            @classmethod
            def unavailable_reason(cls):
                return "ImportError: No module named 'fakegpu'"

        @hookimpl
        def register_backends(register):
            register(FakeBackend)

        @hookimpl
        def register_commands(cli):
            @cli.command()
            def hello():
                print("hello from fake")
    """)
    make("seqkit-broken", "seqkit_broken", "raise ImportError('broken on purpose')\n")
    return tmp_path


FIXTURES = Path(__file__).parent / "plugins_fixtures"


@pytest.fixture
def install_fixture(tmp_path):
    """``install_fixture(dist, module)``: a wheel-style dist-info for a fixture package
    in tests/plugins_fixtures, so the CLI in a subprocess loads it through its entry
    point like any installed plugin. Returns the PYTHONPATH to pass to ``run_seqkit``."""

    def install(dist: str, module: str) -> str:
        info = tmp_path / f"{dist.replace('-', '_')}-0.1.0.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
        (info / "entry_points.txt").write_text(
            f"[seqkit]\n{module.removeprefix('seqkit_')} = {module}\n")
        return os.pathsep.join([str(tmp_path), str(FIXTURES)])

    return install
