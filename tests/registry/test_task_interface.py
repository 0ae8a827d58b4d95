"""A task's interface (which features the assembler gives it) in its registry entry, as ``torchbricks info`` shows it.

A task's ``@task_kind`` declaration is the entry's :class:`TaskInterface`: read from source while listing
(nothing imported), filled from the factory when loaded, registered by hooks and kept in the registry cache.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint, EntryPoints
from pathlib import Path

import pytest

from torchbricks import registry
from torchbricks.cli import main as torchbricks_main
from torchbricks.errors import InvalidBrickError
from torchbricks.features import FeatureSpec, TaskInterface, task_kind
from torchbricks.registry import BrickEntry, BrickRegistrar
from torchbricks.registry import _cache as cache
from torchbricks.registry import _discovery as discovery
from torchbricks.registry import _source_inspection as source_inspection

TASK_INTERFACES = {
    "image_classification": {"feature_kind": "global", "max_stride": None},
    "semantic_segmentation": {"feature_kind": "dense", "max_stride": 16},
    "point_detection": {"feature_kind": "dense", "max_stride": 8},
}


def _info_interface(name: str) -> dict:
    """The interface ``torchbricks info tasks NAME --json`` prints."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert torchbricks_main(["info", "tasks", name, "--json"]) == 0
    return json.loads(output.getvalue())["interface"]


@pytest.mark.parametrize("name", sorted(TASK_INTERFACES))
def test_a_task_entry_has_the_interface_that_info_shows(name: str) -> None:
    assert _info_interface(name) == TASK_INTERFACES[name]
    entry = registry.get_entry("tasks", name)
    assert entry.interface is not None
    assert entry.to_dict()["interface"] == TASK_INTERFACES[name]  # what `torchbricks list --json` prints


def test_task_interfaces_are_listed_without_importing_the_task_module() -> None:
    """Like a backbone's ``@declare_features``, a task's ``@task_kind`` is read from its source."""
    script = textwrap.dedent(
        """
        import json, sys
        from torchbricks import registry
        interfaces = {e.name: e.to_dict()["interface"] for e in registry.list_bricks("tasks", pack="torchbricks")}
        print(json.dumps({"imported": "bag_of_bricks.tasks" in sys.modules, "interfaces": interfaces}))
        """
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(completed.stdout.splitlines()[-1])
    assert result["imported"] is False
    for name, interface in TASK_INTERFACES.items():
        assert result["interfaces"][name] == interface, name


# --- the registry's parts, in-process -----------------------------------------------------------------------


_PLUGIN = '''
from torchbricks.features import FeatureSpec, TaskInterface, task_kind
from torchbricks.registry import hookimpl

HOOK_RUNS = []


@task_kind("dense", max_stride=8)
def dense_task(num_classes: int = 2) -> dict:
    """A dense task."""
    return {}


@hookimpl
def torchbricks_register_bricks(registrar):
    HOOK_RUNS.append(1)
    registrar.add("tasks", "callable_task", dense_task)
    registrar.add("tasks", "source_task", "MODULE:dense_task")
    registrar.add("tasks", "given_task", "MODULE:dense_task", interface=TaskInterface("global"))
    registrar.add("tasks", "dict_task", lambda: {}, interface={"feature_kind": "dense", "max_stride": 16})
    registrar.add("tasks", "undeclared_task", lambda: {})
    registrar.add("backbones", "net", lambda: {}, interface=FeatureSpec(("c5",), (8,), (32,)))
'''

HOOK_INTERFACES = {
    "callable_task": {"feature_kind": "dense", "max_stride": 8},
    "source_task": {"feature_kind": "dense", "max_stride": 8},
    "given_task": {"feature_kind": "global", "max_stride": None},
    "dict_task": {"feature_kind": "dense", "max_stride": 16},
    "undeclared_task": {"feature_kind": "global", "max_stride": None},
    "net": {"names": ["c5"], "channels": [8], "strides": [32]},
}


def _module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> str:
    """A module ``name`` with ``source`` on ``sys.path`` (found by source inspection without importing it)."""
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    source_inspection.clear_caches()
    return name


def test_hook_registered_task_interfaces_survive_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHBRICKS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("TORCHBRICKS_NO_CACHE", raising=False)
    module = _module(tmp_path, monkeypatch, "tbtest_task_plugin", _PLUGIN.replace("MODULE", "tbtest_task_plugin"))
    selection = discovery._Selection(EntryPoints([EntryPoint("plugin", module, "torchbricks")]), None)

    fresh, cached = discovery.Discovery(), discovery.Discovery()
    discovery._discover_plugins(fresh, selection, use_cache=True)
    discovery._discover_plugins(cached, selection, use_cache=True)

    assert len(sys.modules[module].HOOK_RUNS) == 1  # the second listing read the cache
    assert cache.valid_plugins(cache.read_cache(cache.environment_fingerprint()))
    for found in (fresh, cached):
        assert {entry.name: entry.to_dict()["interface"] for entry in found.entries} == HOOK_INTERFACES
    by_name = {entry.name: entry for entry in cached.entries}
    assert by_name["dict_task"].interface == TaskInterface("dense", max_stride=16)
    assert isinstance(by_name["net"].interface, FeatureSpec)
    by_name["callable_task"].load()  # the cached entry runs the plugin for its factory; the interface stays
    assert by_name["callable_task"].interface == TaskInterface("dense", max_stride=8)


def test_the_cache_refuses_task_interfaces_of_the_wrong_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHBRICKS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TORCHBRICKS_NO_CACHE", raising=False)
    fingerprint = "t" * 64
    task = {"kind": "tasks", "name": "seg", "target": "m:f", "summary": "", "signature": "()"}
    good = {"feature_kind": "dense", "max_stride": 16}
    plugins = {"pack:plugin": {"hooks": ["torchbricks_register_bricks"], "entries": [{**task, "interface": good}]}}
    cache.write_cache(fingerprint, plugins)
    assert cache.read_cache(fingerprint) == plugins
    bad_interfaces = [
        {"feature_kind": "sparse", "max_stride": None},
        {"feature_kind": "dense", "max_stride": 0},
        {"feature_kind": "dense", "max_stride": True},
        {"feature_kind": "dense", "max_stride": "16"},
        {"feature_kind": "dense"},
        {**good, "extra": 1},
        {"names": ["c5"], "channels": [8], "strides": [32]},  # a FeatureSpec is no task's interface
    ]
    for bad in bad_interfaces:
        cache.write_cache(fingerprint, {"pack:plugin": {"hooks": [], "entries": [{**task, "interface": bad}]}})
        assert cache.read_cache(fingerprint) == {}, bad
    backbone = {**task, "kind": "backbones", "interface": good}  # nor is a task's interface a backbone's
    cache.write_cache(fingerprint, {"pack:plugin": {"hooks": [], "entries": [backbone]}})
    assert cache.read_cache(fingerprint) == {}


def test_task_kind_is_read_from_source_in_every_literal_form(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = textwrap.dedent(
        """
        import torchbricks
        from torchbricks import features
        from torchbricks.features import task_kind
        STRIDE = 8

        @task_kind("dense", 8)
        def positional(): ...

        @features.task_kind(feature_kind="dense", max_stride=16)
        def keywords(): ...

        @torchbricks.task_kind("global")
        class ClassTask: ...

        @task_kind("dense", max_stride=STRIDE)
        def not_a_literal(): ...

        @task_kind("sparse")
        def invalid_kind(): ...

        @task_kind("dense", max_stride=0)
        def invalid_stride(): ...

        @task_kind("dense", 8, max_stride=8)
        def twice(): ...

        @task_kind(max_stride=8)
        def no_kind(): ...

        def undeclared(): ...
        """
    )
    module = _module(tmp_path, monkeypatch, "tbtest_task_sources", source)
    expected = {
        "positional": TaskInterface("dense", 8),
        "keywords": TaskInterface("dense", 16),
        "ClassTask": TaskInterface("global"),
        **dict.fromkeys(("not_a_literal", "invalid_kind", "invalid_stride", "twice", "no_kind", "undeclared")),
    }
    read = {name: source_inspection.describe_target(f"{module}:{name}", "tasks")[2] for name in expected}
    assert read == expected
    assert source_inspection.describe_target(f"{module}:positional", "heads")[2] is None  # only tasks have one
    assert module not in sys.modules


def test_loading_a_task_entry_fills_its_interface_from_the_factory() -> None:
    @task_kind("dense", max_stride=4)
    def declared() -> dict:
        return {}

    def undeclared() -> dict:
        return {}

    def hand_marked() -> dict:
        return {}

    hand_marked.feature_kind = "sparse"  # not what task_kind allows: unknown, and loading still works

    interfaces = {}
    for factory in (declared, undeclared, hand_marked):
        entry = BrickEntry(
            "tasks", factory.__name__, "my-pack", "1.0", "m:f", "entry-point", loader=lambda f=factory: f
        )
        assert entry.interface is None
        assert entry.load() is factory
        interfaces[factory.__name__] = entry.interface
    assert interfaces == {
        "declared": TaskInterface("dense", 4),
        "undeclared": TaskInterface("global"),  # what the assembler gives a task that declares nothing
        "hand_marked": None,
    }


def test_the_registrar_takes_task_interfaces_and_refuses_others_naming_the_field() -> None:
    registrar = BrickRegistrar(pack="my-pack", version="1.0", plugin="my-pack:plugin")
    numpy_like_stride = type("Stride", (), {"__index__": lambda self: 16})()
    registrar.add("tasks", "given", lambda: {}, interface={"feature_kind": "dense", "max_stride": numpy_like_stride})
    registrar.add("tasks", "from_source", "bag_of_bricks.tasks:point_detection")
    assert [entry.interface for entry in registrar.entries] == [TaskInterface("dense", 16), TaskInterface("dense", 8)]
    hand_marked = lambda: {}  # noqa: E731
    hand_marked.max_stride = -1
    cases = [
        ({"interface": FeatureSpec(("c5",), (8,), (32,))}, "invalid interface: expected a torchbricks.features.Task"),
        ({"interface": {"feature_kind": "sparse"}}, "invalid interface: feature_kind must be one of"),
        ({"interface": {"feature_kind": "dense", "max_stride": 2.5}}, "max_stride must be a positive integer"),
        ({"interface": TaskInterface("dense"), "factory": hand_marked}, None),
        ({"factory": hand_marked}, "invalid task_kind declaration: max_stride must be a positive integer or None"),
    ]
    for keywords, message in cases:
        factory = keywords.pop("factory", lambda: {})
        if message is None:  # a given interface wins over the factory's attributes
            registrar.add("tasks", "explicit", factory, **keywords)
            continue
        with pytest.raises(InvalidBrickError, match="Pack 'my-pack' registers tasks 'tiny'") as raised:
            registrar.add("tasks", "tiny", factory, **keywords)
        assert message in str(raised.value), keywords
    with pytest.raises(InvalidBrickError, match="registers backbones 'net' with an invalid interface: expected a "):
        registrar.add("backbones", "net", lambda: {}, interface=TaskInterface("global"))


def test_task_interface_round_trips_and_validates() -> None:
    interface = TaskInterface("dense", max_stride=8)
    assert TaskInterface.from_dict(json.loads(json.dumps(interface.to_dict()))) == interface
    assert TaskInterface.from_dict({"feature_kind": "global"}) == TaskInterface("global", None)
    for feature_kind, max_stride, culprit in (("sparse", None, "feature_kind"), ("dense", 0, "max_stride")):
        with pytest.raises(ValueError, match=culprit):
            TaskInterface(feature_kind, max_stride)
    with pytest.raises(ValueError, match="max_stride must be a positive integer or None, got 'eight'"):
        task_kind("dense", max_stride="eight")  # type: ignore[arg-type]
