"""The onnx and compile backends give what eager gives; ``model.onnx`` is made once and kept in the model folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from tests.inference.conftest import write_image
from torchbricks import BrickCollection, BrickTrainable
from torchbricks.errors import ExportError
from torchbricks.inference import ONNX_FILE, predict

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    folder = tmp_path_factory.mktemp("pictures")
    sizes = [(80, 120), (30, 20), (48, 48)]
    return [str(write_image(folder / f"{index}.png", *size, seed=index)) for index, size in enumerate(sizes)]


def assert_same_predictions(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Same classes, scores within 1e-3, points within 0.05 px; masks differ in at most 0.5 % of the pixels."""
    assert len(got) == len(expected)
    for record, reference in zip(got, expected, strict=True):
        for task, readable in reference["tasks"].items():
            other = record["tasks"][task]
            if "mask" in readable:
                assert np.mean(other["mask"] != readable["mask"]) <= 0.005
            elif "class" in readable:
                assert other["class"] == readable["class"]
                assert other["score"] == pytest.approx(readable["score"], abs=1e-3)
            elif "labels" in readable:
                assert [label["class"] for label in other["labels"]] == [label["class"] for label in readable["labels"]]
            else:
                assert [point["class"] for point in other["points"]] == [point["class"] for point in readable["points"]]
                for point, expected_point in zip(other["points"], readable["points"], strict=True):
                    assert (point["x"], point["y"]) == pytest.approx(
                        (expected_point["x"], expected_point["y"]), abs=0.05
                    )


@pytest.mark.slow
def test_onnx_gives_what_eager_gives_and_keeps_its_export(exportable_model_folder: Path, pictures: list[str]) -> None:
    eager = list(predict(exportable_model_folder, pictures, batch_size=2))
    onnx = list(predict(exportable_model_folder, pictures, batch_size=2, backend="onnx"))
    assert_same_predictions(onnx, eager)
    exported = exportable_model_folder / ONNX_FILE
    made = exported.stat().st_mtime_ns
    list(predict(exportable_model_folder, pictures[:1], backend="onnx"))
    assert exported.stat().st_mtime_ns == made  # reused: newer than the weights
    weights = sorted((exportable_model_folder / "weights").rglob("*.safetensors"))[0]
    os.utime(weights, ns=(made + 10**9, made + 10**9))  # the weights changed after the export
    list(predict(exportable_model_folder, pictures[:1], backend="onnx"))
    assert exported.stat().st_mtime_ns > made


@pytest.mark.slow
def test_a_model_onnx_cannot_run_is_named_with_what_to_use_instead(model_folder: Path) -> None:
    with pytest.raises(ExportError, match="eager"):  # box detection's NMS does not trace with a dynamic batch
        predict(model_folder, [], backend="onnx")
    assert not (model_folder / ONNX_FILE).exists()


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probabilities = self.linear(features.mean(dim=(2, 3))).softmax(dim=1)
        return probabilities, probabilities.argmax(dim=1)


class Segmenter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 3, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.conv(features).argmax(dim=1)


def tiny_model() -> BrickCollection:
    """A model of the core's bricks only (no standard pack): a classification and a segmentation task."""
    torch.manual_seed(0)
    model = BrickCollection(
        {
            "features": BrickTrainable(nn.Conv2d(3, 4, 3, padding=1), ["images"], ["features"]),
            "animal": BrickTrainable(Classifier(), ["features"], ["animal/probabilities", "animal/class_prediction"]),
            "cells": BrickTrainable(Segmenter(), ["features"], ["cells/class_map"]),
        }
    )
    model.config = {
        "input": {"size": [16, 16], "resize": "stretch"},
        "tasks": {"animal": {"class_names": ["a", "b", "c"]}},
    }
    return model.eval()


@pytest.mark.slow
def test_compile_gives_what_eager_gives(pictures: list[str]) -> None:
    model = tiny_model()
    eager = list(predict(model, pictures, batch_size=2))
    compiled = list(predict(model, pictures, batch_size=2, backend="compile"))
    assert_same_predictions(compiled, eager)
    assert eager[0]["tasks"]["animal"]["class"] in ("a", "b", "c")
