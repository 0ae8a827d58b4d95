"""Assembling multi-task models from code: registry names, built modules, interface checks and the total loss."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bag_of_bricks import tasks
from bag_of_bricks.losses import FixedWeighting, UncertaintyWeighting
from bag_of_bricks.necks import upsampling
from tests.helpers.configs import SIZE, SMALL_BACKBONE, assert_error, images, train_batch
from tests.helpers.modules import DeclaredNeck, TinyBackbone
from torchbricks.assembly import (
    RESERVED_NAMES,
    assemble_model,
)
from torchbricks.errors import (
    InterfaceMismatchError,
    TorchBricksError,
)

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
