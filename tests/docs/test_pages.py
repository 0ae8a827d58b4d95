"""Every page of the documentation site: its Python examples run with their asserted results, and its
``torchbricks ...`` command examples run and succeed.

A page's Python blocks run in order, in one namespace per page, in a temporary working folder (files a
page writes land there, and its command examples see them). A block preceded by ``<!-- no-test -->``
(optionally ``<!-- no-test: why -->``) is skipped: installs, long trainings, hypothetical packs.
Pages tested elsewhere are listed in :data:`TESTED_ELSEWHERE` with the test that runs them.
"""

from __future__ import annotations

import contextlib
import io
import linecache
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from torchbricks.cli import main as torchbricks_main

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

NO_TEST = re.compile(r"<!-- no-test(?::[^>]*)? -->\s*$")
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<language>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S
)

TESTED_ELSEWHERE = {
    "migrating-from-torchbricks.md": "tests/compat/test_migration_guide.py",
}
"""Pages whose examples another test runs (it owns their fixtures); this module checks that test exists."""

SLOW_PAGES = frozenset({"training.md"})
"""Pages whose examples train: marked slow (still run in CI)."""


@dataclass(frozen=True)
class Block:
    language: str
    code: str
    line: int
    skipped: bool


def blocks(text: str) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order, each with whether a no-test marker precedes it."""
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        indent = match.group("indent")
        body = "\n".join(
            line[len(indent) :] if line.startswith(indent) else line for line in match.group("body").splitlines()
        )
        found.append(
            Block(
                match.group("language"),
                body + "\n",
                text.count("\n", 0, match.start()) + 1,
                bool(NO_TEST.search(before)),
            )
        )
    return found


def command_lines(code: str) -> list[list[str]]:
    """The ``torchbricks`` commands of a bash/console block, as argument lists (comments and ``$ `` prompts dropped)."""
    commands = []
    for line in code.splitlines():
        line = line.strip().removeprefix("$ ")
        if line.startswith("torchbricks "):
            commands.append(shlex.split(line, comments=True)[1:])
    return commands


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def page_id(page: Path) -> str:
    return page.relative_to(DOCS).as_posix()


def page_params() -> list[object]:
    params = []
    for page in pages():
        if page_id(page) in TESTED_ELSEWHERE:
            continue  # its own test runs it (see test_pages_tested_elsewhere_have_their_test)
        marks = [pytest.mark.slow] if page_id(page) in SLOW_PAGES else []
        params.append(pytest.param(page, id=page_id(page), marks=marks))
    return params


@pytest.mark.parametrize("page", page_params())
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"docs.{page.stem}"}
    for block in blocks(page.read_text(encoding="utf-8")):
        if block.skipped:
            continue
        where = f"{page_id(page)}:{block.line}"
        if block.language == "python":
            linecache.cache[where] = (len(block.code), None, block.code.splitlines(True), where)  # tracebacks show it
            exec(compile(block.code, where, "exec"), namespace)
        elif block.language in {"bash", "console", "shell", "sh"}:
            for arguments in command_lines(block.code):
                output = io.StringIO()
                with contextlib.redirect_stdout(output):
                    code = torchbricks_main(arguments)
                assert code == 0, f"{where}: `torchbricks {shlex.join(arguments)}` exited {code}:\n{output.getvalue()}"
                assert output.getvalue().strip(), f"{where}: `torchbricks {shlex.join(arguments)}` printed nothing"


def test_every_page_has_a_tested_example() -> None:
    untested = [
        page_id(page)
        for page in pages()
        if page_id(page) not in TESTED_ELSEWHERE
        and not any(
            block.language == "python" or command_lines(block.code)
            for block in blocks(page.read_text())
            if not block.skipped
        )
        and "<!-- generated:" not in page.read_text()
    ]
    assert untested == []


def test_blocks_finds_fences_and_no_test_markers() -> None:
    text = (
        "a\n\n```python\nx = 1\n```\n\n<!-- no-test: needs a GPU -->\n```bash\ntorchbricks demo\n```\n\n"
        "1. step\n   ```python\n   y = 2\n   ```\n"
    )

    found = blocks(text)

    assert [(block.language, block.code, block.skipped) for block in found] == [
        ("python", "x = 1\n", False),
        ("bash", "torchbricks demo\n", True),
        ("python", "y = 2\n", False),
    ]
    assert command_lines("$ torchbricks list heads --json  # as JSON\npip install x\n") == [["list", "heads", "--json"]]


def test_pages_tested_elsewhere_have_their_test() -> None:
    for page, test in TESTED_ELSEWHERE.items():
        assert (ROOT / "docs" / page).is_file() or any(page_id(path) == page for path in pages()), page
        assert (ROOT / test).is_file(), test
