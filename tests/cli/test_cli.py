"""The ``torchbricks`` command line against real installed packs: output, ``--json`` and exit codes.

Exit codes: 0 success; 1 not found (unknown brick, pack or kind), ambiguous name, or a broken pack
with ``--strict``/``TORCHBRICKS_STRICT_PLUGINS``; 2 usage (argparse).
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import packs
from torchbricks import cli, registry


def _rows(output: str) -> list[list[str]]:
    """Tab-separated rows (the output when stdout is not a terminal), header first."""
    return [line.split("\t") for line in output.splitlines() if line]


# --- torchbricks list ---------------------------------------------------------------------------------


def test_list_prints_every_brick_with_pack_version_and_summary(full: packs.Environment) -> None:
    completed = full.cli("list")
    assert completed.returncode == 0, completed.stderr
    rows = _rows(completed.stdout)
    assert rows[0] == ["name", "kind", "pack", "version", "summary", "note"]
    clash = "clash: use pack:name"
    assert ["shared_head", "heads", "tbfixture-clash-a", "1.0.0", "Shared head of pack a.", clash] in rows
    assert ["shared_head", "heads", "tbfixture-clash-b", "2.0.0", "Shared head of pack b.", clash] in rows
    assert ["plugin_net_8", "backbones", "tbfixture-plugin", "0.4.0", "Plugin net of width 8.", ""] in rows
    assert ["fancy_head", "heads", "tbfixture-optional", "0.3.0", "A head that needs the fancy extra.", ""] in rows
    names = [row[0] for row in rows[1:]]
    assert "example_label_overlay" in names
    # A broken pack is reported on stderr; it does not hide anything or change the exit code.
    assert "tbfixture-broken" in completed.stderr
    assert "see `torchbricks packs`" in completed.stderr
    assert full.cli("list").stdout == completed.stdout  # deterministic


def test_list_by_kind_filter_and_pack(full: packs.Environment) -> None:
    heads = _rows(full.cli("list", "heads").stdout)[1:]
    assert heads
    assert {row[1] for row in heads} == {"heads"}
    assert _rows(full.cli("list", "head").stdout) == _rows(full.cli("list", "heads").stdout)
    nets = _rows(full.cli("list", "--filter", "plugin_net_*").stdout)[1:]
    assert [row[0] for row in nets] == ["plugin_net_16", "plugin_net_32", "plugin_net_64", "plugin_net_8"]
    qualified = _rows(full.cli("list", "heads", "--filter", "tbfixture-clash-b:*").stdout)[1:]
    assert [(row[0], row[2]) for row in qualified] == [
        ("only_b_head", "tbfixture-clash-b"),
        ("shared_head", "tbfixture-clash-b"),
    ]
    example = _rows(full.cli("list", "--pack", "torchbricks_example").stdout)[1:]
    assert [(row[1], row[0]) for row in example] == [
        ("necks", "example_channel_mixer"),
        ("heads", "example_linear_head"),
        ("losses", "example_focal_loss"),
        ("visualizers", "example_label_overlay"),
        ("tasks", "example_classification"),
        ("datasets", "example_stripes"),
        ("weights", "example_linear_head.demo"),
    ]
    empty = full.cli("list", "--filter", "no_such_brick*")
    assert (empty.returncode, _rows(empty.stdout)[1:]) == (0, [])


def test_list_json_has_the_entry_fields(full: packs.Environment) -> None:
    completed = full.cli("list", "--json")
    assert completed.returncode == 0
    entries = json.loads(completed.stdout)
    by_name = {entry["qualified_name"]: entry for entry in entries}
    fancy = by_name["tbfixture-optional:fancy_head"]
    assert fancy == {
        "kind": "heads",
        "name": "fancy_head",
        "qualified_name": "tbfixture-optional:fancy_head",
        "pack": "tbfixture-optional",
        "version": "0.3.0",
        "source": "entry-point",
        "target": "tbfixture_optional.fancy:fancy_head",
        "summary": "A head that needs the fancy extra.",
        "signature": "(num_classes: int = 2) -> object",
        "interface": None,
        "extras": ["fancy"],
        "optional": False,
        "shadowed_by": None,
        "clashes_with": [],
    }
    assert by_name["tbfixture-plugin:plugin_net_32"]["interface"] == {
        "names": ["c5"],
        "channels": [32],
        "strides": [32],
    }
    assert by_name["tbfixture-plugin:plugin_net_32"]["source"] == "hook"
    assert by_name["torchbricks-example:example_channel_mixer"]["interface"]["channels"] == [128] * 4
    # A task's interface is its @task_kind, read from source like a neck's @declare_features.
    assert by_name["torchbricks-example:example_classification"]["interface"] == {
        "feature_kind": "global",
        "max_stride": None,
    }
    filtered = json.loads(full.cli("list", "losses", "--pack", "tbfixture-optional", "--json").stdout)
    assert [entry["qualified_name"] for entry in filtered] == ["tbfixture-optional:plain_loss"]


def test_list_unknown_kind_or_pack_exits_1(full: packs.Environment) -> None:
    unknown_kind = full.cli("list", "hedas")
    assert unknown_kind.returncode == 1
    assert "Unknown brick kind 'hedas'. Did you mean 'heads'?" in unknown_kind.stderr
    unknown_pack = full.cli("list", "--pack", "tbfixture-clash")
    assert unknown_pack.returncode == 1
    assert "No installed brick pack 'tbfixture-clash'. Did you mean" in unknown_pack.stderr
    assert unknown_pack.stdout == ""


# --- torchbricks info ---------------------------------------------------------------------------------


def test_info_shows_signature_docstring_origin_and_interface(full: packs.Environment) -> None:
    completed = full.cli("info", "necks", "example_channel_mixer")
    assert completed.returncode == 0, completed.stderr
    fields = {row[0]: row[1] for row in _rows(completed.stdout)[1:]}
    assert fields["qualified_name"] == "torchbricks-example:example_channel_mixer"
    assert fields["pack"] == "torchbricks-example"
    assert fields["version"] == "0.1.0"
    assert fields["target"] == "torchbricks_example.necks:example_channel_mixer"
    assert fields["signature"] == (
        "(in_channels: Sequence[int] = (64, 128, 256, 512), in_strides: Sequence[int] = (4, 8, 16, 32), "
        "out_channels: int = 128) -> ChannelMixer"
    )
    assert json.loads(fields["interface"]) == {
        "names": ["m2", "m3", "m4", "m5"],
        "channels": [128, 128, 128, 128],
        "strides": [4, 8, 16, 32],
    }
    assert fields["docstring"].startswith("Mix each feature map's channels with a 1x1 convolution")
    assert "in_strides: stride of each input map." in fields["docstring"]


def test_info_json_of_a_class_factory_and_a_hook_brick(full: packs.Environment) -> None:
    listed = json.loads(full.cli("list", "metrics", "--filter", "plain_metric", "--json").stdout)
    # A class factory returns an instance: its signature says so, from the source and from the class alike.
    assert listed[0]["signature"] == "(threshold: float = 0.5, *, name: str = 'plain') -> PlainMetric"  # source
    metric = json.loads(full.cli("info", "metrics", "tbfixture-optional:plain_metric", "--json").stdout)
    assert metric["signature"] == "(threshold: float = 0.5, *, name: str = 'plain') -> PlainMetric"  # the class
    assert (
        metric["docstring"]
        == "A metric class without optional dependencies.\n\nArgs:\n    threshold: decision threshold."
    )
    assert metric["summary"] == "A metric class without optional dependencies."
    assert metric["load_error"] is None
    net = json.loads(full.cli("info", "backbone", "plugin_net_64", "--json").stdout)
    assert net["source"] == "hook"
    assert net["signature"] == "(*, width: int = 64, depth: int = 2) -> dict"
    assert net["interface"] == {"names": ["c5"], "channels": [64], "strides": [32]}


def test_info_of_a_brick_that_cannot_be_imported_shows_what_is_known(full: packs.Environment) -> None:
    fancy = full.cli("info", "heads", "fancy_head", "--json")
    assert fancy.returncode == 0
    details = json.loads(fancy.stdout)
    assert details["signature"] == "(num_classes: int = 2) -> object"
    assert details["load_error"].startswith("MissingDependencyError")
    assert "pip install 'tbfixture-optional[fancy]'" in details["load_error"]
    assert full.cli("info", "heads", "fancy_head", "--strict").returncode == 1  # the broken pack, not the extra
    broken = full.cli("info", "heads", "broken_head")
    assert broken.returncode == 0
    assert "PluginLoadError" in broken.stdout
    assert "fails to import on purpose" in broken.stdout


def test_info_unknown_or_ambiguous_names_exit_1(full: packs.Environment) -> None:
    ambiguous = full.cli("info", "heads", "shared_head")
    assert ambiguous.returncode == 1
    assert "'tbfixture-clash-a:shared_head', 'tbfixture-clash-b:shared_head'" in ambiguous.stderr
    assert full.cli("info", "heads", "tbfixture-clash-b:shared_head").returncode == 0
    unknown = full.cli("info", "heads", "shared_haed")
    assert unknown.returncode == 1
    assert "Did you mean 'shared_head'?" in unknown.stderr
    assert "tbfixture-broken" in unknown.stderr  # a pack that failed to load might have had it
    assert full.cli("info", "hedas", "shared_head").returncode == 1


# --- torchbricks plugins ------------------------------------------------------------------------------


def test_plugins_shows_every_pack_with_status_and_errors(full: packs.Environment) -> None:
    completed = full.cli("plugins")
    assert completed.returncode == 0, completed.stderr
    rows = {row[0]: row for row in _rows(completed.stdout)[1:]}
    assert _rows(completed.stdout)[0] == ["pack", "version", "bricks", "hooks", "status", "problems"]
    assert rows["tbfixture-plugin"][1:5] == [
        "0.4.0",
        "backbones: 4, heads: 1, losses: 1, metrics: 1",
        "torchbricks_register_bricks",
        "unchecked",
    ]
    assert rows["torchbricks-example"][2] == (
        "datasets: 1, heads: 1, losses: 1, necks: 1, tasks: 1, visualizers: 1, weights: 1"
    )
    assert rows["tbfixture-broken"][4] == "error"
    assert "RuntimeError: tbfixture-broken hook fails on purpose" in rows["tbfixture-broken"][5]
    assert "module 'tbfixture_broken.ghost' is not installed" in rows["tbfixture-broken"][5]


def test_plugins_json_and_check(full: packs.Environment) -> None:
    statuses = {pack["name"]: pack for pack in json.loads(full.cli("plugins", "--json").stdout)}
    assert statuses["tbfixture-optional"]["status"] == "unchecked"  # listed from metadata, not imported yet
    assert statuses["tbfixture-broken"]["plugins"] == ["broken_plugin", "nohook_plugin"]
    assert not any("fails to import on purpose" in error for error in statuses["tbfixture-broken"]["errors"])
    # --check imports every brick: the entry point that raises ImportError is found and recorded.
    checked = full.cli("plugins", "--check", "--pack", "tbfixture-broken", "--json")
    assert checked.returncode == 0
    (broken,) = json.loads(checked.stdout)  # --pack shows one pack
    assert broken["name"] == "tbfixture-broken"
    assert any("fails to import on purpose" in error for error in broken["errors"])
    # tbfixture-optional's fancy_head needs an extra that is not installed (and not marked optional):
    # --check says so, with the module and the install, as its own status, not as a load error.
    (optional,) = json.loads(full.cli("plugins", "--check", "--pack", "tbfixture_optional", "--json").stdout)
    assert (optional["status"], optional["errors"]) == ("missing dependency", [])
    assert optional["missing_dependencies"] == [
        "Brick heads 'tbfixture-optional:fancy_head' (tbfixture_optional.fancy:fancy_head) needs the module "
        "'tbfixture_not_installed_fancy_lib', which is not installed; install it with: "
        "pip install 'tbfixture-optional[fancy]'"
    ]
    unknown = full.cli("plugins", "--pack", "tbfixture-brokn")
    assert unknown.returncode == 1
    assert "No installed brick pack 'tbfixture-brokn'. Did you mean 'tbfixture-broken'" in unknown.stderr


def test_strict_mode_exits_1_on_a_broken_pack(full: packs.Environment) -> None:
    plugins = full.cli("plugins", "--strict")
    assert plugins.returncode == 1
    assert "tbfixture-broken" in plugins.stdout  # the table is still printed
    assert "(strict mode): 2 pack(s) failed to load: tbfixture-broken, tbfixture-duplicate" in plugins.stderr
    assert "2 pack(s) share bare names: tbfixture-clash-a, tbfixture-clash-b" in plugins.stderr
    listing = full.cli("list", "--strict")
    assert listing.returncode == 1
    assert "failed to load (strict mode)" in listing.stderr
    from_environment = full.cli("list", "heads", TORCHBRICKS_STRICT_PLUGINS="1")
    assert from_environment.returncode == 1
    assert full.cli("plugins", TORCHBRICKS_STRICT_PLUGINS="true").returncode == 1
    # With --pack, strict mode judges the packs shown: a pack sharing a bare name with another is a clash.
    assert full.cli("plugins", "--pack", "tbfixture-clash-a", "--strict").returncode == 1
    assert full.cli("plugins", "--pack", "tbfixture-optional", "--strict").returncode == 0
    assert full.cli("plugins", "--pack", "tbfixture-broken", "--strict").returncode == 1


def test_strict_mode_exits_0_when_every_pack_loads(clean: packs.Environment) -> None:
    for arguments in (("list", "--strict"), ("plugins", "--strict"), ("info", "heads", "plugin_head", "--strict")):
        completed = clean.cli(*arguments)
        assert completed.returncode == 0, (arguments, completed.stderr)
        assert completed.stderr == ""


def test_list_refresh_rebuilds_the_cache(clean: packs.Environment, tmp_path: Path) -> None:
    variables = {"TORCHBRICKS_CACHE_DIR": str(tmp_path / "cache")}
    before = len(clean.marker_events())
    first = clean.cli("list", "--json", **variables).stdout
    cached = clean.cli("list", "--json", **variables).stdout
    assert clean.marker_events()[before:] == ["import", "hook"]
    refreshed = clean.cli("list", "--refresh", "--json", **variables).stdout
    assert clean.marker_events()[before:] == ["import", "hook", "import", "hook"]
    assert first == cached == refreshed
    assert clean.cli("list", **variables).returncode == 0
    assert clean.marker_events()[before:] == ["import", "hook", "import", "hook"]


# --- usage errors and the console script --------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments", [(), ("frobnicate",), ("list", "--bogus"), ("info", "heads"), ("plugins", "extra")]
)
def test_usage_errors_exit_2(full: packs.Environment, arguments: tuple[str, ...]) -> None:
    completed = full.cli(*arguments)
    assert completed.returncode == 2
    assert "usage: torchbricks" in completed.stdout + completed.stderr


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "torchbricks"
    if not script.exists():
        pytest.skip("the project is not pip-installed in this environment")
    completed = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert completed.returncode == 0
    assert completed.stdout.strip() == __import__("torchbricks").__version__


# --- in-process: rich tables --------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_rich_table(monkeypatch: pytest.MonkeyPatch) -> None:
    def tests_cli_head(num_classes: int = 2) -> int:
        """A head for the CLI table test."""
        return num_classes

    registry.register("heads", factory=tests_cli_head)
    try:
        terminal = _Terminal()
        monkeypatch.setattr(sys, "stdout", terminal)
        monkeypatch.setenv("COLUMNS", "160")
        assert cli.main(["list", "heads", "--pack", "local", "--filter", "tests_cli_*"]) == 0
    finally:
        registry.unregister("heads", "tests_cli_head")
    table = terminal.getvalue()
    assert "1 bricks" in table
    assert "tests_cli_head" in table
    assert "A head for the CLI table test." in table
    assert "━" in table or "─" in table  # box drawing: a rich table, not tab-separated text
    assert "\t" not in table
