import textwrap

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
