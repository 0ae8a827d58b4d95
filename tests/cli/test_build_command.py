"""The ``torchbricks build`` command: build a model from a config, print its graph, export it to ONNX and save it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from tests.helpers.configs import SIZE, minimal
from torchbricks.assembly import (
    CONFIG_FILE,
    load_model,
    resolve_config,
)
from torchbricks.errors import (
    ConfigError,
)

# -- the command line ----------------------------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.json"
    path.write_text(
        json.dumps(
            {
                "backbone": {"name": "resnet18", "levels": [2, 3]},
                "tasks": {"kind": {"task": "image_classification", "num_classes": 2}},
                "input_shape": [3, SIZE, SIZE],
            }
        )
    )
    return path


def test_run_build_prints_graph_exports_and_saves(config_file: Path, tmp_path: Path, capsys) -> None:
    from torchbricks.cli._model_commands import run_build

    onnx_path, save_dir = tmp_path / "model.onnx", tmp_path / "saved"
    arguments = argparse.Namespace(
        config=str(config_file), graph=True, weights=None, export=str(onnx_path), outputs=None, save=str(save_dir)
    )
    assert run_build(arguments) == 0
    printed = capsys.readouterr().out
    assert "Built" in printed
    assert "tasks: kind" in printed
    assert "Inference needs: images" in printed
    assert "flowchart" in printed
    assert f"Exported {onnx_path}" in printed
    assert "Saved" in printed
    assert onnx_path.stat().st_size > 0
    loaded = load_model(save_dir)
    assert loaded.config == resolve_config(config_file)

    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    assert [item.name for item in session.get_inputs()] == ["images"]
    assert "kind/logits" in [item.name for item in session.get_outputs()]


def test_run_build_reports_config_errors(tmp_path: Path) -> None:
    from torchbricks.cli._model_commands import run_build

    path = tmp_path / "bad.json"
    path.write_text(json.dumps(minimal(tasks={"shape": {"task": "image_classification", "num_clases": 3}})))
    with pytest.raises(ConfigError, match=r"tasks\.shape\.num_clases"):
        run_build(argparse.Namespace(config=str(path), graph=False, weights=None, export=None, outputs=None, save=None))


def test_cli_has_the_build_command(config_file: Path, tmp_path: Path, capsys) -> None:
    from torchbricks.cli import main

    assert main(["build", str(config_file), "--save", str(tmp_path / "saved")]) == 0
    assert "Built" in capsys.readouterr().out
    assert (tmp_path / "saved" / CONFIG_FILE).exists()
