"""The shape of the package: one public API, seed import paths, no core → pack imports, no import cycles."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import torchbricks

CORE = Path(torchbricks.__file__).parent


def _core_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(CORE.rglob("*.py")):
        parts = path.relative_to(CORE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Every torchbricks module ``name`` imports anywhere in its source (functions and TYPE_CHECKING included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                if candidate in known:
                    found.add(candidate)
                elif base == "torchbricks" and alias.name in torchbricks._LAZY_ATTRIBUTES:
                    found.add(torchbricks._LAZY_ATTRIBUTES[alias.name])
                else:
                    found.add(base)
    return {module for module in found if module in known and module != name}


def test_the_core_never_imports_a_pack() -> None:
    offenders = []
    for name, path in _core_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{name} imports {module}"
                for module in names
                if module.split(".")[0] in ("bag_of_bricks", "timm", "torchbricks_timm")
            ]
    assert offenders == []


def test_no_import_cycle_between_core_modules() -> None:
    modules = _core_modules()
    known = set(modules)
    graph = {name: _imported_modules(name, path, known) for name, path in modules.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for dependency in sorted(graph[module]):
            if dependency.startswith(module + "."):
                continue  # a package re-exporting its own submodules is its public face, not a cycle
            if state.get(dependency) == 1:
                cycles.append([*stack[stack.index(dependency) :], dependency])
            elif dependency not in state:
                visit(dependency)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == []


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (
            "torchbricks.bricks",
            ["BrickInterface", "BrickLoss", "BrickMetricSingle", "BrickNotTrainable", "BrickTrainable"],
        ),
        ("torchbricks.brick_collection", ["BrickCollection"]),
        ("torchbricks.brick_collection_utils", ["export_bricks_as_onnx"]),
        ("torchbricks.graph_plotter", ["create_mermaid_dag_graph"]),
        (
            "torchbricks.tensor_conversions",
            ["float2uint8", "function_composer", "torch_to_numpy", "unpack_batched_tensor_to_pillow_images"],
        ),
        ("torchbricks.bag_of_bricks.brick_visualizer", ["BrickPerImageVisualization"]),
        ("torchbricks.bag_of_bricks.backbones", ["resnet_to_brick"]),
        ("torchbricks.bag_of_bricks.image_classification", ["ImageClassifier"]),
        ("torchbricks.bag_of_bricks.preprocessors", ["Preprocessor"]),
        ("bag_of_bricks.brick_visualizer", ["BrickPerImageVisualization"]),
        ("bag_of_bricks.image_classification", ["ImageClassifier"]),
    ],
)
def test_every_seed_import_path_works_without_a_warning(module: str, names: list[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        imported = importlib.import_module(module)
        for name in names:
            assert callable(getattr(imported, name)), f"{module}.{name}"


def test_the_seed_paths_give_the_same_objects_as_the_public_api() -> None:
    from torchbricks.bag_of_bricks.brick_visualizer import BrickPerImageVisualization
    from torchbricks.brick_collection import BrickCollection
    from torchbricks.brick_collection_utils import export_bricks_as_onnx
    from torchbricks.graph_plotter import create_mermaid_dag_graph

    assert BrickCollection is torchbricks.BrickCollection
    assert export_bricks_as_onnx is torchbricks.export_bricks_as_onnx
    assert create_mermaid_dag_graph is torchbricks.create_mermaid_dag_graph
    assert BrickPerImageVisualization is torchbricks.BrickPerImageVisualization


def test_registry_plugins_is_a_deprecated_name_of_packs() -> None:
    from torchbricks import registry

    with pytest.warns(FutureWarning, match=r"registry\.plugins moved to torchbricks\.registry\.packs"):
        old = registry.plugins()
    assert [pack.name for pack in old] == [pack.name for pack in registry.packs()]


def test_every_public_name_imports_from_the_top_level_and_is_listed_in_all() -> None:
    for name in torchbricks.__all__:
        assert getattr(torchbricks, name) is not None, name
    for name in (
        "build_model",
        "load_model",
        "save_model",
        "assemble_model",
        "export_bricks",
        "to_mermaid",
        "to_dot",
        "FeatureSpec",
        "declare_features",
        "task_kind",
        "BrickPerImageVisualization",
        "save_bricks",
        "load_bricks",
    ):
        assert name in torchbricks.__all__
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        torchbricks.not_a_name  # noqa: B018


def test_the_registry_exports_no_internals() -> None:
    from torchbricks import registry

    assert not {"argument_problems", "check_arguments", "parameter_names"} & set(registry.__all__)
    assert all(not name.startswith("_") for name in registry.__all__)


def test_import_torchbricks_loads_neither_torch_torchvision_nor_timm() -> None:
    code = (
        "import sys, torchbricks, torchbricks.registry, torchbricks.cli, torchbricks.features;"
        "heavy = ('torch', 'torchvision', 'timm', 'torchmetrics', 'bag_of_bricks');"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_the_cli_uses_only_the_public_faces_of_the_registry_and_the_core() -> None:
    for path in (CORE / "cli").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("torchbricks"):
                private = [part for part in node.module.split(".") if part.startswith("_")]
                inside_cli = node.module.startswith("torchbricks.cli.")
                assert not private or inside_cli, f"{path.name} imports {node.module}"


def test_only_the_assembly_imports_its_private_modules() -> None:
    root = CORE.parent
    paths = [path for path in CORE.rglob("*.py") if not path.is_relative_to(CORE / "assembly")]
    paths += [*(root / "bag_of_bricks").rglob("*.py"), *root.glob("plugins/*/**/*.py"), root / "docs" / "hooks.py"]
    offenders = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            offenders += [
                f"{path.relative_to(root)} imports {module}"
                for module in modules
                if module.startswith("torchbricks.assembly._")
            ]
    assert len(paths) > 50
    assert offenders == []


def _python_blocks(path: Path) -> list[str]:
    import re

    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


DOCUMENTED_PAGES = [
    Path(__file__).resolve().parents[2] / "README.md",
    *(  # the migration guide shows the original package's import paths on purpose
        page
        for page in sorted((Path(__file__).resolve().parents[2] / "docs").glob("**/*.md"))
        if not page.name.startswith("migrating")
    ),
]


@pytest.mark.parametrize("page", DOCUMENTED_PAGES, ids=lambda path: path.name)
def test_the_readme_and_docs_import_only_public_names(page: Path) -> None:
    """Examples use the public faces (``torchbricks``, its registry, training, assembly, pretrained, inference,
    evaluation and errors) and
    ``bag_of_bricks`` (the migration guide: old paths)."""
    offenders = []
    for block in _python_blocks(page):
        try:
            tree = ast.parse(block)
        except SyntaxError:  # a fragment (e.g. a signature) is not code to import from
            continue
        for node in ast.walk(tree):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            for module in modules:
                public = (
                    "torchbricks",
                    "torchbricks.registry",
                    "torchbricks.training",
                    "torchbricks.assembly",
                    "torchbricks.pretrained",
                    "torchbricks.inference",
                    "torchbricks.evaluation",
                    "torchbricks.errors",
                )
                if module.startswith("torchbricks") and module not in public:
                    offenders.append(module)
    assert offenders == []
