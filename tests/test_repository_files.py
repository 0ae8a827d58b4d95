"""The repository holds sources, not run outputs: no checkpoint, no event file, nothing over 1 MB.

Large files are allowed only where documented as data (:data:`DOCUMENTED_DATA`, with the reason).
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIMIT_BYTES = 1_000_000
RUN_OUTPUTS = ("*.ckpt", "*tfevents*", "*.pt", "*.pth", "*.onnx", "*.safetensors")
DOCUMENTED_DATA: dict[str, str] = {}
"""Path → why a file over the limit belongs in the repository (none today)."""
SHIPPED_WEIGHTS: dict[str, str] = {
    "plugins/torchbricks-example/torchbricks_example/weights/example_linear_head-demo.safetensors": (
        "the template pack's `weights` entry ships its file in the pack (10 KB, from scripts/make_weights.py)"
    ),
}
"""Path → why a weights file is a source, not a run output."""


def tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing is tracked")
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in listing.decode().split("\0") if name]


def test_no_tracked_file_is_a_run_output() -> None:
    outputs = [
        path.relative_to(ROOT).as_posix()
        for path in tracked_files()
        if any(fnmatch.fnmatch(path.name, pattern) for pattern in RUN_OUTPUTS)
        and path.relative_to(ROOT).as_posix() not in SHIPPED_WEIGHTS
    ]
    assert outputs == [], "run outputs are tracked (add them to .gitignore, remove them with git rm)"


def test_no_tracked_file_is_larger_than_1_mb_outside_documented_data() -> None:
    large = [
        f"{path.relative_to(ROOT).as_posix()} ({path.stat().st_size:,} bytes)"
        for path in tracked_files()
        if path.is_file()
        and path.stat().st_size > LIMIT_BYTES
        and path.relative_to(ROOT).as_posix() not in DOCUMENTED_DATA
    ]
    assert large == []


def test_run_outputs_are_ignored_by_git(tmp_path: Path) -> None:
    names = ["demo_output/model/config.json", "run/checkpoints/last.ckpt", "x/logs/events.out.tfevents.1.host"]
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *names], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert sorted(result.stdout.split()) == sorted(names)
