"""The thread policy: torch's threads from the free cores, printed in one line, overridden by --threads / threads:."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.training.conftest import tiny_config
from torchbricks._threads import CpuProbe, apply_threads, available_cores, choose_threads, policy_threads
from torchbricks.errors import ConfigError
from torchbricks.training import check_training, train


def test_one_core_is_left_free_and_workers_and_processes_share_the_rest() -> None:
    assert [policy_threads(2, busy) for busy in (0.0, 0.9, 1.4, 3.5)] == [1, 1, 1, 1]
    assert [policy_threads(8, busy) for busy in (0.0, 1.4, 1.6, 7.9)] == [7, 7, 6, 1]
    assert policy_threads(8, 0.0, workers=2) == 5
    assert policy_threads(16, 0.0, processes=2) == 7  # (16 - 1) // 2 each
    assert policy_threads(1, 0.0) == 1


def test_an_explicit_count_wins_then_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads(cores=8, busy=0.0).line() == "threads: 3 (OMP_NUM_THREADS)"
    assert choose_threads(5, cores=8).line() == "threads: 5 (--threads)"
    monkeypatch.delenv("OMP_NUM_THREADS")
    choice = choose_threads(cores=8, busy=2.6, workers=1)
    assert choice.threads == 4
    assert choice.line() == (
        "threads: 4 of 8 cores (2.6 busy with other processes, 1 loader worker; one core left free) — --threads N "
        "overrides (a quiet machine gets 6; --threads 6 gives the same figures)"
    )


def test_the_probe_sees_a_competing_cpu_bound_process() -> None:
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        probe = CpuProbe()
        time.sleep(0.5)
        busy = probe.busy_cores()
    finally:
        competitor.kill()
        competitor.wait()
    assert 0.5 <= busy <= available_cores()  # the competitor's core at least (others may add more), never ours


def test_several_processes_pass_their_count_on_through_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # so that the variable is restored afterwards, set or not
    monkeypatch.delenv("OMP_NUM_THREADS")
    before = torch.get_num_threads()
    try:
        choice = choose_threads(cores=available_cores() + 4, busy=0.0, processes=2)
        assert apply_threads(choice) == choice.threads == torch.get_num_threads()
        assert os.environ["OMP_NUM_THREADS"] == str(choice.threads)  # Lightning's DDP launcher keeps it
    finally:
        torch.set_num_threads(before)


def test_threads_must_be_auto_or_a_positive_count() -> None:
    for value in (0, "many", True):
        with pytest.raises(ConfigError, match=r"threads: must be a positive number of threads or auto"):
            check_training(tiny_config(threads=value))


def test_a_run_prints_the_policy_choice_in_one_line_and_records_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    config = tiny_config(visualizations=0)
    del config["threads"]  # the default: auto
    config["data"]["validation"] = []
    config["trainer"].update(max_steps=1, enable_progress_bar=False)
    try:
        report = train(config, tmp_path, show_threads=True, progress=False)
        chosen = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("threads:")]
    assert len(lines) == 1
    assert lines[0].startswith(f"threads: {chosen} of {available_cores()} cores (")
    assert "one core left free) — --threads N overrides" in lines[0]
    assert report["_run"]["threads"] == chosen == max(1, available_cores() - 1) or "a quiet machine gets" in lines[0]
    assert json.loads((tmp_path / "config.json").read_text())["threads"] == "auto"


@pytest.mark.slow
def test_train_takes_threads_on_the_command_line(tmp_path: Path) -> None:
    config = tiny_config(visualizations=0)
    config["data"]["validation"] = []
    config["trainer"].update(max_steps=1)
    path = tmp_path / "train.json"
    path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "torchbricks.cli", "train", str(path), "--output", str(tmp_path / "run")]
    finished = subprocess.run([*command, "--threads", "2"], capture_output=True, text=True, check=True)
    assert "threads: 2 (--threads, or threads: in the config)" in finished.stderr.splitlines()
    assert json.loads((tmp_path / "run" / "run.json").read_text())["threads"] == 2
    assert "steps in" in finished.stdout
    assert "(2 threads;" in finished.stdout
