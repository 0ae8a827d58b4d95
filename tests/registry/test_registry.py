"""The brick registries with real installed packs: listing, qualified names, errors, strict mode, cache.

Installed-pack tests run in subprocesses of throwaway environments (see :mod:`tests.helpers.packs`) where
the example pack and the fixture packs are pip-installed; bricks registered in the running program
(``register``) are tested in-process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import packs
from torchbricks import registry
from torchbricks.errors import (
    BrickArgumentError,
    DuplicateBrickError,
    RegistryError,
    UnknownBrickError,
    UnknownKindError,
)
from torchbricks.features import FeatureSpec, declare_features

FIXTURE_PACKAGES = (
    "torchbricks_example",
    "tbfixture_broken",
    "tbfixture_clash_a",
    "tbfixture_clash_b",
    "tbfixture_optional",
    "tbfixture_plugin",
    "tbfixture_duplicate",
)


def _error(environment: packs.Environment, call: str, **variables: str) -> dict[str, object]:
    """Run ``call`` (using ``registry``) in the environment; returns the exception's type, bases and message."""
    return environment.evaluate(
        f"""
        from torchbricks import registry
        try:
            {call}
        except Exception as error:
            result = {{"type": type(error).__name__, "bases": [c.__name__ for c in type(error).__mro__],
                       "message": str(error)}}
        else:
            result = None
        """,
        **variables,
    )


# --- listing --------------------------------------------------------------------------------------


def test_listing_shows_every_installed_brick_with_its_pack_and_version(full: packs.Environment) -> None:
    listed = full.evaluate(
        """
        from torchbricks import registry
        result = [[e.kind, e.name, e.pack, e.version, e.source, e.summary] for e in registry.list_bricks()]
        """
    )
    rows = {(kind, name, pack, version) for kind, name, pack, version, _, _ in listed}
    expected = {
        ("necks", "example_channel_mixer", "torchbricks-example", "0.1.0"),
        ("heads", "example_linear_head", "torchbricks-example", "0.1.0"),
        ("losses", "example_focal_loss", "torchbricks-example", "0.1.0"),
        ("visualizers", "example_label_overlay", "torchbricks-example", "0.1.0"),
        ("heads", "shared_head", "tbfixture-clash-a", "1.0.0"),
        ("heads", "shared_head", "tbfixture-clash-b", "2.0.0"),
        ("heads", "only_a_head", "tbfixture-clash-a", "1.0.0"),
        ("heads", "broken_head", "tbfixture-broken", "0.1.0"),
        ("heads", "fancy_head", "tbfixture-optional", "0.3.0"),
        ("losses", "plain_loss", "tbfixture-optional", "0.3.0"),
        ("backbones", "plugin_net_8", "tbfixture-plugin", "0.4.0"),
        ("backbones", "plugin_net_64", "tbfixture-plugin", "0.4.0"),
        ("heads", "plugin_head", "tbfixture-plugin", "0.4.0"),
        ("losses", "plugin_lazy_loss", "tbfixture-plugin", "0.4.0"),
        ("metrics", "plugin_needs_dependency", "tbfixture-plugin", "0.4.0"),
    }
    assert expected <= rows
    summaries = {(kind, name, pack): summary for kind, name, pack, _, _, summary in listed}
    assert summaries["heads", "shared_head", "tbfixture-clash-b"] == "Shared head of pack b."
    assert summaries["heads", "broken_head", "tbfixture-broken"] == "A head whose module fails to import."
    assert summaries["losses", "plugin_lazy_loss", "tbfixture-plugin"] == "A loss registered by its import path."
    # A hook that raises keeps none of its registrations.
    assert not any(name in ("half_registered_head", "unmarked_head") for _, name, *_ in listed)
    # Sorted by kind (registry order), name, then pack.
    order = {kind: index for index, kind in enumerate(registry.KINDS)}
    keys = [(order[kind], name, pack) for kind, name, pack, *_ in listed]
    assert keys == sorted(keys)


def test_listing_is_deterministic_and_filters_by_kind_glob_and_pack(full: packs.Environment) -> None:
    result = full.evaluate(
        """
        from torchbricks import registry
        def names(entries):
            return [e.qualified_name for e in entries]
        result = {
            "twice": names(registry.list_bricks()) == names(registry.list_bricks()),
            "glob": names(registry.list_bricks("backbone", "plugin_net_*")),
            "qualified_glob": names(registry.list_bricks(pattern="tbfixture-clash-b:*")),
            "pack": names(registry.list_bricks(pack="TBFixture_Clash.A")),
            "kinds": sorted({e.kind for e in registry.list_bricks("heads")}),
        }
        """
    )
    assert result["twice"]
    assert result["glob"] == [f"tbfixture-plugin:plugin_net_{width}" for width in ("16", "32", "64", "8")]
    assert result["qualified_glob"] == ["tbfixture-clash-b:only_b_head", "tbfixture-clash-b:shared_head"]
    assert result["pack"] == ["tbfixture-clash-a:only_a_head", "tbfixture-clash-a:shared_head"]
    assert result["kinds"] == ["heads"]


def test_listing_imports_no_brick_module_and_no_torch(full: packs.Environment, tmp_path: Path) -> None:
    check = """
        import sys
        from torchbricks import registry
        registry.list_bricks()
        registry.packs()
        result = {"heavy": sorted(name for name in ("torch", "torchvision", "timm") if name in sys.modules),
                  "fixtures": sorted(name for name in sys.modules if name.split(".")[0] in FIXTURE_PACKAGES)}
        """.replace("FIXTURE_PACKAGES", repr(FIXTURE_PACKAGES))
    cache = {"TORCHBRICKS_CACHE_DIR": str(tmp_path / "cache")}
    cold = full.evaluate(check, **cache)
    # Without a cache the hook plugins are imported (the failing ones on every run); static entry
    # points never are, not even their package's __init__.
    plugins = ["tbfixture_broken", "tbfixture_broken.nohook", "tbfixture_broken.plugin"]
    plugin_pack = [
        "tbfixture_plugin",
        "tbfixture_plugin.factories",
        "tbfixture_plugin.marker",
        "tbfixture_plugin.plugin",
    ]
    assert cold["fixtures"] == sorted([*plugins, "tbfixture_duplicate", "tbfixture_duplicate.plugin", *plugin_pack])
    warm = full.evaluate(check, **cache)
    assert warm == {"heavy": [], "fixtures": plugins}


# --- names ----------------------------------------------------------------------------------------


def test_qualified_names_always_work_and_normalise_the_pack_name(full: packs.Environment) -> None:
    result = full.evaluate(
        """
        from torchbricks import registry
        result = {
            "a": registry.get_entry("heads", "tbfixture-clash-a:shared_head").pack,
            "underscores": registry.get_entry("heads", "tbfixture_clash_a:shared_head").pack,
            "mixed_case": registry.get_entry("head", "TBFixture.Clash-B:shared_head").pack,
            "built": registry.create("heads", "tbfixture_clash_b:shared_head", num_classes=5),
            "bare": registry.get_entry("heads", "only_a_head").qualified_name,
            "example": registry.get_entry("heads", "torchbricks_example:example_linear_head").qualified_name,
        }
        """
    )
    assert result == {
        "a": "tbfixture-clash-a",
        "underscores": "tbfixture-clash-a",
        "mixed_case": "tbfixture-clash-b",
        "built": {"pack": "b", "num_classes": 5},
        "bare": "tbfixture-clash-a:only_a_head",
        "example": "torchbricks-example:example_linear_head",
    }


def test_a_bare_name_two_packs_register_is_ambiguous_and_lists_both(full: packs.Environment) -> None:
    error = _error(full, 'registry.create("heads", "shared_head")')
    assert error["type"] == "AmbiguousBrickNameError"
    assert "LookupError" in error["bases"]
    assert "'tbfixture-clash-a:shared_head'" in error["message"]
    assert "'tbfixture-clash-b:shared_head'" in error["message"]


def test_an_unknown_name_suggests_matches_and_names_searched_and_broken_packs(full: packs.Environment) -> None:
    error = _error(full, 'registry.get_entry("heads", "shared_haed")')
    assert error["type"] == "UnknownBrickError"
    assert "KeyError" in error["bases"]
    message = error["message"]
    assert "No heads brick named 'shared_haed'. Did you mean 'shared_head'?" in message
    assert "Searched packs:" in message
    for searched in ("tbfixture-clash-a 1.0.0", "tbfixture-clash-b 2.0.0", "torchbricks-example 0.1.0"):
        assert searched in message
    assert "Packs that failed to load" in message
    assert "tbfixture-broken 0.1.0" in message


def test_an_unknown_qualified_name_suggests_names_of_that_pack(full: packs.Environment) -> None:
    error = _error(full, 'registry.get_entry("heads", "tbfixture_clash_a:shard_head")')
    assert error["type"] == "UnknownBrickError"
    assert "Did you mean 'tbfixture_clash_a:shared_head'?" in error["message"]
    error = _error(full, 'registry.get_entry("heads", "tbfixture-clash-c:shared_head")')
    assert "No pack 'tbfixture-clash-c' registers heads." in error["message"]
    assert "Did you mean 'tbfixture-clash-" in error["message"]
    assert "Packs with heads: tbfixture-broken, tbfixture-clash-a, tbfixture-clash-b," in error["message"]


def test_an_unknown_kind_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(UnknownKindError, match=r"Unknown brick kind 'hedas'\. Did you mean 'heads'\?"):
        registry.list_bricks("hedas")
    with pytest.raises(ValueError, match="Kinds: backbones, necks, heads"):
        registry.get_entry("model", "x")


def test_a_name_registered_twice_by_one_pack_is_an_error_and_the_first_is_kept(full: packs.Environment) -> None:
    result = full.evaluate(
        """
        from torchbricks import registry
        status = {p.name: p for p in registry.packs()}["tbfixture-duplicate"]
        result = {"errors": status.errors, "summary": registry.get_entry("heads", "dup_head").summary,
                  "built": registry.create("heads", "dup_head"), "other": registry.create("heads", "dup_other_head")}
        """
    )
    assert len(result["errors"]) == 1
    assert "heads 'dup_head' is registered twice" in result["errors"][0]
    assert result["summary"] == "The first dup_head."
    assert result["built"] == "entry point"
    assert result["other"] == "other"


# --- broken packs and strict mode -------------------------------------------------------------------


def test_a_broken_pack_is_recorded_and_never_hides_other_packs(full: packs.Environment) -> None:
    result = full.evaluate(
        """
        from torchbricks import registry
        statuses = {p.name: p.to_dict() for p in registry.packs()}
        try:
            registry.create("heads", "broken_head")
        except Exception as error:
            failure = [type(error).__name__, str(error)]
        after = {p.name: p.errors for p in registry.packs()}
        result = {"statuses": statuses, "failure": failure, "after": after["tbfixture-broken"],
                  "still_works": registry.create("losses", "plain_loss", weight=2.0)}
        """
    )
    broken = result["statuses"]["tbfixture-broken"]
    assert broken["status"] == "error"
    assert broken["version"] == "0.1.0"
    assert broken["plugins"] == ["broken_plugin", "nohook_plugin"]
    errors = "\n".join(broken["errors"])
    assert "module 'tbfixture_broken.ghost' is not installed" in errors
    assert "plugin 'broken_plugin' (tbfixture_broken.plugin) failed: RuntimeError: tbfixture-broken hook" in errors
    assert "plugin 'nohook_plugin' (tbfixture_broken.nohook) failed: RegistryError: it implements no" in errors
    for name in ("tbfixture-optional", "tbfixture-plugin"):
        assert result["statuses"][name]["status"] == "unchecked", name  # listed, not imported: not yet "ok"
    for name in ("tbfixture-clash-a", "tbfixture-clash-b"):  # both register heads 'shared_head'
        assert result["statuses"][name]["status"] == "clash", name
        assert result["statuses"][name]["clashes"][0].startswith("heads 'shared_head' (also tbfixture-clash-")
    assert result["statuses"]["tbfixture-plugin"]["hooks"] == ["torchbricks_register_bricks"]
    assert result["statuses"]["torchbricks-example"]["bricks"] == {
        "datasets": 1,
        "heads": 1,
        "losses": 1,
        "necks": 1,
        "tasks": 1,
        "visualizers": 1,
        "weights": 1,
    }
    kind, message = result["failure"]
    assert kind == "PluginLoadError"
    assert "heads 'tbfixture-broken:broken_head' (tbfixture_broken.bricks:broken_head) failed to import" in message
    assert "ImportError: tbfixture-broken fails to import on purpose" in message
    # The failure is now part of the pack's status (what `torchbricks plugins` shows).
    assert message in result["after"]
    assert result["still_works"] == {"weight": 2.0}


def test_strict_mode_turns_a_broken_pack_into_an_error(full: packs.Environment) -> None:
    error = _error(full, "registry.list_bricks(strict=True)")
    assert error["type"] == "PluginLoadError"
    assert "ImportError" in error["bases"]
    assert "failed to load (strict mode)" in error["message"]
    assert "tbfixture-broken 0.1.0" in error["message"]
    assert "tbfixture-clash-a" not in error["message"]
    from_environment = _error(full, 'registry.get_entry("heads", "only_a_head")', TORCHBRICKS_STRICT_PLUGINS="1")
    assert from_environment["type"] == "PluginLoadError"
    assert _error(full, "registry.list_bricks(strict=False)", TORCHBRICKS_STRICT_PLUGINS="1") is None
    assert _error(full, "registry.list_bricks()", TORCHBRICKS_STRICT_PLUGINS="0") is None


def test_strict_mode_passes_when_every_pack_loads(clean: packs.Environment) -> None:
    assert _error(clean, 'registry.check("tbfixture-plugin"); registry.list_bricks(strict=True)') is None
    assert _error(clean, "registry.list_bricks()", TORCHBRICKS_STRICT_PLUGINS="1") is None


# --- optional dependencies and arguments ------------------------------------------------------------


def test_a_brick_with_a_missing_optional_dependency_lists_and_create_says_what_to_install(
    full: packs.Environment,
) -> None:
    entry = full.evaluate(
        """
        from torchbricks import registry
        result = registry.get_entry("heads", "fancy_head").to_dict()
        """
    )
    assert entry["extras"] == ["fancy"]
    assert entry["target"] == "tbfixture_optional.fancy:fancy_head"
    assert entry["summary"] == "A head that needs the fancy extra."
    assert entry["signature"] == "(num_classes: int = 2) -> object"
    error = _error(full, 'registry.create("heads", "fancy_head")')
    assert error["type"] == "MissingDependencyError"
    assert "ImportError" in error["bases"]
    assert "needs the module 'tbfixture_not_installed_fancy_lib'" in error["message"]
    assert "pip install 'tbfixture-optional[fancy]'" in error["message"]
    # A hook brick declaring `requires=`.
    error = _error(full, 'registry.create("metrics", "plugin_needs_dependency")')
    assert error["type"] == "MissingDependencyError"
    assert "pip install tbfixture_not_installed_dependency" in error["message"]
    # Neither makes its pack broken.
    assert _error(full, 'assert not {p.name: p for p in registry.packs()}["tbfixture-optional"].errors') is None


def test_create_checks_keyword_arguments_against_the_signature(full: packs.Environment) -> None:
    error = _error(full, 'registry.create("heads", "tbfixture_clash_a:shared_head", num_clases=3)')
    assert error["type"] == "BrickArgumentError"
    assert "TypeError" in error["bases"]
    assert "heads 'tbfixture-clash-a:shared_head': unknown argument 'num_clases'." in error["message"]
    assert "Did you mean 'num_classes'? Accepted: num_classes" in error["message"]
    error = _error(full, 'registry.create("heads", "plugin_head", num_classes=2, scael=2.0)')
    assert "unknown argument 'scael'. Did you mean 'scale'? Accepted: num_classes, scale" in error["message"]
    error = _error(full, 'registry.create("backbones", "plugin_net_8", widht=3)')
    assert "unknown argument 'widht'. Did you mean 'width'?" in error["message"]


# --- hook plugins and the cache ---------------------------------------------------------------------


def test_hook_plugins_register_bricks_with_summaries_signatures_and_interfaces(full: packs.Environment) -> None:
    result = full.evaluate(
        """
        import sys
        from torchbricks import registry
        net = registry.get_entry("backbones", "plugin_net_16")
        lazy = registry.get_entry("losses", "plugin_lazy_loss")
        lazy_imported = "tbfixture_plugin.lazy" in sys.modules
        result = {
            "net": net.to_dict(),
            "built": registry.create("backbones", "plugin_net_16", depth=3),
            "lazy": lazy.to_dict(),
            "lazy_imported_before_create": lazy_imported,
            "lazy_built": registry.create("losses", "plugin_lazy_loss", weight=0.5),
        }
        """
    )
    assert result["net"]["source"] == "hook"
    assert result["net"]["summary"] == "Plugin net of width 16."
    assert result["net"]["signature"] == "(*, width: int = 16, depth: int = 2) -> dict"
    assert result["net"]["interface"] == {"names": ["c5"], "channels": [16], "strides": [32]}
    assert result["built"] == {"width": 16, "depth": 3}
    assert result["lazy"]["target"] == "tbfixture_plugin.lazy:lazy_loss"
    assert result["lazy"]["signature"] == "(weight: float = 1.0) -> dict"
    assert result["lazy_imported_before_create"] is False
    assert result["lazy_built"] == {"weight": 0.5}


def test_hook_registrations_come_from_the_cache_on_later_runs(clean: packs.Environment, tmp_path: Path) -> None:
    variables = {"TORCHBRICKS_CACHE_DIR": str(tmp_path / "cache")}
    listing = "from torchbricks import registry\nresult = [e.to_dict() for e in registry.list_bricks()]"
    before = len(clean.marker_events())
    first = clean.evaluate(listing, **variables)
    assert clean.marker_events()[before:] == ["import", "hook"]
    assert list((tmp_path / "cache").glob("plugins-*.json"))
    second = clean.evaluate(listing, **variables)
    assert clean.marker_events()[before + 2 :] == []  # not imported again
    assert second == first
    # Building a cached hook brick runs the plugin (once) to get the factory.
    built = clean.evaluate(
        'from torchbricks import registry\nresult = registry.create("heads", "plugin_head", num_classes=4)', **variables
    )
    assert built == {"num_classes": 4, "scale": 1.0}
    assert clean.marker_events()[before + 2 :] == ["import", "hook"]
    # Opting out of the cache runs the hook every time.
    clean.evaluate(listing, TORCHBRICKS_NO_CACHE="1", **variables)
    assert clean.marker_events()[before + 4 :] == ["import", "hook"]


def test_installing_or_uninstalling_a_pack_invalidates_the_cache(tmp_path: Path) -> None:
    environment = packs.new_environment(tmp_path, ["tbfixture-plugin"])
    late = packs.FIXTURE_PACKS["tbfixture-late"].write(tmp_path / "packs")
    listing = "from torchbricks import registry\nresult = [e.qualified_name for e in registry.list_bricks('necks')]"
    environment.evaluate(listing)
    environment.evaluate(listing)
    assert environment.marker_events() == ["import", "hook"]
    # Install in a running process: `reload()` sees the new pack; the plugin's hook runs again.
    result = environment.evaluate(
        f"""
        import subprocess, sys
        from torchbricks import registry
        before = [e.qualified_name for e in registry.list_bricks("necks")]
        subprocess.run([sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "-q", "install",
                        "--no-deps", "--no-index", "--no-build-isolation", {str(late)!r}], check=True)
        registry.reload()
        result = {{"before": before, "after": [e.qualified_name for e in registry.list_bricks("necks")]}}
        """
    )
    assert "tbfixture-late:late_neck" not in result["before"]
    assert "tbfixture-late:late_neck" in result["after"]
    assert environment.marker_events() == ["import", "hook", "import", "hook"]
    assert "tbfixture-late:late_neck" in environment.evaluate(listing)
    assert environment.marker_events() == ["import", "hook", "import", "hook"]
    environment.uninstall("tbfixture-late")
    assert "tbfixture-late:late_neck" not in environment.evaluate(listing)
    # Back to the first set of distributions: its cache (kept, same key) is valid again, or the hook re-runs.
    assert environment.marker_events() in (["import", "hook"] * 2, ["import", "hook"] * 3)


# --- the example pack -------------------------------------------------------------------------------


def test_the_example_pack_declares_its_interface_and_its_own_tests_pass(full: packs.Environment) -> None:
    entry = full.evaluate(
        'from torchbricks import registry\nresult = registry.get_entry("necks", "example_channel_mixer").to_dict()'
    )
    assert entry["interface"] == {
        "names": ["m2", "m3", "m4", "m5"],
        "channels": [128, 128, 128, 128],
        "strides": [4, 8, 16, 32],
    }
    assert (
        entry["signature"]
        == "(in_channels: Sequence[int] = (64, 128, 256, 512), in_strides: Sequence[int] = (4, 8, 16, 32), "
        "out_channels: int = 128) -> ChannelMixer"
    )
    completed = full.run(
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", "--doctest-modules", "tests", "torchbricks_example"],
        PYTHONDONTWRITEBYTECODE="1",
        cwd=packs.EXAMPLE_PACK,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "24 passed" in completed.stdout  # its tests (a tiny train run, its weights entry) and doctests


# --- bricks registered by the running program -------------------------------------------------------


@pytest.fixture
def local_names() -> list[tuple[str, str]]:
    """Names registered by a test; unregistered afterwards."""
    names: list[tuple[str, str]] = []
    yield names
    for kind, name in names:
        registry.unregister(kind, name)


def test_register_as_a_decorator_and_as_a_call(local_names: list[tuple[str, str]]) -> None:
    @registry.register("heads")
    def tests_decorated_head(num_classes: int = 2) -> dict:
        """A head registered with the decorator."""
        return {"num_classes": num_classes}

    def tests_called_neck(width: int) -> int:
        """A neck registered with a call."""
        return width

    local_names.extend([("heads", "tests_decorated_head"), ("necks", "tests_neck")])
    assert registry.register("neck", "tests_neck", tests_called_neck) is tests_called_neck
    assert tests_decorated_head(3) == {"num_classes": 3}  # the decorator returns the function
    entry = registry.get_entry("heads", "local:tests_decorated_head")
    assert (entry.pack, entry.source, entry.summary) == ("local", "register", "A head registered with the decorator.")
    assert entry.signature == "(num_classes: int = 2) -> dict"
    assert registry.create("heads", "tests_decorated_head", num_classes=4) == {"num_classes": 4}
    assert registry.create("necks", "local:tests_neck", width=7) == 7
    assert [e.qualified_name for e in registry.list_bricks(pack="local", pattern="tests_*")] == [
        "local:tests_neck",
        "local:tests_decorated_head",
    ]


def test_registering_a_local_name_twice_is_an_error_unless_replace(local_names: list[tuple[str, str]]) -> None:
    local_names.append(("losses", "tests_loss"))
    registry.register("losses", "tests_loss", lambda: "first")
    with pytest.raises(DuplicateBrickError, match=r"losses 'tests_loss' is already registered.*replace=True"):
        registry.register("losses", "tests_loss", lambda: "second")
    assert registry.create("losses", "tests_loss") == "first"
    registry.register("losses", "tests_loss", lambda: "third", replace=True)
    assert registry.create("losses", "tests_loss") == "third"
    assert len(registry.list_bricks("losses", "tests_loss")) == 1
    registry.unregister("losses", "tests_loss")
    with pytest.raises(UnknownBrickError, match="No losses brick named 'tests_loss'"):
        registry.get("losses", "tests_loss")


def test_create_rejects_bad_arguments_before_calling_the_factory(local_names: list[tuple[str, str]]) -> None:
    calls: list[dict] = []

    def tests_recording_head(in_channels: int, num_classes: int = 2) -> None:
        """Records its calls."""
        calls.append({"in_channels": in_channels, "num_classes": num_classes})

    local_names.append(("heads", "tests_recording_head"))
    registry.register("heads", factory=tests_recording_head)
    with pytest.raises(BrickArgumentError, match=r"unknown argument 'num_clases'\. Did you mean 'num_classes'\?"):
        registry.create("heads", "tests_recording_head", in_channels=3, num_clases=2)
    with pytest.raises(TypeError, match=r"missing required argument\(s\) 'in_channels'"):
        registry.create("heads", "tests_recording_head")
    assert calls == []
    registry.create("heads", "tests_recording_head", in_channels=3)
    assert calls == [{"in_channels": 3, "num_classes": 2}]


def test_local_registrations_carry_declared_interfaces(local_names: list[tuple[str, str]]) -> None:
    @registry.register("backbones", name="tests_backbone")
    @declare_features(names=("c4", "c5"), channels=(64, 128), strides=(16, 32))
    def make_backbone() -> str:
        """A declared backbone."""
        return "backbone"

    local_names.append(("backbones", "tests_backbone"))
    registry.register("necks", "tests_neck_with_interface", lambda: "neck", interface=FeatureSpec(("p5",), (8,), (32,)))
    local_names.append(("necks", "tests_neck_with_interface"))
    assert registry.get_entry("backbones", "tests_backbone").interface == FeatureSpec(("c4", "c5"), (64, 128), (16, 32))
    assert registry.get_entry("necks", "tests_neck_with_interface").interface.channels == (8,)


@pytest.mark.parametrize("name", ["with:colon", "with space", "tab\tname"])
def test_invalid_brick_names_are_rejected(name: str) -> None:
    with pytest.raises(RegistryError, match="invalid brick name"):
        registry.register("heads", name, lambda: None)


def test_an_unknown_pack_that_is_not_installed_is_named_with_its_pip_install() -> None:
    with pytest.raises(UnknownBrickError) as raised:
        registry.get_entry("heads", "tbtest-absent-pack:some_head")
    assert str(raised.value).startswith(
        "No pack 'tbtest-absent-pack' registers heads. 'tbtest-absent-pack' is not installed; "
        "install it with: pip install tbtest-absent-pack. Packs with heads: "
    )
    # Installed (it registers no heads), or not a distribution name: nothing to install.
    for pack in ("numpy", "not/a-package"):
        with pytest.raises(UnknownBrickError) as raised:
            registry.get_entry("heads", f"{pack}:some_head")
        assert str(raised.value).startswith(f"No pack '{pack}' registers heads. Packs with heads: "), pack
