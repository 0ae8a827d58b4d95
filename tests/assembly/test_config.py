"""Model configs: building from dicts and files, every config error with its path and a suggestion, resolve_config."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from torch import nn

from tests.helpers.configs import SIZE, assert_error, minimal, small_config, train_batch
from tests.helpers.modules import TinyBackbone
from torchbricks import registry
from torchbricks.assembly import (
    build_model,
    load_config,
    resolve_config,
)
from torchbricks.errors import (
    ConfigError,
    InterfaceMismatchError,
    TorchBricksError,
)

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
    assert_error(error, "model.yaml", "pip install 'torchbricks[yaml]'")


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


def test_a_train_config_given_as_a_model_config_is_named_as_such() -> None:
    from torchbricks.errors import ConfigError

    train_config = {"model": {"backbone": "resnet18", "tasks": {}}, "data": {"train": "shapes"}, "trainer": {}}
    with pytest.raises(ConfigError, match=r"This is a train config .*its `model:` section.*torchbricks train"):
        resolve_config(train_config)
