"""The migration guide: its Python examples run, and its tables give every original public name a status.

The tables are the closing list of the compatibility work: each original name is *Supported* or
*Changed* (importable from its original path) or *Dropped* (not importable; a replacement is named).
"""

from __future__ import annotations

import importlib
import re
import warnings
from pathlib import Path

import pytest
from torch import nn

from tests.compat.original_api import BRICK_METHODS_DROPPED, DROPPED, DROPPED_MODULES, SUPPORTED
from torchbricks.bricks import BrickTrainable

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "migrating-from-torchbricks.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def table_rows(text: str) -> list[tuple[str, str]]:
    """``(first cell, last cell)`` of every table row of the guide (header and separator rows left out)."""
    rows = []
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) >= 3 and cells[0] not in ("Original name", "---"):
            rows.append((cells[0], cells[-1]))
    return rows


def statuses_of(name: str) -> list[str]:
    """The status cells of the rows whose first cell names ``name`` (bare, or after a module or class prefix)."""
    pattern = re.compile(rf"`(?:[\w.]+\.)?{re.escape(name)}(?:\(.*?\))?`")
    return [status.split()[0].rstrip(":") for first, status in table_rows(GUIDE.read_text()) if pattern.search(first)]


def test_the_guide_has_examples_and_they_all_run() -> None:
    blocks = python_blocks(GUIDE.read_text())
    assert len(blocks) >= 4
    namespace: dict[str, object] = {"__name__": "migration_guide"}
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"migrating-from-torchbricks.md python block {number}", "exec"), namespace)


@pytest.mark.parametrize(("module", "name"), [(module, name) for module, names in SUPPORTED.items() for name in names])
def test_every_supported_name_imports_from_its_original_path_and_the_guide_says_how(module: str, name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        imported = importlib.import_module(module)
    assert getattr(imported, name) is not None
    assert set(statuses_of(name)) & {"Supported", "Changed"}, f"no Supported/Changed row for {name}"


@pytest.mark.parametrize(
    ("module", "name"),
    [(module, name) for table in (DROPPED, DROPPED_MODULES) for module, names in table.items() for name in names],
)
def test_every_dropped_name_is_absent_and_the_guide_names_a_replacement(module: str, name: str) -> None:
    try:
        imported = importlib.import_module(module)
    except ModuleNotFoundError:
        pass
    else:
        assert not hasattr(imported, name), f"{module}.{name} exists but the guide calls it dropped"
    assert "Dropped" in statuses_of(name), f"no Dropped row for {name}"


@pytest.mark.parametrize("attribute", BRICK_METHODS_DROPPED)
def test_dropped_brick_methods_are_absent_and_listed(attribute: str) -> None:
    brick = BrickTrainable(nn.Identity(), input_names=["x"], output_names=["y"])
    assert not hasattr(brick, attribute)
    assert "Dropped" in statuses_of(attribute)


def test_every_behavioural_difference_gives_a_reason_section() -> None:
    text = GUIDE.read_text()
    differences = text.split("## Behavioural differences", 1)[1].split("\n## ", 1)[0]
    numbered = re.findall(r"^\d+\. \*\*(.+?)\*\*", differences, flags=re.MULTILINE)
    assert len(numbered) >= 10
    for topic in ("topological", "safetensors", "summarize", "__all__", "Typed errors", "Per-image"):
        assert any(topic.lower() in item.lower() for item in numbered), topic
