"""The README's Python examples run, in order, in one namespace (they assert their own results)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_has_examples() -> None:
    assert len(python_blocks(README.read_text())) >= 5


def test_readme_examples_run() -> None:
    namespace: dict[str, object] = {"__name__": "readme"}
    for number, block in enumerate(python_blocks(README.read_text()), start=1):
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)


def test_quickstart_holds_exactly_two_commands() -> None:
    quickstart = README.read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", quickstart, flags=re.DOTALL)
    assert len(commands) == 2
    assert "torchbricks demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command() -> None:
    quickstart = README.read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    test_command = re.findall(r"```bash\n(.*?)```", quickstart, flags=re.DOTALL)[1].strip()
    ci_script = (README.parent / ".ci" / "run").read_text()
    assert test_command in ci_script.splitlines()
