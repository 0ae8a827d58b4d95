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
    assert {key: value for key, value in loaded.config.items() if key != "input"} == resolve_config(config_file)

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


def test_build_loads_trained_weights_and_exports_only_the_chosen_outputs(config_file: Path, tmp_path: Path) -> None:
    import onnx
    import torch

    from torchbricks import build_model, save_model
    from torchbricks.cli import main

    trained = build_model(config_file)
    with torch.no_grad():
        for parameter in trained.parameters():
            parameter.fill_(0.01)
    save_model(trained, tmp_path / "trained")
    onnx_path = tmp_path / "chosen.onnx"
    arguments = ["build", str(config_file), "--weights", str(tmp_path / "trained"), "--export", str(onnx_path)]
    arguments += ["--outputs", "kind/logits", "--save", str(tmp_path / "rebuilt")]
    assert main(arguments) == 0
    assert [output.name for output in onnx.load(str(onnx_path)).graph.output] == ["kind/logits"]
    rebuilt = load_model(tmp_path / "rebuilt")
    assert all(torch.all(parameter == 0.01) for parameter in rebuilt.parameters())


def test_build_names_an_unknown_output_and_says_what_the_onnx_input_is(
    config_file: Path, tmp_path: Path, capsys
) -> None:
    from torchbricks.cli import main

    assert main(["build", str(config_file), "--export", str(tmp_path / "a.onnx"), "--outputs", "kind/logitz"]) == 1
    assert "Did you mean 'kind/logits'?" in capsys.readouterr().err
    assert main(["build", str(config_file), "--export", str(tmp_path / "b.onnx")]) == 0
    printed = capsys.readouterr().out
    assert "input 'images': float32 images [batch, channels, height, width] with values in [0, 1]" in printed


def test_exported_onnx_files_get_the_permissions_the_umask_gives(config_file: Path, tmp_path: Path) -> None:
    import os
    import stat

    from torchbricks.cli import main

    previous = os.umask(0o027)
    try:
        assert main(["build", str(config_file), "--export", str(tmp_path / "model.onnx")]) == 0
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "model.onnx").stat().st_mode) == 0o640
