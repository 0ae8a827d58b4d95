"""Assembling multi-task models from code and from configs, config validation, saved model folders, the CLI."""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from bag_of_bricks import tasks
from bag_of_bricks.losses import FixedWeighting, UncertaintyWeighting
from bag_of_bricks.necks import upsampling
from torchbricks import registry
from torchbricks.assembly import RESERVED_NAMES, assemble_model
from torchbricks.brick_collection import BrickCollection
from torchbricks.errors import (
    ConfigError,
    InterfaceMismatchError,
    MissingPackError,
    TorchBricksError,
    WeightsFolderExistsError,
)
from torchbricks.assembly import build_model, load_config, resolve_config
from torchbricks.assembly import CONFIG_FILE, WEIGHTS_FOLDER, load_model, save_model
from torchbricks.features import FeatureSpec

SIZE = 32
SMALL_BACKBONE = {"name": "resnet18", "levels": [2, 3]}  # two ResNet-18 stages: strides 4 and 8, few weights


def small_config(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "backbone": dict(SMALL_BACKBONE),
        "neck": {"name": "upsampling", "out_channels": 16},
        "tasks": {
            "kind": {"task": "image_classification", "num_classes": 3, "targets": "label"},
            "seg": {"task": "semantic_segmentation", "num_classes": 4, "targets": "segmentation", "hidden": 16},
        },
        "input_shape": [3, SIZE, SIZE],
    }
    config.update(changes)
    return config


def images(count: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.rand(count, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def train_batch(count: int = 2) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return {
        "images": images(count),
        "label": torch.randint(0, 3, (count,), generator=generator),
        "segmentation": torch.randint(0, 4, (count, SIZE, SIZE), generator=generator),
    }


def assert_error(error: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(error.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"


class TinyBackbone(nn.Module):
    """A hand-made backbone: stride-4 (8 channels) and stride-8 (16 channels) feature maps."""

    def __init__(self, with_spec: bool = True) -> None:
        super().__init__()
        self.down4 = nn.Sequential(nn.Conv2d(3, 8, kernel_size=4, stride=4), nn.ReLU())
        self.down8 = nn.Sequential(nn.Conv2d(8, 16, kernel_size=2, stride=2), nn.ReLU())
        if with_spec:
            self.feature_spec = FeatureSpec(names=("fine", "coarse"), channels=(8, 16), strides=(4, 8))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fine = self.down4(images)
        return fine, self.down8(fine)


class DeclaredNeck(nn.Module):
    """A hand-made neck that declares the inputs it expects."""

    def __init__(self, in_channels: tuple[int, ...], in_strides: tuple[int, ...]) -> None:
        super().__init__()
        self.in_channels, self.in_strides = in_channels, in_strides
        self.project = nn.Conv2d(in_channels[0], 4, kernel_size=1)
        self.feature_spec = FeatureSpec(("features",), (4,), (in_strides[0],))

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        return self.project(features[0])


# -- assembling from code ------------------------------------------------------------------------------------


def test_assemble_from_registry_names() -> None:
    model = assemble_model(
        backbone=SMALL_BACKBONE,
        neck="upsampling",
        tasks={"kind": {"task": "image_classification", "num_classes": 3, "targets": "label"}},
    )
    assert [path for path, _ in model.named_bricks()][:3] == ["preprocessor", "backbone", "neck"]
    outputs = model(train_batch(), groups="train")
    assert outputs["normalized"].shape == (2, 3, SIZE, SIZE)
    assert outputs["backbone/c2"].shape == (2, 64, SIZE // 4, SIZE // 4)
    assert outputs["backbone/c3"].shape == (2, 128, SIZE // 8, SIZE // 8)
    assert outputs["neck/features"].shape == (2, 64, SIZE // 4, SIZE // 4)
    assert outputs["kind/logits"].shape == (2, 3)
    # a global task reads the backbone's coarsest map, with its channels
    assert model["kind"]["head"].input_names == ["backbone/c3"]
    assert model["kind"]["head"].model.fc.in_features == 128


def test_assemble_a_dense_task_reads_the_neck_and_the_normalised_image() -> None:
    model = assemble_model(
        backbone=SMALL_BACKBONE,
        neck={"name": "upsampling", "out_channels": 16},
        tasks={"seg": {"task": "semantic_segmentation", "num_classes": 4, "targets": "segmentation", "hidden": 8}},
    )
    assert model["seg"]["head"].input_names == ["neck/features", "normalized"]
    outputs = model(train_batch(), groups="train")
    assert outputs["seg/logits"].shape == (2, 4, SIZE, SIZE)


def test_assemble_from_built_modules_and_a_custom_backbone() -> None:
    backbone = TinyBackbone()
    neck = upsampling(in_channels=(8, 16), in_strides=(4, 8), out_channels=8)
    model = assemble_model(
        backbone=backbone,
        neck=neck,
        preprocessor=None,
        tasks={
            "kind": {"task": "image_classification", "num_classes": 2, "targets": "label"},
            "centres": {"task": "point_detection", "num_classes": 2, "targets": "points", "hidden": 8},
        },
    )
    assert model["backbone"].model is backbone
    assert model["neck"].model is neck
    assert model["backbone"].input_names == ["images"]  # no preprocessor: the backbone reads the images
    assert model["kind"]["head"].input_names == ["backbone/coarse"]
    assert model["centres"]["head"].input_names == ["neck/features"]
    batch = {
        "images": images(),
        "label": torch.tensor([0, 1]),
        "points": torch.tensor([[[8.0, 8.0, 0.0]], [[20.0, 12.0, 1.0]]]),
    }
    outputs = model(batch, groups="train")
    assert outputs["centres/heatmap"].shape == (2, 2, SIZE // 4, SIZE // 4)
    model.extract_losses(outputs)["loss"].backward()
    assert backbone.down4[0].weight.grad is not None


def test_assemble_accepts_a_ready_dict_of_bricks_as_a_task() -> None:
    ready = tasks.image_classification(num_classes=2, features="backbone/c3", in_channels=128, targets="label")
    model = assemble_model(backbone=SMALL_BACKBONE, tasks={"custom": ready})
    outputs = model({"images": images(), "label": torch.tensor([0, 1])}, groups="train")
    assert outputs["custom/logits"].shape == (2, 2)
    assert sorted(model.extract_losses(outputs)) == ["loss"]
    torch.testing.assert_close(outputs["loss"], outputs["custom/loss"])


def test_assemble_with_a_preprocessor_dict() -> None:
    model = assemble_model(
        backbone=SMALL_BACKBONE,
        preprocessor={"name": "normalize", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]},
        tasks={"kind": {"task": "image_classification", "num_classes": 2}},
    )
    outputs = model({"images": torch.ones(1, 3, SIZE, SIZE)}, groups="inference")
    torch.testing.assert_close(outputs["normalized"], torch.ones(1, 3, SIZE, SIZE))


# -- interface errors ----------------------------------------------------------------------------------------


def test_dense_task_without_a_neck_on_a_stride_32_backbone() -> None:
    with pytest.raises(InterfaceMismatchError) as error:
        assemble_model(
            backbone={"name": "resnet18", "levels": [5]},
            tasks={"seg": {"task": "semantic_segmentation", "num_classes": 3}},
        )
    assert_error(error, "'seg'", "stride <= 16", "backbone/c5", "stride 32", "neck")


def test_task_configured_with_other_in_channels_than_its_features() -> None:
    with pytest.raises(InterfaceMismatchError) as error:
        assemble_model(
            backbone=SMALL_BACKBONE,
            tasks={"kind": {"task": "image_classification", "num_classes": 2, "in_channels": 100}},
        )
    assert_error(error, "'kind'", "in_channels=100", "backbone/c3", "in_channels=128")


def test_task_configured_with_another_stride_than_its_features() -> None:
    with pytest.raises(InterfaceMismatchError) as error:
        assemble_model(
            backbone=SMALL_BACKBONE,
            neck="upsampling",
            tasks={"seg": {"task": "semantic_segmentation", "num_classes": 2, "stride": 8}},
        )
    assert_error(error, "'seg'", "stride=8", "neck/features", "stride=4")


def test_task_configured_with_matching_in_channels_is_fine() -> None:
    model = assemble_model(
        backbone=SMALL_BACKBONE, tasks={"kind": {"task": "image_classification", "num_classes": 2, "in_channels": 128}}
    )
    assert model["kind"]["head"].model.fc.in_features == 128


def test_prebuilt_neck_whose_inputs_do_not_match_the_backbone() -> None:
    neck = upsampling(in_channels=(8, 16, 32, 64), in_strides=(4, 8, 16, 32))
    with pytest.raises(InterfaceMismatchError) as error:
        assemble_model(
            backbone="resnet18", neck=neck, tasks={"kind": {"task": "image_classification", "num_classes": 2}}
        )
    assert_error(error, "in_channels", "(8, 16, 32, 64)", "(64, 128, 256, 512)")


def test_prebuilt_custom_neck_declaring_other_inputs() -> None:
    neck = DeclaredNeck(in_channels=(8, 99), in_strides=(4, 8))
    with pytest.raises(InterfaceMismatchError) as error:
        assemble_model(
            backbone=TinyBackbone(), neck=neck, tasks={"kind": {"task": "image_classification", "num_classes": 2}}
        )
    assert_error(error, "DeclaredNeck", "in_channels=(8, 99)", "(8, 16)")
    strides = DeclaredNeck(in_channels=(8, 16), in_strides=(2, 8))
    with pytest.raises(InterfaceMismatchError, match=r"in_strides=\(2, 8\)"):
        assemble_model(
            backbone=TinyBackbone(), neck=strides, tasks={"kind": {"task": "image_classification", "num_classes": 2}}
        )


def test_backbone_module_without_a_feature_spec() -> None:
    with pytest.raises(InterfaceMismatchError) as error:
        assemble_model(
            backbone=TinyBackbone(with_spec=False), tasks={"kind": {"task": "image_classification", "num_classes": 2}}
        )
    assert_error(error, "TinyBackbone", "feature_spec")


def test_neck_module_without_a_feature_spec() -> None:
    class Bare(nn.Module):
        def forward(self, *features: torch.Tensor) -> torch.Tensor:
            return features[0]

    with pytest.raises(InterfaceMismatchError) as error:
        assemble_model(
            backbone=TinyBackbone(), neck=Bare(), tasks={"kind": {"task": "image_classification", "num_classes": 2}}
        )
    assert_error(error, "neck", "Bare", "feature_spec")


@pytest.mark.parametrize("reserved", RESERVED_NAMES)
def test_reserved_task_names(reserved: str) -> None:
    with pytest.raises(InterfaceMismatchError) as error:
        assemble_model(backbone=TinyBackbone(), tasks={reserved: {"task": "image_classification", "num_classes": 2}})
    assert_error(error, f"'{reserved}'", "reserved")


def test_loss_weighting_for_other_tasks() -> None:
    with pytest.raises(InterfaceMismatchError) as error:
        assemble_model(
            backbone=TinyBackbone(),
            tasks={
                "a": {"task": "image_classification", "num_classes": 2},
                "b": {"task": "image_classification", "num_classes": 2},
            },
            loss_weighting=FixedWeighting({"a": 1.0}),
        )
    assert_error(error, "FixedWeighting", "['a']", "['a', 'b']")


def test_interface_errors_are_torchbricks_and_value_errors() -> None:
    assert issubclass(InterfaceMismatchError, TorchBricksError)
    assert issubclass(InterfaceMismatchError, ValueError)


# -- the total loss ------------------------------------------------------------------------------------------


def two_task_batch() -> dict[str, torch.Tensor]:
    return {"images": images(), "a_label": torch.tensor([0, 1]), "b_label": torch.tensor([1, 1])}


TWO_TASKS = {
    "a": {"task": "image_classification", "num_classes": 2, "targets": "a_label"},
    "b": {"task": "image_classification", "num_classes": 2, "targets": "b_label"},
}


def test_extract_losses_returns_only_the_weighted_total() -> None:
    model = assemble_model(
        backbone=TinyBackbone(),
        tasks=TWO_TASKS,
        loss_weighting={"name": "fixed_weighting", "weights": {"a": 1.0, "b": 0.5}},
    )
    outputs = model(two_task_batch(), groups="train")
    losses = model.extract_losses(outputs)
    assert list(losses) == ["loss"]
    torch.testing.assert_close(losses["loss"], outputs["a/loss"] + 0.5 * outputs["b/loss"])
    assert model["total_loss"].input_names == ["a/loss", "b/loss"]


def test_default_weighting_sums_task_losses() -> None:
    model = assemble_model(backbone=TinyBackbone(), tasks=TWO_TASKS)
    outputs = model(two_task_batch(), groups="train")
    torch.testing.assert_close(model.extract_losses(outputs)["loss"], outputs["a/loss"] + outputs["b/loss"])


def test_without_loss_weighting_each_task_loss_is_extracted() -> None:
    model = assemble_model(backbone=TinyBackbone(), tasks=TWO_TASKS, loss_weighting=None)
    assert "total_loss" not in model
    outputs = model(two_task_batch(), groups="train")
    assert sorted(model.extract_losses(outputs)) == ["a/loss", "b/loss"]


def test_the_total_loss_is_not_needed_for_inference() -> None:
    model = assemble_model(backbone=TinyBackbone(), tasks=TWO_TASKS)
    assert model.required_inputs("inference") == ("images",)
    assert set(model.required_inputs("train")) == {"images", "a_label", "b_label"}


def test_uncertainty_weighting_is_learned_with_the_model() -> None:
    model = assemble_model(backbone=TinyBackbone(), tasks=TWO_TASKS, loss_weighting="uncertainty_weighting")
    weighting = model["total_loss"].model
    assert isinstance(weighting, UncertaintyWeighting)
    assert weighting.task_names == ("a", "b")
    assert any(parameter is weighting.log_variances for parameter in model.parameters())
    with torch.no_grad():
        weighting.log_variances.copy_(torch.tensor([0.5, -0.25]))
    outputs = model(two_task_batch(), groups="train")
    total = model.extract_losses(outputs)["loss"]
    expected = (
        torch.exp(torch.tensor(-0.5)) * outputs["a/loss"]
        + 0.5
        + torch.exp(torch.tensor(0.25)) * outputs["b/loss"]
        - 0.25
    )
    torch.testing.assert_close(total, expected)
    total.backward()
    assert weighting.log_variances.grad is not None
    assert bool((weighting.log_variances.grad != 0).all())


# -- configs -------------------------------------------------------------------------------------------------


def test_build_model_from_a_dict() -> None:
    config = small_config()
    model = build_model(config)
    assert model.config == resolve_config(config)
    assert config == small_config()  # the caller's dict is not changed
    outputs = model(train_batch(), groups="train")
    assert outputs["kind/logits"].shape == (2, 3)
    assert outputs["seg/logits"].shape == (2, 4, SIZE, SIZE)
    assert list(model.extract_losses(outputs)) == ["loss"]


def test_build_model_from_a_json_file(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(small_config()))
    model = build_model(path)
    assert model.config == resolve_config(small_config())
    assert build_model(str(path)).config == model.config


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_build_model_from_a_yaml_file(tmp_path: Path, suffix: str) -> None:
    yaml = pytest.importorskip("yaml")
    path = tmp_path / f"model{suffix}"
    path.write_text(yaml.safe_dump(small_config()))
    model = build_model(path)
    assert model.config == resolve_config(small_config())


def test_yaml_config_without_pyyaml_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.yaml"
    path.write_text("backbone: resnet18\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # `import yaml` now raises ImportError
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert_error(error, "model.yaml", "pip install pyyaml")


@pytest.mark.parametrize(
    ("name", "text", "culprit"),
    [
        ("model.txt", "{}", "must end in .json, .yaml or .yml"),
        ("model.json", "{not json", "is not valid JSON"),
        ("model.json", "[1, 2]", "must hold a mapping"),
    ],
)
def test_bad_config_files(tmp_path: Path, name: str, text: str, culprit: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        build_model(path)
    assert_error(error, name, culprit)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        build_model(tmp_path / "nowhere.json")
    assert_error(error, "nowhere.json", "Cannot read")


# -- every config error, with its path and a suggestion ------------------------------------------------------


def config_problems(config: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as error:
        resolve_config(config)
    return str(error.value)


def minimal(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "backbone": {"name": "resnet18", "levels": [5]},
        "tasks": {"shape": {"task": "image_classification", "num_classes": 3}},
    }
    config.update(changes)
    return config


def test_minimal_config_is_valid() -> None:
    assert resolve_config(minimal())["tasks"]["shape"]["num_classes"] == 3


def test_unknown_top_level_key() -> None:
    message = config_problems(minimal(neckk={"name": "fpn"}))
    assert "neckk: unknown key. Did you mean 'neck'?" in message
    assert message.startswith("1 problem(s)")


@pytest.mark.parametrize(
    ("key", "part", "path", "suggestion"),
    [
        ("backbone", "resnet19", "backbone.name", "Did you mean 'resnet18'"),
        ("backbone", {"name": "mobilenet_v3_smal"}, "backbone.name", "'mobilenet_v3_small'"),
        ("neck", "fpnn", "neck.name", "Did you mean 'fpn'?"),
        ("preprocessor", "normalise", "preprocessor.name", "Did you mean 'normalize'?"),
        ("loss_weighting", "uncertainty_weightin", "loss_weighting.name", "'uncertainty_weighting'"),
    ],
)
def test_unknown_part_names(key: str, part: Any, path: str, suggestion: str) -> None:
    message = config_problems(minimal(**{key: part}))
    assert f"{path}: " in message
    assert suggestion in message
    assert str(part if isinstance(part, str) else part["name"]) in message


def test_unknown_task_name() -> None:
    message = config_problems(minimal(tasks={"shape": {"task": "image_clasification", "num_classes": 3}}))
    assert "tasks.shape.task: " in message
    assert "'image_clasification'" in message
    assert "Did you mean 'image_classification'" in message


def test_unknown_argument_with_suggestion() -> None:
    message = config_problems(minimal(tasks={"shape": {"task": "image_classification", "num_clases": 3}}))
    assert "tasks.shape.num_clases: unknown argument. Did you mean 'num_classes'?" in message
    assert "tasks.shape.num_classes: missing required argument" in message


def test_unknown_argument_of_a_part() -> None:
    message = config_problems(minimal(backbone={"name": "resnet18", "level": [5]}))
    assert "backbone.level: unknown argument. Did you mean 'levels'?" in message


def test_assembler_supplied_arguments_are_not_offered_as_suggestions() -> None:
    message = config_problems(
        minimal(tasks={"shape": {"task": "image_classification", "num_classes": 3, "featurez": 1}})
    )
    accepted = message.split("Accepted: ")[1]
    assert "num_classes" in accepted
    assert "in_channels" not in accepted


def test_missing_required_argument() -> None:
    message = config_problems(minimal(tasks={"shape": {"task": "image_classification"}}))
    assert "tasks.shape.num_classes: missing required argument" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", "expected int, got str '3'"), (True, "expected int, got True"), (2.5, "expected int, got float 2.5")],
)
def test_wrong_argument_type(value: Any, expected: str) -> None:
    message = config_problems(minimal(tasks={"shape": {"task": "image_classification", "num_classes": value}}))
    assert f"tasks.shape.num_classes: {expected}" in message


def test_float_arguments_accept_integers() -> None:
    config = minimal(tasks={"shape": {"task": "image_classification", "num_classes": 3, "label_smoothing": 0}})
    assert resolve_config(config)["tasks"]["shape"]["label_smoothing"] == 0


def test_optional_arguments_accept_none() -> None:
    config = minimal(tasks={"shape": {"task": "image_classification", "num_classes": 3, "labelled": None}})
    assert resolve_config(config)["tasks"]["shape"]["labelled"] is None
    message = config_problems(
        minimal(tasks={"shape": {"task": "image_classification", "num_classes": 3, "labelled": 1}})
    )
    assert "tasks.shape.labelled: expected str or None, got int 1" in message


def test_missing_backbone() -> None:
    config = minimal()
    del config["backbone"]
    assert "backbone: missing" in config_problems(config)


@pytest.mark.parametrize("tasks_value", [{}, None, "image_classification"])
def test_empty_or_missing_tasks(tasks_value: Any) -> None:
    config = minimal(tasks=tasks_value)
    if tasks_value is None:
        del config["tasks"]
    assert "tasks: missing or empty" in config_problems(config)


def test_task_that_is_not_a_mapping_with_task() -> None:
    message = config_problems(minimal(tasks={"shape": {"num_classes": 3}}))
    assert "tasks.shape: must be a name or a mapping with 'task'" in message


@pytest.mark.parametrize("shape", [[3, 64], [3, 64, "64"], "3x64x64", [3, 64.0, 64], None])
def test_bad_input_shape(shape: Any) -> None:
    message = config_problems(minimal(input_shape=shape))
    assert "input_shape: must be [channels, height, width]" in message


def test_bad_image_name() -> None:
    assert "image: must be the name of the image input, got 5" in config_problems(minimal(image=5))


def test_bad_part_value() -> None:
    message = config_problems(minimal(backbone=5, preprocessor={"mean": [0.5]}))
    assert "backbone: must be a name or a mapping with 'name', got 5" in message
    assert "preprocessor: must be a name or a mapping with 'name'" in message


def test_several_problems_are_reported_at_once() -> None:
    config = {
        "backbone": "resnet19",
        "neckk": None,
        "tasks": {
            "shape": {"task": "image_classification", "num_clases": 3},
            "other": {"task": "image_classification", "num_classes": "2"},
        },
        "input_shape": [3, 64],
    }
    message = config_problems(config)
    lines = message.splitlines()
    assert lines[0] == "6 problem(s) in the model config:"
    for expected in (
        "neckk: unknown key",
        "backbone.name: ",
        "tasks.shape.num_clases: unknown argument",
        "tasks.shape.num_classes: missing required argument",
        "tasks.other.num_classes: expected int",
        "input_shape: must be",
    ):
        assert sum(expected in line for line in lines[1:]) == 1, expected


@pytest.fixture
def spy_backbone() -> Iterator[list[dict[str, Any]]]:
    """A locally registered backbone that records every call."""
    calls: list[dict[str, Any]] = []

    def spy(levels: list[int] | None = None) -> nn.Module:
        calls.append({"levels": levels})
        return TinyBackbone()

    registry.register("backbones", "tests_spy_backbone", spy)
    try:
        yield calls
    finally:
        registry.unregister("backbones", "tests_spy_backbone")


def test_config_errors_are_reported_before_anything_is_built(spy_backbone: list[dict[str, Any]]) -> None:
    config = {
        "backbone": "tests_spy_backbone",
        "tasks": {"shape": {"task": "image_classification", "num_clases": 3}},
    }
    with pytest.raises(ConfigError, match="num_clases"):
        build_model(config)
    assert spy_backbone == []
    config["tasks"]["shape"] = {"task": "image_classification", "num_classes": 3}
    build_model(config)
    assert len(spy_backbone) == 1


def test_config_errors_are_torchbricks_and_value_errors() -> None:
    assert issubclass(ConfigError, TorchBricksError)
    assert issubclass(ConfigError, ValueError)


def test_interface_errors_from_a_config() -> None:
    config = minimal(tasks={"seg": {"task": "semantic_segmentation", "num_classes": 3}})
    with pytest.raises(InterfaceMismatchError, match="'seg'"):
        build_model(config)


# -- resolve_config ------------------------------------------------------------------------------------------


def test_resolve_config_fills_defaults_and_qualified_names() -> None:
    resolved = resolve_config(minimal())
    assert resolved["backbone"] == {"name": "torchbricks:resnet18", "levels": [5], "weights": None}
    assert resolved["preprocessor"]["name"] == "torchbricks:normalize"
    assert resolved["preprocessor"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert resolved["neck"] is None
    assert resolved["loss_weighting"] == {"name": "torchbricks:fixed_weighting"}
    assert resolved["image"] == "images"
    assert resolved["input_shape"] == [3, 224, 224]
    task = resolved["tasks"]["shape"]
    assert task["task"] == "torchbricks:image_classification"
    assert task["num_classes"] == 3
    assert task["targets"] == "targets"
    assert task["label_smoothing"] == 0.0
    assert "in_channels" not in task  # supplied by the assembler
    assert "features" not in task
    assert set(resolved["packs"]) == {"torchbricks"}


def test_resolve_config_keeps_given_values_and_accepts_qualified_names() -> None:
    config = small_config(backbone={"name": "torchbricks:resnet18", "levels": [2, 3]})
    resolved = resolve_config(config)
    assert resolved["backbone"]["name"] == "torchbricks:resnet18"
    assert resolved["neck"] == {"name": "torchbricks:upsampling", "out_channels": 16}
    assert resolved["tasks"]["seg"]["hidden"] == 16
    assert resolved["input_shape"] == [3, SIZE, SIZE]


@pytest.mark.parametrize("config", [minimal(), small_config()])
def test_resolve_config_is_idempotent(config: dict[str, Any]) -> None:
    resolved = resolve_config(config)
    assert resolve_config(resolved) == resolved
    assert resolve_config(json.loads(json.dumps(resolved))) == resolved
    assert json.loads(json.dumps(resolved)) == resolved  # JSON-ready


def test_resolved_config_rebuilds_the_same_architecture() -> None:
    first = build_model(small_config())
    second = build_model(first.config)
    assert second.config == first.config
    assert [path for path, _ in first.named_bricks()] == [path for path, _ in second.named_bricks()]
    assert {key: value.shape for key, value in first.state_dict().items()} == {
        key: value.shape for key, value in second.state_dict().items()
    }


# -- saved model folders -------------------------------------------------------------------------------------


def trained_model(**changes: Any) -> BrickCollection:
    torch.manual_seed(0)
    model = build_model(small_config(**changes))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    outputs = model(train_batch(4), groups="train")
    model.extract_losses(outputs)["loss"].backward()
    optimizer.step()
    return model.eval()


def inference_outputs(model: BrickCollection) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        outputs = model({"images": images(3, seed=5)}, groups="inference")
    return {name: value for name, value in outputs.items() if isinstance(value, torch.Tensor)}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A trained model with learned loss weighting, saved; its outputs and state."""
    model = trained_model(loss_weighting={"name": "uncertainty_weighting"})
    with torch.no_grad():
        model["total_loss"].model.log_variances.copy_(torch.tensor([0.3, -0.7]))
    folder = save_model(model, tmp_path_factory.mktemp("saved") / "model")
    state = {key: value.clone() for key, value in model.state_dict().items()}
    return folder, inference_outputs(model), state


def test_saved_model_folder_holds_the_config_and_weights(saved) -> None:
    folder, _, _ = saved
    config = json.loads((folder / CONFIG_FILE).read_text())
    assert config == resolve_config(small_config(loss_weighting={"name": "uncertainty_weighting"}))
    assert "torchbricks" in config["packs"]
    weight_files = {
        path.relative_to(folder / WEIGHTS_FOLDER).as_posix() for path in (folder / WEIGHTS_FOLDER).rglob("*")
    }
    assert "backbone.safetensors" in weight_files
    assert "total_loss.safetensors" in weight_files


def test_save_load_round_trip_gives_identical_outputs(saved) -> None:
    folder, expected_outputs, expected_state = saved
    loaded = load_model(folder)
    assert not loaded.training
    actual = inference_outputs(loaded)
    assert actual.keys() == expected_outputs.keys()
    for name, value in expected_outputs.items():
        assert torch.equal(actual[name], value), name
    state = loaded.state_dict()
    assert state.keys() == expected_state.keys()
    for key, value in expected_state.items():
        assert torch.equal(state[key], value), key
    torch.testing.assert_close(loaded["total_loss"].model.log_variances.detach(), torch.tensor([0.3, -0.7]))


def test_a_loaded_model_trains_again(saved) -> None:
    loaded = load_model(saved[0])
    outputs = loaded.train()(train_batch(), groups="train")
    loaded.extract_losses(outputs)["loss"].backward()
    assert loaded["backbone"].model.stages[0][0].weight.grad is not None


def copy_saved(folder: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(folder, tmp_path / "copy"))


def edit_config(folder: Path, edit) -> None:
    path = folder / CONFIG_FILE
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


def test_load_model_names_a_missing_pack(saved, tmp_path: Path) -> None:
    folder = copy_saved(saved[0], tmp_path)
    edit_config(folder, lambda config: config["packs"].update({"torchbricks-nonexistent": "1.0"}))
    with pytest.raises(MissingPackError) as error:
        load_model(folder)
    assert_error(error, "torchbricks-nonexistent", "pip install torchbricks-nonexistent")
    assert "pip install torchbricks-nonexistent" in str(error.value)
    assert "pip install torchbricks " not in str(error.value)  # only the missing pack


def test_load_model_names_a_brick_that_no_longer_exists(saved, tmp_path: Path) -> None:
    folder = copy_saved(saved[0], tmp_path)
    edit_config(folder, lambda config: config["backbone"].update({"name": "torchbricks:resnet_gone"}))
    with pytest.raises(MissingPackError) as error:
        load_model(folder)
    assert_error(error, "resnet_gone", "backbone.name")


def test_load_model_names_an_unknown_pack_of_a_qualified_name(saved, tmp_path: Path) -> None:
    folder = copy_saved(saved[0], tmp_path)
    edit_config(folder, lambda config: config["neck"].update({"name": "otherpack:upsampling"}))
    with pytest.raises(MissingPackError) as error:
        load_model(folder)
    assert_error(error, "otherpack")


def test_load_model_of_a_folder_without_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_model(tmp_path)
    assert_error(error, str(tmp_path), CONFIG_FILE)


def test_save_model_needs_a_config() -> None:
    model = assemble_model(backbone=TinyBackbone(), tasks={"kind": {"task": "image_classification", "num_classes": 2}})
    with pytest.raises(ConfigError, match="save_bricks"):
        save_model(model, "unused")


def test_save_model_does_not_overwrite_unless_asked(saved) -> None:
    folder = saved[0]
    model = load_model(folder)
    with pytest.raises(WeightsFolderExistsError, match="exist_ok"):
        save_model(model, folder)
    assert save_model(model, folder, exist_ok=True) == folder


def test_save_model_keeps_the_config_of_the_model(tmp_path: Path) -> None:
    model = build_model(minimal())
    config_before = copy.deepcopy(model.config)
    save_model(model, tmp_path / "m")
    assert json.loads((tmp_path / "m" / CONFIG_FILE).read_text()) == config_before


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
    arguments = argparse.Namespace(config=str(config_file), graph=True, export=str(onnx_path), save=str(save_dir))
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
        run_build(argparse.Namespace(config=str(path), graph=False, export=None, save=None))


def test_cli_has_the_build_command(config_file: Path, tmp_path: Path, capsys) -> None:
    from torchbricks.cli import main

    assert main(["build", str(config_file), "--save", str(tmp_path / "saved")]) == 0
    assert "Built" in capsys.readouterr().out
    assert (tmp_path / "saved" / CONFIG_FILE).exists()
