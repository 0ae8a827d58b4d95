"""Real brick packs for the registry and CLI tests, pip-installed into throwaway virtual environments.

Fixture packs are written to a temporary folder as ordinary projects (``pyproject.toml`` built by
hatchling, a package, entry points) and installed with pip, so the registries read real installed
metadata. Each :class:`Environment` is a ``venv`` without pip whose ``site-packages`` also sees the
project's environment (torch, pluggy, torchbricks itself) through a ``.pth`` file; installing a pack
there never touches the project's environment.

The fixture packs:

- ``tbfixture-broken``: a heads entry point whose module raises ``ImportError``, one whose module does
  not exist, a plugin whose hook registers a brick and then raises, and a plugin without a hook.
- ``tbfixture-clash-a`` / ``tbfixture-clash-b``: both register heads ``shared_head``.
- ``tbfixture-optional``: ``fancy_head`` needs a module that is not installed (extra ``fancy``).
- ``tbfixture-plugin``: a pluggy plugin registering bricks with ``registrar.add``; it appends to the
  file named by ``$TBFIXTURE_MARKER`` whenever it is imported or its hook runs.
- ``tbfixture-duplicate``: registers heads ``dup_head`` twice (entry point and hook).
- ``tbfixture-late``: a plain pack, installed late to show that installs invalidate the cache.

Example:
    >>> sorted(FIXTURE_PACKS)[:2]
    ['tbfixture-broken', 'tbfixture-clash-a']
    >>> FIXTURE_PACKS["tbfixture-optional"].package
    'tbfixture_optional'
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sysconfig
import textwrap
import venv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE_PACK = REPOSITORY / "plugins" / "torchbricks-example"
MARKER_VARIABLE = "TBFIXTURE_MARKER"
FULL = (
    "example",
    "tbfixture-broken",
    "tbfixture-clash-a",
    "tbfixture-clash-b",
    "tbfixture-optional",
    "tbfixture-plugin",
    "tbfixture-duplicate",
)
"""The packs of the main test environment: the example pack and every fixture pack but the late one."""
CLEAN = ("example", "tbfixture-plugin")
"""The packs of an environment where nothing is broken."""
_REGISTRY_VARIABLES = ("TORCHBRICKS_STRICT_PLUGINS", "TORCHBRICKS_NO_CACHE", "TORCHBRICKS_CACHE_DIR")


@dataclass(frozen=True)
class PackSource:
    """A fixture pack: its distribution name, version, package files and entry points."""

    name: str
    version: str
    files: Mapping[str, str]
    entry_points: Mapping[str, Mapping[str, str]]
    optional_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @property
    def package(self) -> str:
        """The import name of the pack's package."""
        return self.name.replace("-", "_")

    def write(self, root: Path) -> Path:
        """Write the project (``pyproject.toml`` and package) into ``root/<name>``; returns its folder."""
        folder = root / self.name
        (folder / self.package).mkdir(parents=True, exist_ok=True)
        (folder / "pyproject.toml").write_text(self.pyproject(), encoding="utf-8")
        files = {"__init__.py": "", **self.files}
        for relative, text in files.items():
            (folder / self.package / relative).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return folder

    def pyproject(self) -> str:
        """The ``pyproject.toml`` text (hatchling, static entry points, extras)."""
        lines = [
            "[build-system]",
            'requires = ["hatchling"]',
            'build-backend = "hatchling.build"',
            "",
            "[project]",
            f'name = "{self.name}"',
            f'version = "{self.version}"',
            'dependencies = ["torchbricks"]',
        ]
        for group, entries in self.entry_points.items():
            lines += ["", f'[project.entry-points."{group}"]']
            lines += [f'{name} = "{value}"' for name, value in entries.items()]
        if self.optional_dependencies:
            lines += ["", "[project.optional-dependencies]"]
            lines += [
                f"{extra} = {json.dumps(list(packages))}" for extra, packages in self.optional_dependencies.items()
            ]
        lines += ["", "[tool.hatch.build.targets.wheel]", f'packages = ["{self.package}"]', ""]
        return "\n".join(lines)


_MARK = """
import os


def mark(event: str) -> None:
    path = os.environ.get("TBFIXTURE_MARKER")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(event + "\\n")
"""

FIXTURE_PACKS: dict[str, PackSource] = {
    pack.name: pack
    for pack in (
        PackSource(
            name="tbfixture-broken",
            version="0.1.0",
            files={
                "bricks.py": '''
                    def broken_head(num_classes: int = 2) -> int:
                        """A head whose module fails to import."""
                        return num_classes


                    raise ImportError("tbfixture-broken fails to import on purpose")
                ''',
                "plugin.py": """
                    from torchbricks.registry import hookimpl


                    @hookimpl
                    def torchbricks_register_bricks(registrar):
                        registrar.add("heads", "half_registered_head", lambda: None)
                        raise RuntimeError("tbfixture-broken hook fails on purpose")
                """,
                "nohook.py": """
                    def torchbricks_register_bricks(registrar):  # not marked with @hookimpl: not a hook
                        registrar.add("heads", "unmarked_head", lambda: None)
                """,
            },
            entry_points={
                "torchbricks.heads": {
                    "broken_head": "tbfixture_broken.bricks:broken_head",
                    "ghost_head": "tbfixture_broken.ghost:ghost_head",
                },
                "torchbricks": {"broken_plugin": "tbfixture_broken.plugin", "nohook_plugin": "tbfixture_broken.nohook"},
            },
        ),
        *(
            PackSource(
                name=f"tbfixture-clash-{letter}",
                version=version,
                files={
                    "heads.py": f'''
                        def shared_head(num_classes: int = 2) -> dict:
                            """Shared head of pack {letter}."""
                            return {{"pack": "{letter}", "num_classes": num_classes}}


                        def only_{letter}_head() -> dict:
                            """A head only pack {letter} has."""
                            return {{"pack": "{letter}"}}
                    ''',
                },
                entry_points={
                    "torchbricks.heads": {
                        "shared_head": f"tbfixture_clash_{letter}.heads:shared_head",
                        f"only_{letter}_head": f"tbfixture_clash_{letter}.heads:only_{letter}_head",
                    }
                },
            )
            for letter, version in (("a", "1.0.0"), ("b", "2.0.0"))
        ),
        PackSource(
            name="tbfixture-optional",
            version="0.3.0",
            files={
                "fancy.py": '''
                    import tbfixture_not_installed_fancy_lib


                    def fancy_head(num_classes: int = 2) -> object:
                        """A head that needs the fancy extra."""
                        return tbfixture_not_installed_fancy_lib.Head(num_classes)
                ''',
                "plain.py": '''
                    def plain_loss(weight: float = 1.0) -> dict:
                        """A loss without optional dependencies."""
                        return {"weight": weight}


                    class PlainMetric:
                        """A metric class without optional dependencies.

                        Args:
                            threshold: decision threshold.
                        """

                        def __init__(self, threshold: float = 0.5, *, name: str = "plain") -> None:
                            self.threshold = threshold
                ''',
            },
            entry_points={
                "torchbricks.heads": {"fancy_head": "tbfixture_optional.fancy:fancy_head [fancy]"},
                "torchbricks.losses": {"plain_loss": "tbfixture_optional.plain:plain_loss"},
                "torchbricks.metrics": {"plain_metric": "tbfixture_optional.plain:PlainMetric"},
            },
            optional_dependencies={"fancy": ["tbfixture-not-installed-fancy-lib"]},
        ),
        PackSource(
            name="tbfixture-plugin",
            version="0.4.0",
            files={
                "marker.py": _MARK,
                "factories.py": '''
                    def make_net(width: int = 8, depth: int = 2) -> dict:
                        """A fake network description."""
                        return {"width": width, "depth": depth}


                    def plugin_head(num_classes: int = 3, scale: float = 1.0) -> dict:
                        """A head registered by a hook."""
                        return {"num_classes": num_classes, "scale": scale}
                ''',
                "lazy.py": '''
                    from tbfixture_plugin.marker import mark

                    mark("lazy")


                    def lazy_loss(weight: float = 1.0) -> dict:
                        """A loss registered by its import path."""
                        return {"weight": weight}
                ''',
                "plugin.py": """
                    import functools

                    from tbfixture_plugin.marker import mark
                    from torchbricks.features import FeatureSpec
                    from torchbricks.registry import hookimpl

                    from tbfixture_plugin import factories

                    mark("import")
                    WIDTHS = (8, 16, 32, 64)


                    @hookimpl
                    def torchbricks_register_bricks(registrar):
                        mark("hook")
                        for width in WIDTHS:
                            registrar.add(
                                "backbones",
                                f"plugin_net_{width}",
                                functools.partial(factories.make_net, width=width),
                                summary=f"Plugin net of width {width}.",
                                interface=FeatureSpec(names=("c5",), channels=(width,), strides=(32,)),
                            )
                        registrar.add("heads", "plugin_head", factories.plugin_head)
                        registrar.add("losses", "plugin_lazy_loss", "tbfixture_plugin.lazy:lazy_loss")
                        registrar.add(
                            "metrics",
                            "plugin_needs_dependency",
                            factories.plugin_head,
                            requires=["tbfixture_not_installed_dependency"],
                        )
                """,
            },
            entry_points={"torchbricks": {"plugin": "tbfixture_plugin.plugin"}},
        ),
        PackSource(
            name="tbfixture-duplicate",
            version="0.1.0",
            files={
                "heads.py": '''
                    def dup_head() -> str:
                        """The first dup_head."""
                        return "entry point"
                ''',
                "plugin.py": """
                    from torchbricks.registry import hookimpl


                    @hookimpl
                    def torchbricks_register_bricks(registrar):
                        registrar.add("heads", "dup_head", lambda: "hook", summary="The second dup_head.")
                        registrar.add("heads", "dup_other_head", lambda: "other", summary="Not a duplicate.")
                """,
            },
            entry_points={
                "torchbricks.heads": {"dup_head": "tbfixture_duplicate.heads:dup_head"},
                "torchbricks": {"plugin": "tbfixture_duplicate.plugin"},
            },
        ),
        PackSource(
            name="tbfixture-late",
            version="0.5.0",
            files={
                "necks.py": '''
                    def late_neck() -> str:
                        """A neck installed late."""
                        return "late"
                ''',
            },
            entry_points={"torchbricks.necks": {"late_neck": "tbfixture_late.necks:late_neck"}},
        ),
    )
}


def write_packs(root: Path, names: Iterable[str]) -> list[Path]:
    """Write the named fixture packs under ``root``; ``"example"`` is the repository's example pack."""
    return [EXAMPLE_PACK if name == "example" else FIXTURE_PACKS[name].write(root) for name in names]


class Environment:
    """A throwaway virtual environment that sees the project's packages; packs are pip-installed into it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache_dir = root / "cache"
        self.marker = root / "marker.log"
        venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(root / "venv")
        self.python = root / "venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        site_packages = Path(self._run_plain([str(self.python), "-c", _PRINT_PURELIB]).stdout.strip())
        # `site.addsitedir` (unlike a plain path line) also runs the project's own .pth files, e.g. the
        # editable install of torchbricks.
        project_site_packages = sysconfig.get_paths()["purelib"]
        (site_packages / "_torchbricks_tests_project.pth").write_text(
            f"import site; site.addsitedir({project_site_packages!r})\n", encoding="utf-8"
        )

    def install(self, *folders: Path) -> None:
        """``pip install`` pack folders (built with hatchling; no index, no dependencies)."""
        if importlib.util.find_spec("hatchling") is None:
            pytest.fail("The pack tests build packs with hatchling, offline: `pip install hatchling` first")
        self._pip(
            "install", "--no-deps", "--no-index", "--no-build-isolation", "--ignore-installed", *map(str, folders)
        )

    def uninstall(self, *names: str) -> None:
        """``pip uninstall`` distributions installed into this environment."""
        self._pip("uninstall", "--yes", *names)

    def environment(self, **variables: str) -> dict[str, str]:
        """The subprocess environment: no inherited registry settings, this environment's cache folder."""
        environment = {key: value for key, value in os.environ.items() if key not in _REGISTRY_VARIABLES}
        environment.pop("PYTHONPATH", None)
        environment.update(
            {"TORCHBRICKS_CACHE_DIR": str(self.cache_dir), MARKER_VARIABLE: str(self.marker), "COLUMNS": "200"}
        )
        environment.update(variables)
        return environment

    def run(
        self, arguments: Sequence[str], *, cwd: Path | None = None, **variables: str
    ) -> subprocess.CompletedProcess[str]:
        """Run this environment's ``python`` with ``arguments`` (in ``cwd``) and capture its output."""
        return subprocess.run(
            [str(self.python), *arguments],
            capture_output=True,
            text=True,
            cwd=cwd or self.root,
            env=self.environment(**variables),
            timeout=300,
            check=False,
        )

    def cli(self, *arguments: str, **variables: str) -> subprocess.CompletedProcess[str]:
        """Run the ``torchbricks`` command line in this environment."""
        return self.run(["-m", "torchbricks.cli", *arguments], **variables)

    def evaluate(self, code: str, **variables: str) -> Any:
        """Run ``code`` in this environment's Python; returns the JSON-decoded value it leaves in ``result``."""
        script = f"{textwrap.dedent(code)}\nimport json, sys\nsys.stdout.write('\\n' + json.dumps(result))\n"
        completed = self.run(["-c", script], **variables)
        if completed.returncode != 0:
            raise AssertionError(f"subprocess failed ({completed.returncode}):\n{completed.stderr}")
        return json.loads(completed.stdout.splitlines()[-1])

    def marker_events(self) -> list[str]:
        """What the fixture plugin recorded (imports, hook calls), oldest first."""
        return self.marker.read_text(encoding="utf-8").split() if self.marker.exists() else []

    def _pip(self, *arguments: str) -> None:
        command = [str(self.python), "-m", "pip", "--isolated", "--disable-pip-version-check", "-q", *arguments]
        self._run_plain(command)

    def _run_plain(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=300, check=False, env=self.environment()
        )
        if completed.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stdout}\n{completed.stderr}")
        return completed


_PRINT_PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"

_ENVIRONMENTS: dict[tuple[str, ...], Environment] = {}


def shared_environment(tmp_path_factory: pytest.TempPathFactory, names: Sequence[str]) -> Environment:
    """One environment per set of packs for the whole test session (shared by the test modules)."""
    key = tuple(names)
    if key not in _ENVIRONMENTS:
        root = tmp_path_factory.mktemp("packs-environment")
        environment = Environment(root / "environment")
        environment.install(*write_packs(root / "packs", names))
        _ENVIRONMENTS[key] = environment
    return _ENVIRONMENTS[key]


def new_environment(root: Path, names: Sequence[str]) -> Environment:
    """A fresh environment under ``root`` with the named packs installed (for tests that change it)."""
    environment = Environment(root / "environment")
    environment.install(*write_packs(root / "packs", names))
    return environment
