"""The command line never shows a traceback: one line naming the culprit, exit 1 (2 for usage); pipes close quietly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchbricks.cli import main

COMMAND = [sys.executable, "-m", "torchbricks.cli"]


def _run(*arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*COMMAND, *arguments], capture_output=True, text=True, cwd=cwd, timeout=300)


def _assert_one_line_failure(completed: subprocess.CompletedProcess, *parts: str) -> None:
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    for part in parts:
        assert part in lines[0]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.yaml", "backbone: [unclosed\n", "is not valid YAML"),
        ("evil.yaml", "backbone: !!python/object/apply:os.system ['echo pwned']\n", "plain data"),
        ("latin.json", b"\xff\xfe{}".decode("latin-1"), "is not UTF-8"),
        ("deep.json", "[" * 3000 + "]" * 3000, "nests too deeply"),
        (
            "levels.json",
            json.dumps(
                {
                    "backbone": {"name": "resnet18", "levels": [7]},
                    "tasks": {"a": {"task": "image_classification", "num_classes": 2}},
                }
            ),
            "levels (7,)",
        ),
        (
            "negative.json",
            json.dumps(
                {
                    "backbone": {"name": "resnet18", "levels": [5]},
                    "tasks": {"a": {"task": "image_classification", "num_classes": -1}},
                }
            ),
            "tasks.a",
        ),
    ],
)
def test_build_with_a_bad_config_prints_one_line(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content.encode("latin-1"))
    _assert_one_line_failure(_run("build", str(path)), "torchbricks build:", expected)


def test_build_save_onto_a_file_prints_one_line(tmp_path: Path) -> None:
    config = tmp_path / "model.json"
    config.write_text(
        json.dumps(
            {
                "backbone": {"name": "resnet18", "levels": [5]},
                "tasks": {"a": {"task": "image_classification", "num_classes": 2}},
            }
        )
    )
    target = tmp_path / "occupied"
    target.write_text("a file")
    _assert_one_line_failure(_run("build", str(config), "--save", str(target)), "is not a folder")
    assert target.read_text() == "a file"


def test_the_debug_flag_shows_the_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("backbone: [unclosed\n")
    completed = _run("--debug", "build", str(path))
    assert completed.returncode == 1
    assert "Traceback" in completed.stderr


def test_a_closed_pipe_ends_quietly() -> None:
    listing = subprocess.Popen([*COMMAND, "list", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert listing.stdout is not None
    first = listing.stdout.readline()
    listing.stdout.close()  # like `| head -1`
    _, stderr = listing.communicate(timeout=120)
    assert first.strip() == b"["
    assert listing.returncode == 0
    assert b"Traceback" not in stderr
    assert b"BrokenPipeError" not in stderr


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["demo", "--threads", "-1"], "invalid positive int value: '-1'"),
        (["demo", "--steps", "0"], "invalid positive int value: '0'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_usage_errors_exit_2_with_the_argument_named(arguments: list[str], expected: str, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(arguments)
    assert exit_.value.code == 2
    assert expected in capsys.readouterr().err


def test_demo_output_under_a_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    _assert_one_line_failure(_run("demo", "--quick", "--output", str(blocker / "out")), "is a file, not a folder")


def test_an_unexpected_error_is_one_line_with_the_debug_hint(monkeypatch, capsys) -> None:
    from torchbricks.cli import _registry_commands

    def explode(arguments) -> int:
        raise OSError("disk on fire")

    monkeypatch.setattr(_registry_commands, "run_list", explode)
    assert main(["list"]) == 1
    error = capsys.readouterr().err
    assert error.strip() == "torchbricks list: OSError: disk on fire (run with --debug for the traceback)"


def test_the_environment_is_not_needed_for_help() -> None:
    completed = subprocess.run(
        [*COMMAND, "--help"], capture_output=True, text=True, env={**os.environ, "TORCHBRICKS_NO_CACHE": "1"}
    )
    assert completed.returncode == 0
    assert "demo" in completed.stdout
