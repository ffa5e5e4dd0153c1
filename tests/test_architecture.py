"""The house rules, checked: the core imports no plugin, its modules import
each other without cycles (lazy imports inside functions count too), and each
module stays small enough to read in one sitting."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "seqkit"
PLUGIN_PACKAGES = {p.name for p in (ROOT / "plugins").glob("*/seqkit_*") if p.is_dir()}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every seqkit module ``path`` imports, at any depth of the file."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            subs = {f"{base}.{a.name}" for a in node.names}
            # ``from . import hookspecs`` imports the module, not the package's re-exports
            found |= subs if subs <= set(_ALL) else subs | {base}
    return found


_ALL = {module_name(p) for p in CORE.rglob("*.py")}
MODULES = {module_name(p): p for p in CORE.rglob("*.py")}
GRAPH = {m: {i for i in imports(p) if i in MODULES and i != m} for m, p in MODULES.items()}


def test_the_core_imports_no_plugin():
    for name, path in MODULES.items():
        used = {i.split(".")[0] for i in imports(path)}
        assert not used & PLUGIN_PACKAGES, f"{name} imports {used & PLUGIN_PACKAGES}"


def test_no_import_cycles_among_core_modules():
    graph = GRAPH
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(d):] + [d]))
            if d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= 300, f"{name} has {lines} lines"


#: what a command's start-up must not import: each is needed only by the commands that use it
HEAVY = ["torch", "matplotlib", "mido", "Bio", "mpi4py", "seqeval", "sklearn", "scipy", "cupy"]


def test_loading_every_plugin_imports_no_heavy_module():
    """``seqkit --help`` loads every installed plugin; none of them may pull in a library
    that only some command needs (MIDI, FASTA, MPI, plotting, the GPU)."""
    import subprocess
    import sys

    code = ("import sys, seqkit.cli; from seqkit.plugins import registry; registry(); "
            f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == []
