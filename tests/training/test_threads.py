"""The thread policy: every core with sleeping idle threads, printed in one line, overridden by --threads / threads:."""

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
from torchbricks._threads import (
    CpuProbe,
    apply_threads,
    available_cores,
    choose_threads,
    idle_threads_sleep,
    policy_threads,
)
from torchbricks.errors import ConfigError
from torchbricks.training import check_training, train


def test_busy_cores_workers_and_processes_share_the_cores() -> None:
    assert [policy_threads(2, busy) for busy in (0.0, 0.4, 0.9, 1.4, 3.5)] == [2, 2, 1, 1, 1]
    assert [policy_threads(8, busy) for busy in (0.0, 1.4, 1.6, 7.9)] == [8, 7, 6, 1]
    assert policy_threads(8, 0.0, workers=2) == 6
    assert policy_threads(16, 0.0, processes=2) == 8
    assert policy_threads(16, 3.0, processes=2, workers=1) == 5  # (16 - 3) // 2 - 1
    assert policy_threads(1, 0.0) == 1


def test_with_sleeping_idle_threads_the_load_does_not_change_the_count() -> None:
    counts = {choose_threads(cores=8, busy=busy, workers=1, idle_threads_sleep=True).threads for busy in (0, 2.6, 7.5)}
    assert counts == {7}  # the same count quiet or busy: the same figures
    assert [choose_threads(cores=8, busy=busy, idle_threads_sleep=False).threads for busy in (0, 2.6)] == [8, 5]


def test_an_explicit_count_wins_then_omp_num_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads(cores=8, busy=0.0).line() == "threads: 3 (OMP_NUM_THREADS)"
    assert choose_threads(5, cores=8).line() == "threads: 5 (--threads)"
    monkeypatch.delenv("OMP_NUM_THREADS")
    choice = choose_threads(cores=8, busy=2.6, workers=1, idle_threads_sleep=True)
    assert choice.line() == (
        "threads: 7 of 8 cores (2.6 busy with other processes, 1 loader worker; idle threads sleep) — --threads N "
        "overrides"
    )
    spinning = choose_threads(cores=8, busy=2.6, workers=1, idle_threads_sleep=False)
    assert spinning.threads == 4
    assert spinning.line().startswith("threads: 4 of 8 cores (2.6 busy with other processes, 1 loader worker; idle ")
    assert "OMP_WAIT_POLICY=PASSIVE set before torch is imported" in spinning.line()


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"OMP_WAIT_POLICY": "passive"}, True),
        ({"OMP_WAIT_POLICY": "ACTIVE", "GOMP_SPINCOUNT": "0"}, False),  # the standard variable decides
        ({"GOMP_SPINCOUNT": "0"}, True),
        ({"KMP_BLOCKTIME": "0"}, True),
        ({"GOMP_SPINCOUNT": "300000"}, False),
        ({}, False),
    ],
)
def test_the_environment_says_whether_idle_threads_sleep(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: bool
) -> None:
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert idle_threads_sleep() is expected


_REPORT_WAIT_POLICY = (
    "import os, sys\n"
    "{before}"
    "from torchbricks.cli import main\n"
    "main(['--version'])\n"
    "print(os.environ.get('OMP_WAIT_POLICY'), os.environ.get('GOMP_SPINCOUNT'))\n"
)


@pytest.mark.parametrize(
    ("before", "environment", "expected"),
    [
        ("", {}, "PASSIVE None"),  # the command sets it before torch loads OpenMP
        ("", {"GOMP_SPINCOUNT": "1000"}, "None 1000"),  # the user's own setting stays
        ("import torch\n", {}, "None None"),  # too late to matter: left alone
    ],
)
def test_the_command_lets_idle_threads_sleep_before_torch_loads(
    before: str, environment: dict[str, str], expected: str
) -> None:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
    }
    finished = subprocess.run(
        [sys.executable, "-c", _REPORT_WAIT_POLICY.format(before=before)],
        env={**clean, **environment},
        capture_output=True,
        text=True,
        check=True,
    )
    assert finished.stdout.splitlines()[-1] == expected


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
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")  # as the command sets it (here torch is loaded already)
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
    assert lines[0].endswith("; idle threads sleep) — --threads N overrides")
    assert report["_run"]["threads"] == chosen == available_cores()  # every core, however busy the machine
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["threads"] == chosen
    assert run["idle_threads"] == "sleep"
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
