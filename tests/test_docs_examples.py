"""The docs' examples are tests: what docs/*.md shows is what the code does.

Conventions, written in the Markdown as an HTML comment on the line(s) just
before a fenced block (invisible when the page is rendered):

    ```python            run: every python block of a page runs, in order, in one
                         namespace per page (so a page can build up an example),
                         with the repository root as the working directory
    <!-- not run -->     a python block that is not executed (pseudo-code, a fragment)
    <!-- from: PATH -->  a verbatim excerpt of PATH (relative to the repository
                         root): checked to appear in that file, not executed
    <!-- pytest -->      a python block that is a test file: written to a temporary
                         folder and run there by pytest in a fresh process
    <!-- output of: seqkit ARGS -->
                         the block is what ``seqkit ARGS`` prints on stdout (a first
                         line ``$ seqkit ARGS`` is allowed and skipped); the real CLI
                         is run with only the bundled plugins loaded and compared
    <!-- output of: seqkit ARGS with seqkit_mgu -->
                         the same with fixture plugins of tests/plugins_fixtures
                         installed as distributions (seqkit-mgu 0.1.0, ...)

Blocks of other languages (bash, toml, plain) are never executed. Examples must
be quick and self-contained: tiny data made inline, files in ``tempfile``
folders, nothing from ../shared.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FIXTURES = ROOT / "tests" / "plugins_fixtures"
#: the entry-point names of the bundled plugins: output checks load these only, so
#: a developer's own installed plugins do not change what ``seqkit cells`` prints
BUNDLED = ("numpy", "text", "cupy")

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*(?P<body>.*?)\s*-->\s*$")
KEYWORDS = ("not run", "from:", "pytest", "output of:")


@dataclass
class Block:
    page: str
    line: int            # 1-based line of the first line of code (after the fence)
    lang: str
    text: str
    markers: list

    def marker(self, keyword: str):
        """The argument of the marker starting with ``keyword`` ("" if it has none), or None."""
        for m in self.markers:
            if m == keyword or m.startswith(keyword):
                return m[len(keyword):].strip()
        return None

    @property
    def where(self) -> str:
        return f"docs/{self.page}:{self.line}"


def parse(path: Path) -> list[Block]:
    """Every fenced block of a page with the marker comments just above it."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, lang, start = m["indent"], m["lang"], i + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"docs/{path.name}:{i + 1}: unclosed ``` block")
        body = [ln[len(indent):] if ln.startswith(indent) else ln for ln in lines[start:end]]
        markers, j = [], i - 1
        while j >= 0 and (not lines[j].strip() or MARKER.match(lines[j])):
            if lines[j].strip():
                markers.insert(0, MARKER.match(lines[j])["body"])
            elif markers:
                break  # a blank line ends the markers that belong to this block
            j -= 1
        blocks.append(Block(path.name, start + 1, lang, "\n".join(body) + "\n", markers))
        i = end + 1
    return blocks


PAGES = sorted(DOCS.glob("*.md"))
BLOCKS = {p.name: parse(p) for p in PAGES}


def runnable(block: Block) -> bool:
    return block.lang == "python" and not any(
        block.marker(k) is not None for k in ("not run", "from:", "pytest"))


# -- the conventions themselves ---------------------------------------------------

def test_markers_are_known_and_sit_on_a_block():
    """A misspelled marker would silently run (or skip) a block: every marker
    comment in the docs is one of the known ones and stands right above a block."""
    problems = []
    for path in PAGES:
        lines = path.read_text(encoding="utf-8").splitlines()
        for n, line in enumerate(lines, 1):
            m = MARKER.match(line)
            if not m or not m["body"] or m["body"].startswith("-"):
                continue
            if not m["body"].startswith(KEYWORDS):
                continue
            rest = [ln for ln in lines[n:] if ln.strip()]
            nxt = next((ln for ln in rest if not MARKER.match(ln)), "")
            if not FENCE.match(nxt):
                problems.append(f"docs/{path.name}:{n}: marker {m['body']!r} is not above a block")
    for blocks in BLOCKS.values():
        for b in blocks:
            for marker in b.markers:
                if not marker.startswith(KEYWORDS):
                    problems.append(f"{b.where}: unknown marker {marker!r} (known: {KEYWORDS})")
            if b.marker("output of:") is not None and not b.marker("output of:").startswith("seqkit"):
                problems.append(f"{b.where}: 'output of:' needs a seqkit command")
    assert not problems, "\n".join(problems)


def test_not_run_is_used_sparingly():
    skipped = [b.where for bs in BLOCKS.values() for b in bs
               if b.lang == "python" and b.marker("not run") is not None]
    assert len(skipped) <= 6, f"most examples should run; not run: {skipped}"


# -- python blocks ------------------------------------------------------------------

RUN_PAGES = [p for p, bs in BLOCKS.items() if any(runnable(b) for b in bs)]


@pytest.mark.parametrize("page", RUN_PAGES)
def test_python_examples_run(page, monkeypatch):
    """The page's python blocks, in order, in one namespace. Line numbers in a
    traceback are the Markdown file's, so a failure points at the doc."""
    monkeypatch.chdir(ROOT)
    saved_path = list(sys.path)
    namespace = {"__name__": f"docs_{Path(page).stem.replace('-', '_')}"}
    try:
        for block in BLOCKS[page]:
            if runnable(block):
                code = "\n" * (block.line - 1) + block.text
                exec(compile(code, str(DOCS / page), "exec"), namespace)
    finally:
        sys.path[:] = saved_path


EXCERPTS = [pytest.param(b, id=b.where) for bs in BLOCKS.values() for b in bs
            if b.marker("from:") is not None]


@pytest.mark.parametrize("block", EXCERPTS)
def test_excerpts_are_verbatim(block):
    source = ROOT / block.marker("from:")
    assert source.is_file(), f"{block.where}: no file {block.marker('from:')}"
    text = source.read_text(encoding="utf-8")
    missing = [ln for ln in block.text.splitlines() if ln.strip() and ln not in text]
    assert block.text.rstrip("\n") in text, (
        f"{block.where} is not a verbatim excerpt of {block.marker('from:')}; "
        f"lines not found there: {missing[:3]}")


PYTEST_BLOCKS = [pytest.param(b, id=b.where) for bs in BLOCKS.values() for b in bs
                 if b.marker("pytest") is not None]


@pytest.mark.parametrize("block", PYTEST_BLOCKS)
def test_test_files_shown_in_the_docs_pass(block, tmp_path):
    (tmp_path / "test_from_docs.py").write_text(block.text)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--rootdir", str(tmp_path), str(tmp_path / "test_from_docs.py")],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**_env(), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert r.returncode == 0, f"{block.where}:\n{r.stdout}\n{r.stderr}"


# -- quoted command output ------------------------------------------------------------

OUTPUTS = [pytest.param(b, id=f"{b.where} {b.marker('output of:')}")
           for bs in BLOCKS.values() for b in bs if b.marker("output of:") is not None]


def _env(extra_path: str | None = None, plugins=()) -> dict:
    """The environment of a fresh ``seqkit``: no SEQKIT_* settings of the caller,
    the bundled plugins (and ``plugins``) only, click's help at 80 columns."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQKIT_")}
    env.update(COLUMNS="80", SEQKIT_LOAD_PLUGINS=",".join((*BUNDLED, *plugins)))
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra_path, env.get("PYTHONPATH")]))
    return env


def _install_fixtures(modules: list[str], where: Path) -> str:
    """Fixture packages as installed distributions (dist-info beside, package in
    tests/plugins_fixtures), as tests/conftest.py's ``install_fixture`` does."""
    for module in modules:
        if not (FIXTURES / module).is_dir():
            raise AssertionError(f"no fixture plugin {module!r} in tests/plugins_fixtures")
        dist = module.replace("_", "-")
        info = where / f"{module}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
        (info / "entry_points.txt").write_text(
            f"[seqkit]\n{module.removeprefix('seqkit_')} = {module}\n")
    return os.pathsep.join([str(where), str(FIXTURES)])


#: run in a fresh process per set of fixture plugins: every command of the set
#: through ``seqkit.cli.main``'s own code path (as ``python -m seqkit`` runs it),
#: output captured, so a page's quoted outputs cost one interpreter, not one each
DRIVER = """
import contextlib, io, json, sys
from seqkit.cli import cli
results = {}
for args in json.loads(sys.argv[1]):
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(args, prog_name="seqkit")
        except SystemExit as e:
            code = e.code or 0
    results[" ".join(args)] = [code, out.getvalue(), err.getvalue()]
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def cli_outputs(tmp_path_factory):
    """``(fixtures, command) -> (exit code, stdout, stderr)`` for every quoted command."""
    groups: dict[tuple, list] = {}
    for param in OUTPUTS:
        command, _, fixtures = param.values[0].marker("output of:").partition(" with ")
        groups.setdefault(tuple(fixtures.split()), []).append(command.split()[1:])
    results = {}
    for modules, commands in groups.items():
        where = tmp_path_factory.mktemp("fixtures")
        path = _install_fixtures(list(modules), where) if modules else None
        env = _env(path, [m.removeprefix("seqkit_") for m in modules])
        r = subprocess.run([sys.executable, "-c", DRIVER, json.dumps(commands)], capture_output=True,
                           text=True, env=env, cwd=where, timeout=300)
        assert r.returncode == 0, r.stderr
        for command, result in json.loads(r.stdout).items():
            results[modules, command] = result
    return results


@pytest.mark.parametrize("block", OUTPUTS)
def test_quoted_output_is_what_the_command_prints(block, cli_outputs):
    command, _, fixtures = block.marker("output of:").partition(" with ")
    code, stdout, stderr = cli_outputs[tuple(fixtures.split()), " ".join(command.split()[1:])]
    assert code == 0, f"{block.where}: {command} failed:\n{stderr}"
    shown = block.text.splitlines()
    if shown and shown[0].startswith("$ "):
        assert shown[0] == f"$ {command}", f"{block.where}: the prompt line is not {command!r}"
        shown = shown[1:]
    got = [ln.rstrip() for ln in stdout.splitlines()]
    assert [ln.rstrip() for ln in shown] == got, (
        f"{block.where}: the docs show something else than `{command}` prints. It prints:\n"
        + textwrap.indent(stdout, "    "))
