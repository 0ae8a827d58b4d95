"""Interrupting or killing a ``--resume`` run keeps every row logged before it, and the finished run whole.

The resumed run writes into ``running/``: Ctrl+C keeps it as ``unfinished/`` with the earlier rows in
front of its own; ``kill -9`` leaves the finished run's files exactly as they were.
"""

from __future__ import annotations

import csv
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.files import snapshot
from tests.training.conftest import start_train_process, tiny_config
from torchbricks import load_model
from torchbricks.training import train

pytestmark = pytest.mark.slow


def logged_steps(path: Path) -> list[int]:
    with path.open(newline="") as file:
        return [int(row["step"]) for row in csv.DictReader(file) if row.get("train/loss")]


def start_resume(config: dict[str, Any], folder: Path) -> subprocess.Popen[str]:
    """``torchbricks train --resume`` for many steps, in its own process; returns once it logs its own steps."""
    return start_train_process(config, folder, "--resume", "--set", "trainer.max_steps=100000", logged_rows=2)


@pytest.fixture
def finished(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    config = tiny_config()
    config["trainer"].update({"enable_progress_bar": False, "max_steps": 2})
    train(config, tmp_path / "run", progress=False)
    assert logged_steps(tmp_path / "run" / "logs" / "metrics.csv") == [0, 1]
    return tmp_path / "run", config


def test_killing_a_resumed_run_leaves_the_finished_run_exactly_as_it_was(finished) -> None:
    folder, config = finished
    before = snapshot(folder)
    process = start_resume(config, folder)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    assert {name: digest for name, digest in snapshot(folder).items() if not name.startswith("running/")} == before
    assert load_model(folder / "model") is not None
    train(config, folder, overrides=["trainer.max_steps=3"], resume=True, progress=False)  # a stale running/ is fine
    assert not (folder / "running").exists()
    assert logged_steps(folder / "logs" / "metrics.csv")[:2] == [0, 1]


def test_ctrl_c_in_a_resumed_run_keeps_the_rows_from_before_it(finished) -> None:
    folder, config = finished
    before = snapshot(folder)
    process = start_resume(config, folder)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert snapshot(folder).items() >= before.items()  # the finished run: untouched
    steps = logged_steps(folder / "unfinished" / "logs" / "metrics.csv")
    assert steps[:2] == [0, 1]  # the rows logged before the resume...
    assert len(steps) > 2  # ...and the resumed run's own
    assert steps == sorted(steps)
