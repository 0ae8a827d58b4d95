"""The compatibility wing: every old import path is served from one table, with one policy.

The seed README's paths import silently; every other old path warns once (``FutureWarning``) naming the
new place and the release that removes it; every name is the very object of its new place; no file of
the package is an old path, and nothing in the project imports one.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import torchbricks
from torchbricks._compat import resolve_place
from torchbricks._compat._table import HELPERS, OLD_ATTRIBUTES, OLD_PATHS, REMOVED_IN

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "migrating-from-torchbricks.md"

IMPORT_EACH_OLD_PATH = """
import json, sys, warnings
import torchbricks
from torchbricks._compat._table import OLD_PATHS
report = {}
for old in OLD_PATHS:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        __import__(old)
    report[old] = [
        {"category": w.category.__name__, "message": str(w.message), "filename": w.filename} for w in caught
    ]
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def warnings_of_each_old_path() -> dict[str, list[dict[str, str]]]:
    """Each old path imported in a fresh interpreter: the warnings its import gave."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH_OLD_PATH], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_an_old_path_warns_once_unless_it_is_the_seed_contract(
    old: str, warnings_of_each_old_path: dict[str, list[dict[str, str]]]
) -> None:
    caught = warnings_of_each_old_path[old]
    if OLD_PATHS[old].contract:
        assert caught == []
        return
    assert [w["category"] for w in caught] == ["FutureWarning"]
    message = caught[0]["message"]
    assert message.startswith(f"{old} is an old import path")
    assert f"goes in torchbricks {REMOVED_IN}" in message
    for place in OLD_PATHS[old].names.values():
        module = place.partition(":")[0]
        assert module == HELPERS or module in message, f"the warning does not name {module}"
    assert caught[0]["filename"] == "<string>", "the warning points into the import machinery, not at the importer"


@pytest.mark.parametrize("old", sorted(OLD_PATHS))
def test_every_name_of_an_old_path_is_the_object_of_its_new_place(old: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        module = importlib.import_module(old)
    for name, place in OLD_PATHS[old].names.items():
        if name == "*":
            source = importlib.import_module(place.partition(":")[0])
            assert source.__all__, place
            for each in source.__all__:
                assert getattr(module, each) is getattr(source, each), f"{old}.{each}"
        else:
            assert getattr(module, name) is resolve_place(place), f"{old}.{name}"
    assert sorted(module.__all__) == sorted(vars(module).keys() & set(module.__all__))
    with pytest.raises(AttributeError):
        module.surely_not_a_name  # noqa: B018


@pytest.mark.parametrize(
    ("module", "name"), [(module, name) for module, names in sorted(OLD_ATTRIBUTES.items()) for name in names]
)
def test_an_old_name_in_a_current_module_warns_and_gives_the_new_object(module: str, name: str) -> None:
    place = OLD_ATTRIBUTES[module][name]
    imported = importlib.import_module(module)
    assert name not in vars(imported), f"{module} still defines {name} itself"
    with pytest.warns(FutureWarning, match=rf"{re.escape(module)}\.{name} .*torchbricks {REMOVED_IN}"):
        value = getattr(imported, name)
    assert value is resolve_place(place)
    with pytest.raises(AttributeError, match="surely_not_a_name"):
        imported.surely_not_a_name  # noqa: B018


def test_a_module_with_old_names_keeps_its_source_for_inspect_and_doctest() -> None:
    import torchbricks.bricks

    assert "class BrickInterface" in inspect.getsource(torchbricks.bricks)


def test_a_module_imported_before_torchbricks_still_serves_its_old_names() -> None:
    code = (
        "import warnings, bag_of_bricks.tasks as tasks\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    kind = tasks.task_kind\n"
        "import torchbricks\n"
        "assert kind is torchbricks.task_kind and caught[0].category is FutureWarning, caught\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_no_file_of_the_package_is_an_old_path() -> None:
    files = [*sorted((ROOT / "torchbricks").rglob("*.py")), *sorted((ROOT / "bag_of_bricks").rglob("*.py"))]
    modules = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for path in files}
    assert modules & set(OLD_PATHS) == set()


def test_the_top_level_of_the_core_holds_public_modules_private_ones_and_one_compat_place() -> None:
    core = ROOT / "torchbricks"
    top = sorted(path.stem for path in core.glob("*.py") if path.stem != "__init__")
    public = [name for name in top if not name.startswith("_")]
    public_faces = {module.split(".")[1] for module in torchbricks._PUBLIC_BY_MODULE} | set(torchbricks._SUBMODULES)
    documented = {"errors", "suggestions", "names", "groups", "bricks", "collection", "tensor_conversions"}
    assert set(public) <= public_faces | documented, set(public) - public_faces - documented
    packages = sorted(path.parent.name for path in core.glob("*/__init__.py"))
    assert [name for name in packages if "compat" in name] == ["_compat"]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_nothing_in_the_project_imports_an_old_path_or_the_compat_wing() -> None:
    sources = [
        *(ROOT / "torchbricks").rglob("*.py"),
        *(ROOT / "bag_of_bricks").rglob("*.py"),
        *(ROOT / "plugins").rglob("*.py"),
        *(ROOT / "examples").rglob("*.py"),
        ROOT / "docs" / "hooks.py",
    ]
    wing = ROOT / "torchbricks" / "_compat"
    offenders = []
    for path in sources:
        if path.is_relative_to(wing) or "tests" in path.parts:
            continue
        imported = _imports(path)
        old = imported & set(OLD_PATHS)
        if old:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(old)}")
        installs_the_finder = path == ROOT / "torchbricks" / "__init__.py"
        if not installs_the_finder and any(name.startswith("torchbricks._compat") for name in imported):
            offenders.append(f"{path.relative_to(ROOT)} imports the compat wing")
    assert offenders == []


def _guide_rows() -> dict[str, tuple[str, str]]:
    section = GUIDE.read_text().split("## Old import paths", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `"):
            rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def test_the_migration_guide_lists_every_old_path_with_its_policy() -> None:
    rows = _guide_rows()
    assert sorted(rows) == sorted([*OLD_PATHS, *(f"{m}.{n}" for m, names in OLD_ATTRIBUTES.items() for n in names)])
    for old, (now, on_import) in rows.items():
        path = OLD_PATHS.get(old)
        if path is not None and path.contract:
            assert on_import == "silent (seed README contract)", old
        else:
            assert on_import == f"`FutureWarning`, removed in {REMOVED_IN}", old
        module_name, _, name = old.rpartition(".")
        places = path.names.values() if path is not None else [OLD_ATTRIBUTES[module_name][name]]
        for place in places:
            module = place.partition(":")[0]
            assert module == HELPERS or module in now, f"{old}: the guide does not name {module}"
