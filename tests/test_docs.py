"""The docs stay true: the README's Python example runs, and its two commands
are the ones .ci/run runs."""
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_readme_python_example_runs():
    readme = (ROOT / "README.md").read_text()
    code = re.search(r"## The layers from Python\n\n```python\n(.*?)```", readme, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Set up and test.*?```bash\n(.*?)```", readme, re.S).group(1)
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text()
    for command in commands:
        assert command in ci
