"""A throwaway virtual environment with the timm brick pack (editable) and timm installed.

The same environment as ``tests/plugins/test_timm_pack.py`` builds, in the same folder (so a benchmark run
reuses the one the tests left behind, and the other way round): ``python -m venv --without-pip``, a
``.pth`` file that adds the project's site-packages (so it sees torch and the editable torchbricks
without changing the project's environment), then ``pip --isolated --python <venv python> install -e
plugins/torchbricks-timm timm==<version in feature_support.json>``. The folder is
``<tmp>/torchbricks-timm-test-<hash>``, keyed by the running interpreter, the pack's ``pyproject.toml``
and the timm requirement; ``TORCHBRICKS_TIMM_TEST_VENV`` overrides it. Keep the naming in sync with the
tests (this module does not import from ``tests/``).

Example:
    >>> environment_folder("timm==1.0.31").name.startswith("torchbricks-timm-test-")
    True
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACK_DIR = ROOT / "plugins" / "torchbricks-timm"
DATA_FILE = PACK_DIR / "torchbricks_timm" / "feature_support.json"
NETWORK_FAILURES = (
    "No matching distribution found",
    "Could not find a version that satisfies",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ProxyError",
    "Read timed out",
    "ConnectTimeoutError",
)


class TimmUnavailableError(RuntimeError):
    """timm could not be installed (no network, no matching distribution)."""


def recorded_timm_version() -> str | None:
    """The timm version the pack's ``feature_support.json`` was generated with, if readable."""
    try:
        return json.loads(DATA_FILE.read_text(encoding="utf-8"))["timm_version"]
    except (OSError, ValueError, KeyError):
        return None


def timm_requirement() -> str:
    """``timm==<recorded version>``, else ``timm>=1.0``."""
    recorded = recorded_timm_version()
    return f"timm=={recorded}" if recorded else "timm>=1.0"


def environment_folder(requirement: str) -> Path:
    """Where the environment for ``requirement`` lives (the tests' naming)."""
    explicit = os.environ.get("TORCHBRICKS_TIMM_TEST_VENV")
    if explicit:
        return Path(explicit)
    digest = hashlib.sha256()
    pyproject = (PACK_DIR / "pyproject.toml").read_text(encoding="utf-8")
    for part in (sys.executable, sys.version, str(PACK_DIR), pyproject, requirement):
        digest.update(part.encode() + b"\0")
    return Path(tempfile.gettempdir()) / f"torchbricks-timm-test-{digest.hexdigest()[:12]}"


def python_of(folder: Path) -> Path:
    """The interpreter of the virtual environment in ``folder``."""
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (the tests take the same lock while building)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_environment(folder: Path, requirement: str) -> None:
    """Create the environment in ``folder`` (replacing what is there); raises :class:`TimmUnavailableError`."""
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = python_of(folder)
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    project_site_packages = sysconfig.get_paths()["purelib"]
    # An import line, so the project's own .pth files (its editable install) are processed too.
    Path(purelib, "_torchbricks_project_env.pth").write_text(
        f"import site; site.addsitedir({project_site_packages!r})\n", encoding="utf-8"
    )
    command = [sys.executable, "-m", "pip", "--isolated", "--python", str(python), "install", "-q"]
    command += ["--disable-pip-version-check", "-e", str(PACK_DIR), requirement]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    if result.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        last_line = output.strip().splitlines()[-1] if output.strip() else f"pip exited with {result.returncode}"
        if any(failure in output for failure in NETWORK_FAILURES):
            raise TimmUnavailableError(f"timm cannot be installed (no network?): {last_line}")
        raise RuntimeError(f"installing the timm pack failed:\n{output}")
    (folder / "ready.json").write_text(json.dumps({"requirement": requirement, "purelib": purelib}), encoding="utf-8")


def ensure_environment() -> tuple[Path, bool]:
    """The environment's interpreter, built if missing, and whether it was built now."""
    requirement = timm_requirement()
    folder = environment_folder(requirement)
    folder.parent.mkdir(parents=True, exist_ok=True)
    built = False
    with locked(folder.with_name(folder.name + ".lock")):
        if not (folder / "ready.json").is_file() or not python_of(folder).exists():
            build_environment(folder, requirement)
            built = True
    return python_of(folder), built
