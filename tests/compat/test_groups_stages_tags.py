"""Groups and stages under their 0.3.0 names (``brick_group``, ``model_stage``) and their 0.4.2 names (``tags``)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from torchbricks import Stage
from torchbricks.brick_collection import BrickCollection
from torchbricks.bricks import (
    BrickLoss,
    BrickMetrics,
    BrickMetricSingle,
    BrickModule,
    BrickNotTrainable,
    BrickTrainable,
)
from torchbricks.errors import BrickDefinitionError, InvalidGroupsError
from torchbricks.visualization import BrickPerImageVisualization

with warnings.catch_warnings():  # old paths outside the seed README's contract: they warn (test_old_paths.py)
    warnings.simplefilter("ignore", FutureWarning)
    from torchbricks import brick_group, brick_tags, model_stage
    from torchbricks.brick_group import BrickGroup
    from torchbricks.bricks import Tag

pytestmark = pytest.mark.usefixtures("single_thread")

STANDARD = ("MODEL", "LOSS", "METRIC", "METRIC_EXTRA", "VISUALIZATION")


@pytest.mark.parametrize("name", STANDARD)
def test_group_names_are_their_own_strings_under_every_original_name(name: str) -> None:
    assert getattr(brick_group, name) == name
    assert getattr(BrickGroup, name) == name
    assert getattr(Tag, name) == name
    assert getattr(brick_tags.Tag, name) == name


def test_model_stage_is_the_project_stage_with_the_original_members() -> None:
    assert model_stage.ModelStage is Stage is brick_tags.ModelStage
    assert {stage.name: stage.value for stage in model_stage.ModelStage} == {
        "TRAIN": "train",
        "VALIDATION": "validation",
        "TEST": "test",
        "INFERENCE": "inference",
        "EXPORT": "export",
    }


def test_the_stage_group_sets_are_the_originals() -> None:
    assert sorted(model_stage.TRAINING) == ["LOSS", "METRIC", "MODEL"]
    assert sorted(model_stage.VALIDATION) == ["LOSS", "METRIC", "MODEL"]
    assert sorted(model_stage.TEST) == ["LOSS", "METRIC", "METRIC_EXTRA", "MODEL"]
    assert sorted(model_stage.EXPORT) == sorted(model_stage.INFERENCE) == ["MODEL"]
    for name in ("TRAINING", "VALIDATION", "TEST", "EXPORT", "INFERENCE"):
        assert getattr(brick_tags, name) == getattr(model_stage, name)


def test_default_stage_tables_are_keyed_by_value_then_0_4_2_by_name() -> None:
    assert model_stage.DEFAULT_MODEL_STAGE_GROUPS == {
        "train": model_stage.TRAINING,
        "validation": model_stage.VALIDATION,
        "test": model_stage.TEST,
        "export": model_stage.EXPORT,
        "inference": model_stage.INFERENCE,
    }
    by_name = {stage.name: stage.groups for stage in Stage}
    assert dict(brick_tags.DEFAULT_MODEL_STAGE_TAGS) == by_name


def staged_model() -> BrickCollection:
    return BrickCollection(
        {
            "model": BrickTrainable(nn.Identity(), input_names=["x"], output_names=["y"]),
            "loss": BrickLoss(nn.L1Loss(), input_names=["y", "target"], output_names=["l1"]),
            "expensive": BrickModule(
                lambda y: y.sum(), input_names=["y"], output_names=["total"], group=brick_group.METRIC_EXTRA
            ),
        }
    )


@pytest.mark.parametrize(
    ("groups", "written"),
    [
        (model_stage.INFERENCE, {"y"}),
        (model_stage.TRAINING, {"y", "l1"}),
        (model_stage.TEST, {"y", "l1", "total"}),
        (model_stage.ModelStage.TEST, {"y", "l1", "total"}),
        ("test", {"y", "l1", "total"}),
    ],
)
def test_a_stage_set_selects_the_bricks_of_its_groups(groups: Any, written: set[str]) -> None:
    outputs = staged_model()({"x": torch.ones(2), "target": torch.zeros(2)}, groups=groups, return_inputs=False)
    assert set(outputs) == written


# -- tags= (0.4.2) ---------------------------------------------------------------------------------------------


def all_brick_kinds(**group: Any) -> dict[str, Any]:
    return {
        "module": BrickModule(nn.Identity(), ["x"], ["a"], **group),
        "trainable": BrickTrainable(nn.Identity(), ["x"], ["b"], **group),
        "not_trainable": BrickNotTrainable(nn.Identity(), ["x"], ["c"], **group),
        "loss": BrickLoss(nn.L1Loss(), ["x", "x"], ["d"], **group),
        "metrics": BrickMetrics({"acc": MulticlassAccuracy(num_classes=2)}, ["x", "x"], **group),
        "metric": BrickMetricSingle(MulticlassAccuracy(num_classes=2), ["x", "x"], **group),
        "visualization": BrickPerImageVisualization(lambda x: x, ["x"], ["e"], **group),
    }


@pytest.mark.parametrize("kind", sorted(all_brick_kinds()))
def test_every_brick_takes_tags_as_a_synonym_of_groups(kind: str) -> None:
    tagged = all_brick_kinds(tags={"DEBUG", Tag.MODEL})[kind]
    grouped = all_brick_kinds(groups={"DEBUG", "MODEL"})[kind]
    assert tagged.groups == grouped.groups == {"DEBUG", "MODEL"}
    assert tagged.tags == tagged.groups
    assert all_brick_kinds(tags=Tag.LOSS)[kind].groups == {"LOSS"}


@pytest.mark.parametrize("other", [{"group": "MODEL"}, {"groups": ["MODEL"]}])
def test_tags_with_group_or_groups_is_an_error(other: dict[str, Any]) -> None:
    with pytest.raises(BrickDefinitionError, match="tags"):
        BrickTrainable(nn.Identity(), ["x"], ["y"], tags=["LOSS"], **other)


def test_a_brick_tags_attribute_can_be_set() -> None:
    brick = BrickTrainable(nn.Identity(), ["x"], ["y"])
    brick.tags = {"AUX"}
    assert brick.groups == {"AUX"}


def test_forward_and_sub_collection_take_tags() -> None:
    model = staged_model()
    named_inputs = {"x": torch.ones(2), "target": torch.zeros(2)}
    assert set(model(named_inputs, tags={Tag.MODEL}, return_inputs=False)) == {"y"}
    assert set(model(named_inputs, tags=brick_tags.TEST, return_inputs=False)) == {"y", "l1", "total"}
    assert list(model.sub_collection(tags={Tag.MODEL, Tag.LOSS})) == ["model", "loss"]
    with pytest.raises(InvalidGroupsError, match="tags"):
        model(named_inputs, groups={"MODEL"}, tags={"MODEL"})
    with pytest.raises(InvalidGroupsError, match="tags"):
        model.sub_collection(groups={"MODEL"}, tags={"MODEL"})


def test_export_bricks_as_onnx_takes_tags(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from torchbricks.brick_collection_utils import export_bricks_as_onnx

    model = BrickCollection(
        {
            "linear": BrickTrainable(nn.Linear(3, 2), ["x"], ["y"]),
            "aux": BrickTrainable(nn.Linear(3, 4), ["x"], ["z"], tags="AUX"),
        }
    )
    import onnx

    path = export_bricks_as_onnx(tmp_path / "aux.onnx", model, {"x": torch.rand(2, 3)}, tags={"AUX"})
    assert [output.name for output in onnx.load(path).graph.output] == ["z"]
