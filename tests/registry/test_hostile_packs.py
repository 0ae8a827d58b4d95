"""Hostile packs: one bad pack never breaks listing or checking of the others.

Real packs are built with hatchling and pip-installed into a throwaway virtual environment (which
also sees the project's packages through a ``.pth`` file), so entry points are read from installed
metadata. The fixture is self-contained on purpose (the shared test helpers are being moved).

Every CLI failure here is one line per problem on stderr naming the pack, and never a traceback.
Exit codes: ``list`` and ``packs`` exit 0 while other packs list; ``packs --check --strict`` exits 1.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import time
import venv
from collections.abc import Mapping
from pathlib import Path

import pytest

from torchbricks import registry
from torchbricks.errors import InvalidBrickError, PluginTimeoutError
from torchbricks.features import FeatureSpec
from torchbricks.registry import BrickRegistrar
from torchbricks.registry import _cache as cache
from torchbricks.registry._api import _REGISTRIES
from torchbricks.registry._discovery import run_isolated

HOOK_TIMEOUT = "1.5"
"""Seconds a plugin may take in these tests (``TORCHBRICKS_HOOK_TIMEOUT``): the hanging hook costs this much."""
_HOOK = "from torchbricks.registry import hookimpl\n\n\n@hookimpl\ndef torchbricks_register_bricks(registrar):\n"
_HEAD = 'def {name}(num_classes: int = 2) -> int:\n    """{summary}"""\n    return num_classes\n'


def _hook(body: str, prelude: str = "") -> str:
    return prelude + _HOOK + textwrap.indent(textwrap.dedent(body).strip() + "\n", "    ")


PACKS: dict[str, tuple[dict[str, str], dict[str, dict[str, str]]]] = {
    # name: (files of the package, entry points)
    "tbhostile-good": (
        {
            "heads.py": _HEAD.format(name="good_head", summary="A good head."),
            "plugin.py": _hook('registrar.add("backbones", "good_hook_net", lambda: None, summary="A good net.")'),
        },
        {
            "torchbricks.heads": {"good_head": "tbhostile_good.heads:good_head"},
            "torchbricks": {"plugin": "tbhostile_good.plugin"},
        },
    ),
    "tbhostile-exit-plugin": (
        {"plugin.py": "raise SystemExit(3)\n"},
        {"torchbricks": {"exit_plugin": "tbhostile_exit_plugin.plugin"}},
    ),
    "tbhostile-exit-module": (
        {"heads.py": "import sys\n\nsys.exit(4)\n\n\n" + _HEAD.format(name="exit_head", summary="Exits.")},
        {"torchbricks.heads": {"exit_head": "tbhostile_exit_module.heads:exit_head"}},
    ),
    "tbhostile-bad-interface": (
        {
            "plugin.py": _hook(
                """
                registrar.add("backbones", "fine_net", lambda: None, summary="Dropped with the rest of the hook.")
                registrar.add("backbones", "bad_interface_net", lambda: None, interface="c5 at stride 32")
                """
            )
        },
        {"torchbricks": {"plugin": "tbhostile_bad_interface.plugin"}},
    ),
    "tbhostile-bad-summary": (
        {"plugin.py": _hook('registrar.add("heads", "bad_summary_head", lambda: None, summary=42)')},
        {"torchbricks": {"plugin": "tbhostile_bad_summary.plugin"}},
    ),
    "tbhostile-bad-signature": (
        {
            "plugin.py": _hook(
                'registrar.add("heads", "bad_signature_head", len, signature=inspect.signature(sorted))',
                prelude="import inspect\n",
            )
        },
        {"torchbricks": {"plugin": "tbhostile_bad_signature.plugin"}},
    ),
    "tbhostile-nometa": (
        {"heads.py": _HEAD.format(name="nometa_head", summary="A head whose pack lost its METADATA.")},
        {"torchbricks.heads": {"nometa_head": "tbhostile_nometa.heads:nometa_head"}},
    ),
    "tbhostile-hang": (
        {
            "plugin.py": _hook(
                """
                if os.environ.get("TBHOSTILE_HANG"):
                    time.sleep(3600)
                registrar.add("heads", "hang_head", lambda: None, summary="Registered when it does not hang.")
                """,
                prelude="import os\nimport time\n",
            )
        },
        {"torchbricks": {"plugin": "tbhostile_hang.plugin"}},
    ),
    "tbhostile-import-error": (
        {
            "heads.py": _HEAD.format(name="import_error_head", summary="Fails.")
            + "\n\nraise RuntimeError('on purpose')\n"
        },
        {"torchbricks.heads": {"import_error_head": "tbhostile_import_error.heads:import_error_head"}},
    ),
    "tbhostile-osexit": (
        {"heads.py": "import os\n\nos._exit(7)\n\n\n" + _HEAD.format(name="osexit_head", summary="Ends the process.")},
        {"torchbricks.heads": {"osexit_head": "tbhostile_osexit.heads:osexit_head"}},
    ),
    "tbhostile-reentrant": (
        {"plugin.py": _hook("registry.list_bricks()", prelude="from torchbricks import registry\n")},
        {"torchbricks": {"lookup_plugin": "tbhostile_reentrant.plugin"}},
    ),
}
GOOD_BRICKS = {("heads", "good_head"), ("backbones", "good_hook_net")}
_REGISTRY_VARIABLES = ("TORCHBRICKS_STRICT_PLUGINS", "TORCHBRICKS_NO_CACHE", "TORCHBRICKS_CACHE_DIR", "PYTHONPATH")


def _pyproject(name: str, entry_points: Mapping[str, Mapping[str, str]]) -> str:
    lines = ["[build-system]", 'requires = ["hatchling"]', 'build-backend = "hatchling.build"', "", "[project]"]
    lines += [f'name = "{name}"', 'version = "0.1.0"']
    for group, entries in entry_points.items():
        lines += ["", f'[project.entry-points."{group}"]', *(f'{key} = "{value}"' for key, value in entries.items())]
    lines += ["", "[tool.hatch.build.targets.wheel]", f'packages = ["{name.replace("-", "_")}"]', ""]
    return "\n".join(lines)


class HostileEnvironment:
    """A venv (no pip of its own) that sees the project's packages, with the hostile packs pip-installed."""

    def __init__(self, root: Path) -> None:
        if importlib.util.find_spec("hatchling") is None:
            pytest.fail("these tests build packs with hatchling, offline: `pip install hatchling` first")
        venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(root / "venv")
        self.root = root
        self.python = root / "venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        purelib = self._call([str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
        self.site_packages = Path(purelib.strip())
        project = sysconfig.get_paths()["purelib"]  # addsitedir also runs the editable install's .pth
        (self.site_packages / "_tbhostile_project.pth").write_text(f"import site; site.addsitedir({project!r})\n")
        folders = []
        for name, (files, entry_points) in PACKS.items():
            folder = root / "packs" / name
            package = folder / name.replace("-", "_")
            package.mkdir(parents=True)
            (folder / "pyproject.toml").write_text(_pyproject(name, entry_points))
            for relative, text in {"__init__.py": "", **files}.items():
                (package / relative).write_text(text)
            folders.append(str(folder))
        pip = ["-m", "pip", "--isolated", "--disable-pip-version-check", "-q", "install", "--no-deps", "--no-index"]
        self._call([str(self.python), *pip, "--no-build-isolation", "--ignore-installed", *folders])
        # A dist-info without METADATA (a broken or half-finished install).
        (dist_info,) = self.site_packages.glob("tbhostile_nometa-*.dist-info")
        (dist_info / "METADATA").unlink()

    def environment(self, cache_dir: Path, **variables: str) -> dict[str, str]:
        environment = {key: value for key, value in os.environ.items() if key not in _REGISTRY_VARIABLES}
        environment.update(
            {"TORCHBRICKS_CACHE_DIR": str(cache_dir), "TORCHBRICKS_HOOK_TIMEOUT": HOOK_TIMEOUT, "COLUMNS": "200"}
        )
        return {**environment, **variables}

    def cli(self, *arguments: str, cache_dir: Path, timeout: float = 120, **variables: str) -> Completed:
        completed = subprocess.run(
            [str(self.python), "-m", "torchbricks.cli", *arguments],
            capture_output=True,
            text=True,
            cwd=self.root,
            env=self.environment(cache_dir, **variables),
            timeout=timeout,
            check=False,
        )
        return Completed(completed)

    def popen(self, *arguments: str, cache_dir: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(self.python), "-m", "torchbricks.cli", *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.root,
            env=self.environment(cache_dir),
        )

    def _call(self, command: list[str]) -> str:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=300, check=False, env=self.environment(self.root / "cache")
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stdout}\n{completed.stderr}")
        return completed.stdout


class Completed:
    """A finished CLI run: exit code, table rows (tab-separated when piped) and problem lines on stderr."""

    def __init__(self, completed: subprocess.CompletedProcess[str]) -> None:
        self.returncode = completed.returncode
        self.stdout = completed.stdout
        self.stderr = completed.stderr
        lines = [line.split("\t") for line in completed.stdout.splitlines() if line]
        self.rows = [dict(zip(lines[0], line, strict=True)) for line in lines[1:]] if lines else []

    def bricks(self) -> set[tuple[str, str]]:
        return {(row["kind"], row["name"]) for row in self.rows}

    def problems(self, pack: str) -> list[str]:
        """The stderr lines about ``pack`` (``torchbricks <command>: <pack> <version>: <problem>``)."""
        return [line for line in self.stderr.splitlines() if line.split(": ", 2)[1:2] and f": {pack} " in line]

    def assert_clean_failure_output(self) -> None:
        """Problems are single lines: no traceback on either stream."""
        assert "Traceback" not in self.stdout + self.stderr, self.stderr
        assert all(line.startswith(("torchbricks ", "warning: ")) for line in self.stderr.splitlines()), self.stderr


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> HostileEnvironment:
    return HostileEnvironment(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def listing(hostile: HostileEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Completed:
    """``torchbricks list`` with a fresh cache: every hook runs."""
    completed = hostile.cli("list", cache_dir=tmp_path_factory.mktemp("listing-cache"))
    assert completed.returncode == 0, completed.stderr
    completed.assert_clean_failure_output()
    assert completed.bricks() >= GOOD_BRICKS
    return completed


@pytest.fixture(scope="module")
def checked(hostile: HostileEnvironment, tmp_path_factory: pytest.TempPathFactory) -> Completed:
    """``torchbricks packs --check --strict``: every pack imported in its own process."""
    completed = hostile.cli("packs", "--check", "--strict", cache_dir=tmp_path_factory.mktemp("check-cache"))
    completed.assert_clean_failure_output()
    return completed


def _status(completed: Completed, pack: str) -> dict[str, str]:
    (row,) = [row for row in completed.rows if row["pack"] == pack]
    return row


# --- listing: hook plugins and metadata -------------------------------------------------------------


@pytest.mark.slow
def test_a_hook_plugin_raising_system_exit_on_import_is_an_error_of_its_pack(listing: Completed) -> None:
    (problem,) = listing.problems("tbhostile-exit-plugin")
    assert problem == (
        "torchbricks list: tbhostile-exit-plugin 0.1.0: plugin 'exit_plugin' (tbhostile_exit_plugin.plugin) "
        "failed: SystemExit: 3"
    )


@pytest.mark.slow
def test_an_interface_that_is_not_a_feature_spec_drops_the_hook_and_names_the_field(listing: Completed) -> None:
    (problem,) = listing.problems("tbhostile-bad-interface")
    assert "InvalidBrickError: Pack 'tbhostile-bad-interface' registers backbones 'bad_interface_net'" in problem
    assert "invalid interface: expected a torchbricks.features.FeatureSpec" in problem
    names = {name for _, name in listing.bricks()}
    assert "fine_net" not in names  # a hook's registrations are kept only if the whole hook succeeds
    assert "bad_interface_net" not in names


@pytest.mark.slow
def test_a_summary_that_is_not_a_string_is_an_error_of_its_pack(listing: Completed) -> None:
    (problem,) = listing.problems("tbhostile-bad-summary")
    assert problem.endswith(
        "InvalidBrickError: Pack 'tbhostile-bad-summary' registers heads 'bad_summary_head' with an invalid "
        "summary: expected a string or None, got int 42"
    )


@pytest.mark.slow
def test_a_signature_that_cannot_be_cached_is_an_error_of_its_pack(listing: Completed) -> None:
    (problem,) = listing.problems("tbhostile-bad-signature")
    assert "registers heads 'bad_signature_head' with an invalid signature: expected a string or None" in problem
    assert "got Signature" in problem


@pytest.mark.slow
def test_a_dist_info_without_metadata_is_listed_under_its_folder_name_with_an_error(listing: Completed) -> None:
    assert ("heads", "nometa_head") in listing.bricks()
    (row,) = [row for row in listing.rows if row["name"] == "nometa_head"]
    assert (row["pack"], row["version"]) == ("tbhostile_nometa", "0.1.0")
    (problem,) = listing.problems("tbhostile_nometa")
    assert "the distribution metadata (" in problem
    assert "cannot be read" in problem
    assert "reinstall the pack" in problem


@pytest.mark.slow
def test_a_hook_using_the_registry_during_discovery_fails_at_once(listing: Completed) -> None:
    (problem,) = listing.problems("tbhostile-reentrant")
    assert (
        "plugin 'lookup_plugin' (tbhostile_reentrant.plugin) failed: RegistryError: The brick registry cannot"
        in problem
    )


@pytest.mark.slow
def test_packs_without_check_claims_nothing_it_has_not_checked(hostile: HostileEnvironment, tmp_path: Path) -> None:
    completed = hostile.cli("packs", cache_dir=tmp_path)
    assert completed.returncode == 0
    completed.assert_clean_failure_output()
    # The module of import_error_head raises, but listing imports nothing: not an error, not "ok" either.
    assert _status(completed, "tbhostile-import-error")["status"] == "unchecked"
    assert _status(completed, "tbhostile-good")["status"] == "unchecked"
    assert _status(completed, "tbhostile-exit-plugin")["status"] == "error"


@pytest.mark.slow
def test_a_hook_that_never_returns_times_out_and_listing_goes_on(hostile: HostileEnvironment, tmp_path: Path) -> None:
    started = time.monotonic()
    completed = hostile.cli("list", cache_dir=tmp_path, TBHOSTILE_HANG="1", timeout=60)
    assert time.monotonic() - started < 30
    assert completed.returncode == 0, completed.stderr
    completed.assert_clean_failure_output()
    assert completed.bricks() >= GOOD_BRICKS
    assert ("heads", "hang_head") not in completed.bricks()
    (problem,) = completed.problems("tbhostile-hang")
    assert "plugin 'plugin' (tbhostile_hang.plugin) failed: PluginTimeoutError:" in problem
    assert f"did not finish within {HOOK_TIMEOUT} s (TORCHBRICKS_HOOK_TIMEOUT)" in problem


# --- the cache ----------------------------------------------------------------------------------------


def _cache_file(cache_dir: Path) -> Path:
    (path,) = cache_dir.glob("plugins-*.json")
    return path


@pytest.mark.slow
def test_a_cache_file_with_a_bad_record_is_ignored_and_rewritten(hostile: HostileEnvironment, tmp_path: Path) -> None:
    first = hostile.cli("list", cache_dir=tmp_path)
    path = _cache_file(tmp_path)
    data = json.loads(path.read_text())
    record = data["plugins"]["tbhostile-good:plugin"]
    record["entries"][0]["summary"] = 42  # still valid JSON, with the right format and fingerprint
    record["entries"][0]["interface"] = {"names": ["c5"], "channels": "wide", "strides": [32]}
    path.write_text(json.dumps(data))
    again = hostile.cli("list", cache_dir=tmp_path)
    assert again.returncode == 0, again.stderr
    again.assert_clean_failure_output()
    assert again.stdout == first.stdout
    assert again.bricks() >= GOOD_BRICKS
    rewritten = json.loads(path.read_text())["plugins"]["tbhostile-good:plugin"]["entries"][0]
    assert rewritten["summary"] == "A good net."
    assert rewritten["interface"] is None


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_cache_path_that_is_a_fifo_does_not_block(hostile: HostileEnvironment, tmp_path: Path) -> None:
    first = hostile.cli("list", cache_dir=tmp_path)
    path = _cache_file(tmp_path)
    path.unlink()
    os.mkfifo(path)
    again = hostile.cli("list", cache_dir=tmp_path, timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert path.is_file()  # rewritten as a regular file


def test_the_cache_reader_refuses_fifos_and_records_of_the_wrong_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCHBRICKS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TORCHBRICKS_NO_CACHE", raising=False)
    fingerprint = "f" * 64
    entry = {"kind": "heads", "name": "tiny", "target": "m:f", "summary": "", "signature": "()", "interface": None}
    plugins = {"pack:plugin": {"hooks": ["torchbricks_register_bricks"], "entries": [entry]}}
    cache.write_cache(fingerprint, plugins)
    assert cache.read_cache(fingerprint) == plugins
    path = cache._cache_file(fingerprint)
    for bad in ({"name": "a b"}, {"kind": "models"}, {"interface": {"names": "c5"}}, {"signature": None}):
        cache.write_cache(fingerprint, {"pack:plugin": {"hooks": [], "entries": [{**entry, **bad}]}})
        assert cache.read_cache(fingerprint) == {}, bad
    if hasattr(os, "mkfifo"):
        path.unlink()
        os.mkfifo(path)
        assert cache.read_cache(fingerprint) == {}  # returns at once: no writer needed
        cache.write_cache(fingerprint, plugins)
        assert cache.read_cache(fingerprint) == plugins


# --- packs --check ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_check_reports_an_entry_point_that_cannot_be_imported_and_checks_the_others(checked: Completed) -> None:
    assert checked.returncode == 1  # --strict: any failure
    assert _status(checked, "tbhostile-good")["status"] == "ok"
    assert _status(checked, "tbhostile-good")["bricks"] == "backbones: 1, heads: 1"
    assert _status(checked, "tbhostile-import-error")["status"] == "error"
    (problem,) = checked.problems("tbhostile-import-error")
    assert problem == (
        "torchbricks packs: tbhostile-import-error 0.1.0: Brick heads 'tbhostile-import-error:import_error_head' "
        "(tbhostile_import_error.heads:import_error_head) failed to import: RuntimeError: on purpose"
    )
    assert "torchbricks packs (strict mode): " in checked.stderr


@pytest.mark.slow
def test_check_reports_a_module_raising_system_exit_on_import(checked: Completed) -> None:
    assert _status(checked, "tbhostile-exit-module")["status"] == "error"
    (problem,) = checked.problems("tbhostile-exit-module")
    assert problem.endswith("(tbhostile_exit_module.heads:exit_head) failed to import: SystemExit: 4")
    # A hook plugin exiting on import is reported the same way during the check.
    (problem,) = checked.problems("tbhostile-exit-plugin")
    assert problem.endswith("plugin 'exit_plugin' (tbhostile_exit_plugin.plugin) failed: SystemExit: 3")


@pytest.mark.slow
def test_check_reports_a_module_calling_os_exit(checked: Completed) -> None:
    assert _status(checked, "tbhostile-osexit")["status"] == "error"
    (problem,) = checked.problems("tbhostile-osexit")
    assert problem == (
        "torchbricks packs: tbhostile-osexit 0.1.0: the check ended early (exit code 7) while importing heads "
        "'tbhostile-osexit:osexit_head' (tbhostile_osexit.heads:osexit_head)"
    )
    for pack in ("tbhostile-good", "torchbricks"):  # checked all the same
        assert _status(checked, pack)["status"] == "ok", pack


# --- concurrency --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_parallel_listings_with_a_shared_cache_give_identical_output(
    hostile: HostileEnvironment, tmp_path: Path
) -> None:
    outputs = []
    for arguments in (("list",), ("list", "--refresh")):
        processes = [hostile.popen(*arguments, cache_dir=tmp_path) for _ in range(8)]
        for process in processes:
            stdout, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, stderr
            outputs.append(stdout)
    assert len(set(outputs)) == 1
    assert cache.valid_plugins(json.loads(_cache_file(tmp_path).read_text())["plugins"])


# --- in-process: the registrar and the plugin thread ------------------------------------------------


def test_the_registrar_rejects_bad_fields_naming_the_pack_brick_and_field() -> None:
    registrar = BrickRegistrar(pack="my-pack", version="1.0", plugin="my-pack:plugin")
    cases = [
        ({"summary": b"bytes"}, "invalid summary: expected a string or None, got bytes"),
        ({"signature": object()}, "invalid signature: expected a string or None"),
        ({"signature": "\ud800"}, "invalid signature: expected text that can be written as UTF-8"),
        ({"interface": {"names": ["c5"]}}, "invalid interface: expected a list or tuple of int"),
        ({"interface": FeatureSpec(names=(1,), channels=(8,), strides=(32,))}, "expected a list or tuple of str"),
        ({"interface": FeatureSpec(names=("c5",), channels=(True,), strides=(32,))}, "got an item bool True"),
        ({"requires": [3]}, "invalid requires"),
    ]
    for keywords, message in cases:
        with pytest.raises(InvalidBrickError, match="Pack 'my-pack' registers heads 'tiny'") as raised:
            registrar.add("heads", "tiny", lambda: None, **keywords)
        assert message in str(raised.value), keywords
    with pytest.raises(InvalidBrickError, match="invalid factory 'not a target'"):
        registrar.add("heads", "tiny", "not a target")
    with pytest.raises(InvalidBrickError, match="invalid factory: expected a callable"):
        registrar.add("heads", "tiny", 42)
    with pytest.raises(InvalidBrickError, match="invalid brick name"):
        registrar.add("heads", "two words", lambda: None)
    assert registrar.entries == []
    registrar.add("necks", "tiny", lambda: None, interface={"names": ["p3"], "channels": [8], "strides": [8]})
    assert registrar.entries[0].interface == FeatureSpec(names=("p3",), channels=(8,), strides=(8,))


def test_plugin_code_may_register_local_bricks_while_packs_are_discovered() -> None:
    """Plugin code runs in its own thread: it must not wait for the lock the discovering thread holds."""
    with _REGISTRIES.discovering:
        run_isolated(lambda: registry.register("heads", "hostile_local_head", lambda: None), 5, "registering plugin")
    try:
        assert registry.get_entry("heads", "local:hostile_local_head", strict=False).pack == "local"
    finally:
        registry.unregister("heads", "hostile_local_head")


def test_plugin_code_runs_isolated_with_a_timeout() -> None:
    with pytest.raises(SystemExit):
        run_isolated(lambda: sys.exit(5), 5, "exiting plugin")
    with pytest.raises(PluginTimeoutError, match=r"sleeping plugin did not finish within 0\.1 s"):
        run_isolated(lambda: time.sleep(30), 0.1, "sleeping plugin")
