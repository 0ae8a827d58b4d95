"""``torchbricks build`` with a config naming a pack that is not installed says what to ``pip install``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.configs import SIZE
from torchbricks.cli import main


def _build(tmp_path: Path, capsys: pytest.CaptureFixture[str], backbone: str) -> tuple[int, str]:
    path = tmp_path / "model.json"
    config = {
        "backbone": backbone,
        "tasks": {"shape": {"task": "tbtest-absent-tasks:image_classification", "num_classes": 2}},
        "input_shape": [3, SIZE, SIZE],
    }
    path.write_text(json.dumps(config))
    code = main(["build", str(path)])
    return code, capsys.readouterr().err


def test_build_names_the_missing_packs_and_the_pip_install_for_each(tmp_path: Path, capsys) -> None:
    code, err = _build(tmp_path, capsys, "tbtest-absent-pack:resnet18")
    assert code == 1
    lines = err.splitlines()
    assert lines[0] == "torchbricks build: 2 problem(s) in the model config:"
    assert lines[1].startswith(
        "  backbone.name: No pack 'tbtest-absent-pack' registers backbones. 'tbtest-absent-pack' is not "
        "installed; install it with: pip install tbtest-absent-pack. Packs with backbones: torchbricks"
    )
    assert lines[2].startswith(
        "  tasks.shape.task: No pack 'tbtest-absent-tasks' registers tasks. 'tbtest-absent-tasks' is not "
        "installed; install it with: pip install tbtest-absent-tasks. Packs with tasks: torchbricks"
    )


def test_a_misspelled_installed_pack_gets_a_suggestion_not_an_install(tmp_path: Path, capsys) -> None:
    code, err = _build(tmp_path, capsys, "TorchBrick:resnet18")
    assert code == 1
    (line,) = [line for line in err.splitlines() if line.startswith("  backbone.name:")]
    assert line.startswith(
        "  backbone.name: No pack 'TorchBrick' registers backbones. Did you mean 'torchbricks'? Packs with backbones:"
    )
    assert "pip install TorchBrick" not in err
