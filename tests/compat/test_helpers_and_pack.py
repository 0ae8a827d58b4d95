"""The original's helper modules and bag-of-bricks names: bricks_helper, collection_utils, filter_brick_types,
ConcatenatePredictionAndTarget, create_backbone and SUPPORTED_BACKBONES, ImageClassifier.
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torchvision
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from bag_of_bricks import backbones as pack_backbones
from bag_of_bricks.custom_metrics import ConcatenatePredictionAndTarget
from torchbricks.bag_of_bricks import backbones, custom_metrics, image_classification
from torchbricks.brick_collection import BrickCollection
from torchbricks.brick_collection_utils import filter_brick_types
from torchbricks.bricks import BrickLoss, BrickMetrics, BrickNotTrainable, BrickTrainable
from torchbricks.errors import BrickDefinitionError, BrickOutputError, MissingInputsError

with warnings.catch_warnings():  # old paths outside the seed README's contract: they warn (test_old_paths.py)
    warnings.simplefilter("ignore", FutureWarning)
    from torchbricks.bricks_helper import (
        check_input_names,
        name_callable_outputs,
        named_input_and_outputs_callable,
        parse_argument_loss_output_name_indices,
        select_inputs_by_name,
    )
    from torchbricks.collection_utils import flatten_dict, unflatten

pytestmark = pytest.mark.usefixtures("single_thread")


# -- bricks_helper ------------------------------------------------------------------------------------------------


def add_subtract(value0: float, value1: float) -> tuple[float, float]:
    return value0 + value1, value0 - value1


def test_named_callable_with_positional_and_keyword_inputs() -> None:
    named_inputs = {"in0": 3, "in1": 1}
    positional = named_input_and_outputs_callable(add_subtract, named_inputs, ["in0", "in1"], ["out0", "out1"])
    keywords = named_input_and_outputs_callable(
        add_subtract, named_inputs, {"value1": "in1", "value0": "in0"}, ["out0", "out1"]
    )
    assert positional == keywords == {"out0": 4, "out1": 2}
    assert named_inputs == {"in0": 3, "in1": 1}


def test_named_callable_with_all_inputs() -> None:
    result = named_input_and_outputs_callable(lambda named: sorted(named), {"b": 1, "a": 2}, ["__all__"], ["names"])
    assert result == {"names": ["a", "b"]}


def test_named_callable_errors_name_the_problem() -> None:
    with pytest.raises(MissingInputsError, match="'not_a_name'"):
        named_input_and_outputs_callable(lambda value: value, {"in": 3}, ["not_a_name"], ["out"])
    with pytest.raises(BrickOutputError, match="2 output names"):
        named_input_and_outputs_callable(lambda value: value, {"in": torch.ones(1)}, ["in"], ["out0", "out1"])
    with pytest.raises(TypeError, match="not_a_parameter"):
        named_input_and_outputs_callable(lambda value: value, {"in": 3}, {"not_a_parameter": "in"}, ["out"])


def test_named_callable_without_gradients() -> None:
    weight = torch.ones(1, requires_grad=True)
    result = named_input_and_outputs_callable(lambda x: x * weight, {"x": torch.ones(1)}, ["x"], ["y"], False)
    assert not result["y"].requires_grad
    assert named_input_and_outputs_callable(lambda x: x * weight, {"x": torch.ones(1)}, ["x"], ["y"])["y"].requires_grad


def test_selecting_and_naming_helpers() -> None:
    assert select_inputs_by_name({"a": 1, "b": 2}, ["b", "a"]) == [2, 1]
    check_input_names({"a": 1}, ["a"])
    with pytest.raises(MissingInputsError, match=r"\['c'\]"):
        select_inputs_by_name({"a": 1}, ["a", "c"])
    assert name_callable_outputs((1, 2), ["x", "y"]) == {"x": 1, "y": 2}
    assert name_callable_outputs([1, 2], ["x"]) == {"x": [1, 2]}
    assert name_callable_outputs(None, []) == {}
    with pytest.raises(BrickOutputError):
        name_callable_outputs((1, 2), ["x"])


def test_loss_output_name_indices() -> None:
    outputs = ["logits", "loss_a", "loss_b"]
    assert parse_argument_loss_output_name_indices("all", outputs) == [0, 1, 2]
    assert parse_argument_loss_output_name_indices("none", outputs) == []
    assert parse_argument_loss_output_name_indices(["loss_b", "loss_a"], outputs) == [2, 1]
    with pytest.raises(BrickDefinitionError, match="loss_c"):
        parse_argument_loss_output_name_indices(["loss_c"], outputs)


# -- collection_utils, filter_brick_types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flat", "nested"),
    [
        ({"a": 12, "b": 13}, {"a": 12, "b": 13}),
        ({"a.b.c": 12}, {"a": {"b": {"c": 12}}}),
        ({"a.b.c": 12, "a": {"b.d": 13}}, {"a": {"b": {"c": 12, "d": 13}}}),
        ({"a.b": 12, "a": {"b": 13}}, {"a": {"b": 13}}),
        ({"a": {}}, {"a": {}}),
    ],
)
def test_unflatten_nests_separated_keys_and_merges(flat: dict, nested: dict) -> None:
    assert unflatten(flat, sep=".") == nested


def test_unflatten_uses_slashes_by_default_and_fills_the_base() -> None:
    base: dict = {"head0": {"loss": 1}}
    assert unflatten({"head0/logits": 2}, base) is base
    assert base == {"head0": {"loss": 1, "logits": 2}}


def nested_model() -> BrickCollection:
    return BrickCollection(
        {
            "backbone": BrickTrainable(nn.Identity(), ["x"], ["features"]),
            "head": {
                "classify": BrickTrainable(nn.Identity(), ["../features"], ["./logits"]),
                "loss": BrickLoss(nn.L1Loss(), ["./logits", "target"], ["./l1"]),
            },
        }
    )


def test_flatten_dict_joins_nested_brick_names() -> None:
    model = nested_model()
    flat = flatten_dict(model)
    assert list(flat) == ["backbone", "head.classify", "head.loss"]
    assert flat["head.loss"] is model["head"]["loss"]
    assert list(flatten_dict(model, sep="/")) == [path for path, _ in model.named_bricks()]


def test_filter_brick_types_returns_a_nested_dict_and_leaves_the_collection() -> None:
    model = nested_model()
    assert filter_brick_types(model, BrickLoss) == {"head": {"loss": model["head"]["loss"]}}
    assert filter_brick_types(model, BrickMetrics) == {"head": {}}
    assert list(model["head"]) == ["classify", "loss"]
    trainable = filter_brick_types(model, (BrickTrainable,))
    assert trainable == {"backbone": model["backbone"], "head": {"classify": model["head"]["classify"]}}


# -- custom metrics -------------------------------------------------------------------------------------------------


def test_concatenate_prediction_and_target_collects_every_batch() -> None:
    assert custom_metrics.ConcatenatePredictionAndTarget is ConcatenatePredictionAndTarget
    metrics = MetricCollection(
        {
            "Accuracy": MulticlassAccuracy(num_classes=3, average="micro"),
            "Concatenate": ConcatenatePredictionAndTarget(compute_on_cpu=True),
        }
    )
    model = BrickCollection({"metrics": BrickMetrics(metrics, input_names=["predictions", "labels"])})
    model({"predictions": torch.tensor([0, 1]), "labels": torch.tensor([0, 2])})
    model({"predictions": torch.tensor([2]), "labels": torch.tensor([2])})
    summary = model.summarize(reset=True)
    predictions, targets = summary["Concatenate"]
    assert predictions.tolist() == [0, 1, 2]
    assert targets.tolist() == [0, 2, 2]
    assert summary["Accuracy"].item() == pytest.approx(2 / 3)


def test_concatenate_prediction_and_target_needs_equal_batch_sizes() -> None:
    with pytest.raises(ValueError, match="batch size"):
        ConcatenatePredictionAndTarget().update(torch.zeros(2), torch.zeros(3))


# -- backbones, image classification --------------------------------------------------------------------------------


def test_supported_backbones_are_torchvision_resnets() -> None:
    assert backbones.SUPPORTED_BACKBONES is pack_backbones.SUPPORTED_BACKBONES
    assert backbones.SUPPORTED_BACKBONES == backbones.SUPPORTED_RESNET_BACKBONES
    assert {"resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2"} <= set(backbones.SUPPORTED_BACKBONES)
    assert all(hasattr(torchvision.models, name) for name in backbones.SUPPORTED_BACKBONES)


@pytest.mark.parametrize(("name", "features"), [("resnet18", 512), ("resnet50", 2048)])
def test_create_backbone_gives_the_final_feature_map(name: str, features: int) -> None:
    backbone = backbones.create_backbone(name=name, pretrained=False)
    output = backbone(torch.rand(1, 3, 50, 100))
    assert backbone.n_backbone_features == output.shape[1] == features


def test_create_backbone_small_keeps_more_resolution() -> None:
    small = backbones.create_backbone("resnet18", pretrained=False, small=True)
    assert small(torch.rand(1, 3, 32, 32)).shape[-2:] == (4, 4)


def test_create_backbone_refuses_unknown_names_and_downloads() -> None:
    with pytest.raises(ValueError, match="resnet18"):
        backbones.create_backbone("resnet19", pretrained=False)
    with pytest.raises(ValueError, match="never"):
        backbones.create_backbone("resnet18", pretrained=True)


def test_resnet_to_brick_and_image_classifier() -> None:
    brick = backbones.resnet_to_brick(torchvision.models.resnet18(weights=None), input_name="image", output_name="f")
    features = brick({"image": torch.rand(2, 3, 64, 64)})["f"]
    assert brick.model.n_backbone_features == features.shape[1]
    classifier = image_classification.ImageClassifier(num_classes=4, n_features=512)
    logits, probabilities, classes = classifier(features)
    assert logits.shape == probabilities.shape == (2, 4)
    assert classes.shape == (2,)
    pooled = image_classification.ImageClassifier(num_classes=4, n_features=5, use_average_pooling=False)
    assert pooled(torch.zeros(2, 5))[0].shape == (2, 4)


def test_a_frozen_brick_keeps_its_module_in_eval_mode() -> None:
    brick = BrickNotTrainable(nn.BatchNorm1d(3), input_names=["x"], output_names=["y"])
    brick.train()
    assert not brick.model.training
