"""Interfaces are checked when a model is built, and every message gives advice that fits the config."""

from __future__ import annotations

from typing import Any

import pytest
from torch import nn

from torchbricks import BrickLoss, BrickTrainable, build_model, registry
from torchbricks.errors import ConfigError, InterfaceMismatchError, PartBuildError


def _config(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"backbone": {"name": "resnet18"}, "tasks": {}}
    config.update(changes)
    return config


def _message(config: dict[str, Any], error: type[Exception] = InterfaceMismatchError) -> str:
    with pytest.raises(error) as raised:
        build_model(config)
    return str(raised.value)


def test_a_dense_task_behind_a_global_pooling_neck_is_refused_with_neck_advice() -> None:
    message = _message(
        _config(neck="global_pooling", tasks={"seg": {"task": "semantic_segmentation", "num_classes": 2}})
    )
    assert "Task 'seg' (torchbricks:semantic_segmentation) reads dense feature maps" in message
    assert "gives a pooled vector ('neck/pooled', stride 0)" in message
    assert "neck: upsampling" in message


def test_a_too_coarse_neck_output_asks_for_finer_backbone_levels_not_for_a_neck() -> None:
    message = _message(
        _config(
            backbone={"name": "resnet18", "levels": [4, 5]},
            neck="upsampling",
            tasks={"points": {"task": "point_detection", "num_classes": 2}},
        )
    )
    assert (
        "needs features at stride <= 8, but 'neck/features' (the neck 'torchbricks:upsampling') has stride 16"
        in message
    )
    assert "levels: [2, 3, 4, 5]" in message
    assert "add a neck" not in message


def test_without_a_neck_a_too_coarse_map_suggests_one() -> None:
    message = _message(
        _config(
            backbone={"name": "resnet18", "levels": [4, 5]},
            tasks={"points": {"task": "point_detection", "num_classes": 2}},
        )
    )
    assert "'backbone/c4' (the backbone's finest map) has stride 16" in message
    assert "add a neck" in message


def test_a_global_feature_kind_for_a_dense_task_suggests_feature_kind_dense() -> None:
    message = _message(
        _config(
            neck="upsampling",
            tasks={"points": {"task": "point_detection", "num_classes": 2, "feature_kind": "global"}},
        )
    )
    assert "feature_kind 'global' reads the coarsest map" in message
    assert "set feature_kind: dense for this task (the dense map has stride 4)" in message
    assert "add a neck" not in message


def test_a_task_whose_loss_does_not_write_dot_loss_is_refused_at_build() -> None:
    def odd_loss_task(num_classes: int, *, features: str, in_channels: int) -> dict:
        """A task whose loss writes ./total instead of ./loss."""
        return {
            "head": BrickTrainable(nn.Linear(in_channels, num_classes), [features], ["./logits"]),
            "loss": BrickLoss(nn.MSELoss(), ["./logits", "targets"], ["./total"]),
        }

    registry.register("tasks", "odd_loss_task", odd_loss_task)
    try:
        message = _message(_config(tasks={"c": {"task": "odd_loss_task", "num_classes": 2}}))
    finally:
        registry.unregister("tasks", "odd_loss_task")
    assert (
        "Task 'c' (local:odd_loss_task) has a loss brick but writes no 'c/loss' (its losses write ['c/total'])"
        in message
    )
    assert "a task's loss must write './loss'" in message


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        ({"backbone": {"name": "resnet18", "levels": [7]}}, "backbone (torchbricks:resnet18) cannot be built"),
        (
            {"tasks": {"a": {"task": "image_classification", "num_classes": -1}}},
            "tasks.a (torchbricks:image_classification)",
        ),
    ],
)
def test_a_factory_rejecting_its_arguments_is_a_config_error_naming_the_part(part: dict, expected: str) -> None:
    config = _config(tasks={"a": {"task": "image_classification", "num_classes": 2}})
    config.update(part)
    message = _message(config, PartBuildError)
    assert expected in message
    assert issubclass(PartBuildError, ConfigError)


def test_a_single_level_backbone_builds_runs_and_exports(tmp_path) -> None:
    import torch

    from torchbricks import export_bricks_as_onnx, onnx_max_abs_differences

    model = build_model(
        _config(
            backbone={"name": "resnet18", "levels": [5]},
            tasks={"kind": {"task": "image_classification", "num_classes": 3}},
        )
    ).eval()
    assert model({"images": torch.rand(2, 3, 64, 64)}, groups="inference")["kind/logits"].shape == (2, 3)
    path = export_bricks_as_onnx(tmp_path / "model.onnx", model, {"images": torch.rand(2, 3, 64, 64)})
    assert max(onnx_max_abs_differences(path, model, {"images": torch.rand(2, 3, 64, 64)}).values()) < 1e-4
