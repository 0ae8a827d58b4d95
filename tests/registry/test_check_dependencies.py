"""``packs --check`` tells the truth about bricks whose dependency is not installed.

A brick that cannot be imported because a module it needs is missing gets its own status, ``missing
dependency``, with the module and the ``pip install`` hint, and ``--strict`` fails on it; a pack opts a
brick out explicitly (entry-point group ``torchbricks.optional_extras``, or ``registrar.add(...,
optional=True)``). The packs are real: built with hatchling and pip-installed into a throwaway environment.
"""

from __future__ import annotations

import json

import pytest

from tests.helpers import packs
from torchbricks.errors import InvalidBrickError
from torchbricks.registry import OPTIONAL_EXTRAS_GROUP, BrickRegistrar

_HEAD = '''
{imports}

def {name}(num_classes: int = 2) -> int:
    """{summary}"""
    return num_classes
'''

DEPS = packs.PackSource(
    name="tbcheck-deps",
    version="1.2.0",
    files={
        "plain.py": _HEAD.format(imports="", name="plain_head", summary="Needs nothing."),
        "undeclared.py": _HEAD.format(
            imports="import tbcheck_missing_undeclared", name="undeclared_head", summary="Imports a missing module."
        ),
        "onnx_heads.py": _HEAD.format(
            imports="import tbcheck_missing_onnx", name="onnx_head", summary="Needs the onnx extra, not optional."
        ),
        "fancy_heads.py": _HEAD.format(
            imports="import tbcheck_missing_fancy", name="fancy_head", summary="Needs the Fancy extra, optional."
        ),
        "plugin.py": """
            from torchbricks.registry import hookimpl


            def metric(threshold: float = 0.5) -> float:
                return threshold


            @hookimpl
            def torchbricks_register_bricks(registrar):
                registrar.add("metrics", "hook_required_metric", metric, requires=["tbcheck_missing_required"])
                registrar.add(
                    "metrics", "hook_optional_metric", metric, requires=["tbcheck_missing_optional"], optional=True
                )
        """,
    },
    entry_points={
        "torchbricks.heads": {
            "plain_head": "tbcheck_deps.plain:plain_head",
            "undeclared_head": "tbcheck_deps.undeclared:undeclared_head",
            "onnx_head": "tbcheck_deps.onnx_heads:onnx_head [onnx]",
            "fancy_head": "tbcheck_deps.fancy_heads:fancy_head [Fancy]",
        },
        "torchbricks": {"plugin": "tbcheck_deps.plugin"},
        # The extra spelled differently on purpose: extras compare normalized, like pack names.
        OPTIONAL_EXTRAS_GROUP: {"fancy": "tbcheck_deps"},
    },
    optional_dependencies={"onnx": ["tbcheck-missing-onnx"], "Fancy": ["tbcheck-missing-fancy"]},
)
"""Two bricks whose missing dependency is a problem, two marked optional, one that loads."""

ONLY_OPTIONAL = packs.PackSource(
    name="tbcheck-only-optional",
    version="0.1.0",
    files={
        "heads.py": _HEAD.format(imports="import tbcheck_missing_gpu", name="gpu_head", summary="Optional."),
    },
    entry_points={
        "torchbricks.heads": {"gpu_head": "tbcheck_only_optional.heads:gpu_head [gpu]"},
        OPTIONAL_EXTRAS_GROUP: {"gpu": "tbcheck_only_optional"},
    },
    optional_dependencies={"gpu": ["tbcheck-missing-gpu"]},
)
"""Its only missing dependency is marked optional: the pack checks ``ok``."""

UNDECLARED = (
    "Brick heads 'tbcheck-deps:undeclared_head' (tbcheck_deps.undeclared:undeclared_head) needs the module "
    "'tbcheck_missing_undeclared', which is not installed; install it with: pip install tbcheck_missing_undeclared"
)
ONNX = (
    "Brick heads 'tbcheck-deps:onnx_head' (tbcheck_deps.onnx_heads:onnx_head) needs the module "
    "'tbcheck_missing_onnx', which is not installed; install it with: pip install 'tbcheck-deps[onnx]'"
)
REQUIRED = (
    "Brick metrics 'tbcheck-deps:hook_required_metric' needs the module 'tbcheck_missing_required', which is "
    "not installed; install it with: pip install tbcheck_missing_required"
)


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> packs.Environment:
    root = tmp_path_factory.mktemp("check-dependencies")
    installed = packs.Environment(root / "environment")
    installed.install(DEPS.write(root / "packs"), ONLY_OPTIONAL.write(root / "packs"))
    return installed


@pytest.fixture(scope="module")
def checked(environment: packs.Environment) -> dict[str, dict]:
    """``torchbricks packs --check --json`` of both packs, by pack name."""
    completed = environment.cli("packs", "--check", "--json")
    assert completed.returncode == 0, completed.stderr
    return {status["name"]: status for status in json.loads(completed.stdout)}


@pytest.mark.slow
def test_check_reports_each_brick_whose_dependency_is_missing_with_the_install_hint(checked: dict) -> None:
    status = checked["tbcheck-deps"]
    assert status["status"] == "missing dependency"
    assert status["errors"] == []
    assert status["missing_dependencies"] == [ONNX, UNDECLARED, REQUIRED]
    assert [line.split("'")[1] for line in status["optional_missing"]] == [
        "tbcheck-deps:fancy_head",
        "tbcheck-deps:hook_optional_metric",
    ]
    assert "pip install 'tbcheck-deps[Fancy]'" in status["optional_missing"][0]


@pytest.mark.slow
def test_a_pack_whose_only_missing_dependencies_are_marked_optional_checks_ok(checked: dict) -> None:
    status = checked["tbcheck-only-optional"]
    assert (status["status"], status["missing_dependencies"]) == ("ok", [])
    assert "needs the module 'tbcheck_missing_gpu'" in status["optional_missing"][0]
    assert checked["torchbricks"]["status"] == "ok"


@pytest.mark.slow
def test_the_table_and_stderr_name_the_brick_the_module_and_the_install(environment: packs.Environment) -> None:
    completed = environment.cli("packs", "--check", "--pack", "tbcheck-deps")
    assert completed.returncode == 0, completed.stderr
    header, row = [line.split("\t") for line in completed.stdout.splitlines()]
    status = dict(zip(header, row, strict=True))
    assert status["status"] == "missing dependency"
    assert status["problems"] == " | ".join([ONNX, UNDECLARED, REQUIRED])
    assert completed.stderr.splitlines() == [
        f"torchbricks packs: tbcheck-deps 1.2.0: {line}" for line in status["problems"].split(" | ")
    ]


@pytest.mark.slow
def test_strict_fails_on_a_missing_dependency_and_passes_on_an_optional_one(environment: packs.Environment) -> None:
    strict = environment.cli("packs", "--check", "--strict", "--pack", "tbcheck-deps")
    assert strict.returncode == 1
    assert strict.stderr.splitlines()[-1] == (
        "torchbricks packs (strict mode): 1 pack(s) have bricks with missing dependencies: tbcheck-deps"
    )
    optional = environment.cli("packs", "--check", "--strict", "--pack", "tbcheck-only-optional")
    assert optional.returncode == 0, optional.stderr
    assert optional.stderr == ""
    # Without --check nothing was imported: no claim either way.
    listed = environment.cli("packs", "--strict", "--pack", "tbcheck-deps", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["status"] == "unchecked"


@pytest.mark.slow
def test_the_optional_mark_is_part_of_each_entry_and_survives_the_cache(environment: packs.Environment) -> None:
    code = """
        from torchbricks import registry
        result = {entry.name: entry.optional for entry in registry.list_bricks(pack="tbcheck-deps")}
        """
    expected = {
        "fancy_head": True,
        "hook_optional_metric": True,
        "hook_required_metric": False,
        "onnx_head": False,
        "plain_head": False,
        "undeclared_head": False,
    }
    assert environment.evaluate(code) == expected  # hooks run: the cache is written
    assert environment.evaluate(code) == expected  # read from the cache
    assert list(environment.cache_dir.glob("plugins-*.json"))


@pytest.mark.slow
def test_the_api_check_fills_the_pack_status(environment: packs.Environment) -> None:
    result = environment.evaluate(
        """
        from torchbricks import registry
        status = next(s for s in registry.check("tbcheck-deps") if s.name == "tbcheck-deps")
        result = [status.status, status.missing_dependencies, len(status.optional_missing), status.checked]
        """
    )
    assert result == ["missing dependency", [ONNX, UNDECLARED, REQUIRED], 2, True]


def test_the_registrar_refuses_an_optional_that_is_not_a_boolean() -> None:
    registrar = BrickRegistrar(pack="my-pack", version="1.0", plugin="my-pack:plugin")
    with pytest.raises(InvalidBrickError) as raised:
        registrar.add("heads", "tiny", lambda: None, requires=["onnx"], optional="yes")
    assert str(raised.value) == (
        "Pack 'my-pack' registers heads 'tiny' with an invalid optional: expected True or False, got 'yes'"
    )
    registrar.add("heads", "tiny", lambda: None, requires=["onnx"], optional=True)
    assert registrar.entries[0].optional is True
    assert registrar.entries[0].to_dict()["optional"] is True


def test_pack_status_precedence_puts_errors_first_then_missing_dependencies() -> None:
    from torchbricks.registry import PackStatus

    missing = ["Brick heads 'p:h' needs the module 'x', which is not installed; install it with: pip install x"]
    assert PackStatus("p", "1", checked=True, missing_dependencies=missing).status == "missing dependency"
    assert PackStatus("p", "1", checked=True, missing_dependencies=missing, errors=["boom"]).status == "error"
    assert PackStatus("p", "1", checked=True, missing_dependencies=missing, clashes=["c"]).status == (
        "missing dependency"
    )
    assert PackStatus("p", "1", checked=True, optional_missing=missing).status == "ok"
    assert PackStatus("p", "1", checked=True).to_dict()["missing_dependencies"] == []
