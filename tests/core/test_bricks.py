"""Brick-level behaviour: names, groups, training flags, stages, standalone calls and definition errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from tests.helpers.modules import ClassifierDummy, TinyModel
from torchbricks import BrickCollection
from torchbricks.bricks import (
    BrickLoss,
    BrickMetrics,
    BrickMetricSingle,
    BrickNotTrainable,
    BrickTrainable,
)
from torchbricks.errors import BrickDefinitionError, CollectionBuildError
from torchbricks.groups import Stage


class Subtract(nn.Module):
    def forward(self, minuend: torch.Tensor, subtrahend: torch.Tensor) -> torch.Tensor:
        return minuend - subtrahend


class Scale(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor * self.factor


class PredictionWithAuxLoss(nn.Module):
    def forward(self, tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return tensor * 2, tensor.abs().mean()


def accuracy_metric() -> MulticlassAccuracy:
    return MulticlassAccuracy(num_classes=3)


# -- input names ------------------------------------------------------------------------------------------------


def test_list_input_names_are_passed_positionally() -> None:
    brick = BrickTrainable(Subtract(), input_names=["x", "y"], output_names=["difference"])

    outputs = brick({"x": torch.tensor(5.0), "y": torch.tensor(2.0)})

    assert outputs["difference"].item() == 3.0


def test_dict_input_names_map_parameters_to_data_names() -> None:
    brick = BrickTrainable(Subtract(), input_names={"subtrahend": "x", "minuend": "y"}, output_names=["difference"])

    outputs = brick({"x": torch.tensor(5.0), "y": torch.tensor(2.0)})

    assert outputs["difference"].item() == -3.0


def test_dict_input_names_work_inside_a_collection() -> None:
    collection = BrickCollection(
        {
            "doubler": BrickTrainable(Scale(2.0), input_names=["x"], output_names=["doubled"]),
            "subtract": BrickTrainable(
                Subtract(), input_names={"minuend": "doubled", "subtrahend": "x"}, output_names=["difference"]
            ),
        }
    )

    outputs = collection({"x": torch.tensor(3.0)})

    assert outputs["difference"].item() == 3.0


# -- groups -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("brick", "expected_groups"),
    [
        pytest.param(BrickTrainable(nn.Identity(), ["x"], ["y"]), {"MODEL"}, id="BrickTrainable"),
        pytest.param(BrickNotTrainable(nn.Identity(), ["x"], ["y"]), {"MODEL"}, id="BrickNotTrainable"),
        pytest.param(BrickLoss(nn.MSELoss(), ["x", "y"], ["loss"]), {"LOSS"}, id="BrickLoss"),
        pytest.param(BrickMetrics({"acc": accuracy_metric()}, ["x", "y"]), {"METRIC"}, id="BrickMetrics"),
        pytest.param(BrickMetricSingle(accuracy_metric(), ["x", "y"]), {"METRIC"}, id="BrickMetricSingle"),
    ],
)
def test_default_group_depends_on_brick_type(brick: nn.Module, expected_groups: set[str]) -> None:
    assert brick.groups == expected_groups


def typed_collection() -> BrickCollection:
    """One brick of each kind, with default groups."""
    return BrickCollection(
        {
            "head": BrickTrainable(
                ClassifierDummy(num_classes=3, in_features=2),
                input_names=["features"],
                output_names=["logits", "probs"],
            ),
            "predict": BrickNotTrainable(
                lambda probs: probs.argmax(dim=1), input_names=["probs"], output_names=["pred"]
            ),
            "loss": BrickLoss(nn.CrossEntropyLoss(), input_names=["logits", "targets"], output_names=["loss_ce"]),
            "accuracy": BrickMetricSingle(accuracy_metric(), input_names=["pred", "targets"]),
            "draw": BrickNotTrainable(
                lambda pred: pred.float(), input_names=["pred"], output_names=["drawing"], group="VISUALIZATION"
            ),
        }
    )


def typed_inputs() -> dict[str, torch.Tensor]:
    return {"features": torch.rand(4, 2, 3, 3), "targets": torch.tensor([0, 1, 2, 0])}


def test_model_group_runs_only_model_bricks() -> None:
    collection = typed_collection()

    outputs = collection(typed_inputs(), groups={"MODEL"})

    assert collection.execution_order({"MODEL"}) == ["head", "predict"]
    assert sorted(set(outputs) - set(typed_inputs())) == ["logits", "pred", "probs"]
    assert collection["accuracy"].metrics["MulticlassAccuracy"].update_count == 0


def test_metric_group_updates_metrics() -> None:
    collection = typed_collection()

    collection(typed_inputs(), groups={"MODEL", "METRIC"})

    assert collection["accuracy"].metrics["MulticlassAccuracy"].update_count == 1
    assert "loss_ce" not in collection.output_names({"MODEL", "METRIC"})


def multi_group_collection() -> BrickCollection:
    return BrickCollection(
        {
            "head": BrickTrainable(nn.Linear(2, 2), input_names=["x"], output_names=["logits"]),
            "show": BrickNotTrainable(
                Scale(10.0), input_names=["x"], output_names=["shown"], groups={"MODEL", "VISUALIZATION"}
            ),
            "loss": BrickLoss(nn.MSELoss(), input_names=["logits", "x"], output_names=["loss"]),
        }
    )


@pytest.mark.parametrize("groups", [{"MODEL"}, {"VISUALIZATION"}, {"MODEL", "VISUALIZATION"}])
def test_brick_in_several_groups_runs_when_any_is_requested(groups: set[str]) -> None:
    outputs = multi_group_collection()({"x": torch.ones(1, 2)}, groups=groups)

    torch.testing.assert_close(outputs["shown"], torch.full((1, 2), 10.0))


def test_brick_in_several_groups_is_skipped_when_none_is_requested() -> None:
    collection = multi_group_collection()

    assert collection["show"].groups == {"MODEL", "VISUALIZATION"}
    assert collection.execution_order({"LOSS"}) == ["loss"]


def test_group_and_groups_together_are_an_error() -> None:
    with pytest.raises(BrickDefinitionError, match=r"group='MODEL'.*groups=\{'LOSS'\}"):
        BrickTrainable(nn.Identity(), ["x"], ["y"], group="MODEL", groups={"LOSS"})


def test_group_accepts_several_names() -> None:
    brick = BrickTrainable(nn.Identity(), ["x"], ["y"], group=["MODEL", "VISUALIZATION"])

    assert brick.groups == {"MODEL", "VISUALIZATION"}


# -- trainable / not trainable ---------------------------------------------------------------------------------------


def batch_norm_collection() -> BrickCollection:
    return BrickCollection(
        {
            "frozen": BrickNotTrainable(nn.BatchNorm1d(3), input_names=["x"], output_names=["frozen_out"]),
            "trained": BrickTrainable(nn.BatchNorm1d(3), input_names=["x"], output_names=["trained_out"]),
        }
    )


def test_not_trainable_freezes_parameters() -> None:
    brick = BrickNotTrainable(TinyModel(n_channels=3, n_features=4), input_names=["x"], output_names=["y"])

    assert [parameter.requires_grad for parameter in brick.parameters()] == [False, False]


def test_trainable_keeps_parameters_trainable() -> None:
    brick = BrickTrainable(TinyModel(n_channels=3, n_features=4), input_names=["x"], output_names=["y"])

    assert [parameter.requires_grad for parameter in brick.parameters()] == [True, True]


def test_not_trainable_model_stays_in_eval_mode_after_train() -> None:
    collection = batch_norm_collection()

    collection.train()

    assert collection.training
    assert not collection["frozen"].model.training
    assert collection["trained"].model.training


def test_not_trainable_batch_norm_statistics_do_not_drift_in_train_mode() -> None:
    collection = batch_norm_collection().train()
    frozen_mean = collection["frozen"].model.running_mean.clone()
    trained_mean = collection["trained"].model.running_mean.clone()
    x = torch.randn(8, 3) + 5.0

    outputs = collection({"x": x})

    assert torch.equal(collection["frozen"].model.running_mean, frozen_mean)
    assert not torch.equal(collection["trained"].model.running_mean, trained_mean)
    # In eval mode with default statistics (mean 0, var 1) batch norm is (almost) the identity.
    torch.testing.assert_close(outputs["frozen_out"], x / (1 + 1e-5) ** 0.5)


def test_calculate_gradients_false_runs_without_gradients() -> None:
    brick = BrickTrainable(nn.Linear(3, 2), input_names=["x"], output_names=["y"], calculate_gradients=False)
    x = torch.rand(4, 3, requires_grad=True)

    outputs = BrickCollection({"linear": brick})({"x": x})

    assert any(parameter.requires_grad for parameter in brick.parameters())
    assert not outputs["y"].requires_grad


def test_calculate_gradients_false_also_applies_to_a_standalone_brick() -> None:
    brick = BrickTrainable(nn.Linear(3, 2), input_names=["x"], output_names=["y"], calculate_gradients=False)

    outputs = brick({"x": torch.rand(4, 3, requires_grad=True)})

    assert not outputs["y"].requires_grad


def test_gradients_flow_through_not_trainable_brick_to_earlier_trainable_brick() -> None:
    collection = BrickCollection(
        {
            "encoder": BrickTrainable(nn.Linear(3, 3), input_names=["x"], output_names=["encoded"]),
            "frozen": BrickNotTrainable(nn.Linear(3, 2), input_names=["encoded"], output_names=["y"]),
        }
    )

    collection({"x": torch.rand(4, 3)})["y"].sum().backward()

    encoder, frozen = collection["encoder"].model, collection["frozen"].model
    assert encoder.weight.grad is not None
    assert encoder.weight.grad.abs().sum() > 0
    assert frozen.weight.grad is None


def test_not_trainable_with_calculate_gradients_false_blocks_gradients() -> None:
    collection = BrickCollection(
        {
            "encoder": BrickTrainable(nn.Linear(3, 3), input_names=["x"], output_names=["encoded"]),
            "frozen": BrickNotTrainable(
                nn.Linear(3, 2), input_names=["encoded"], output_names=["y"], calculate_gradients=False
            ),
        }
    )

    outputs = collection({"x": torch.rand(4, 3)})

    assert outputs["encoded"].requires_grad
    assert not outputs["y"].requires_grad


# -- losses --------------------------------------------------------------------------------------------------------


def test_loss_output_names_mark_outputs_of_other_bricks_as_losses() -> None:
    collection = BrickCollection(
        {
            "head": BrickTrainable(
                PredictionWithAuxLoss(),
                input_names=["x"],
                output_names=["prediction", "aux_loss"],
                loss_output_names=["aux_loss"],
            ),
            "loss": BrickLoss(nn.MSELoss(), input_names=["prediction", "target"], output_names=["loss_mse"]),
        }
    )
    x = torch.tensor([1.0, -3.0])
    outputs = collection({"x": x, "target": torch.zeros(2)})

    losses = collection.extract_losses(outputs)

    assert sorted(losses) == ["aux_loss", "loss_mse"]
    assert losses["aux_loss"].item() == 2.0
    assert losses["loss_mse"].item() == 20.0


def test_loss_output_names_all_marks_every_output() -> None:
    brick = BrickTrainable(PredictionWithAuxLoss(), ["x"], ["prediction", "aux_loss"], loss_output_names="all")

    assert brick.loss_output_names == ["prediction", "aux_loss"]


def test_brick_loss_outputs_are_losses_by_default() -> None:
    brick = BrickLoss(nn.MSELoss(), input_names=["a", "b"], output_names=["loss_mse"])

    assert brick.loss_output_names == ["loss_mse"]


def test_unknown_loss_output_name_is_an_error() -> None:
    with pytest.raises(BrickDefinitionError, match="aux_los") as error:
        BrickTrainable(PredictionWithAuxLoss(), ["x"], ["prediction", "aux_loss"], loss_output_names=["aux_los"])

    assert "'aux_loss'" in str(error.value)


def test_extract_losses_resolves_relative_loss_names_in_nested_collections() -> None:
    collection = BrickCollection(
        {
            "task": {
                "head": BrickTrainable(
                    PredictionWithAuxLoss(), ["x"], ["./prediction", "./aux_loss"], loss_output_names=["./aux_loss"]
                )
            }
        }
    )

    outputs = collection({"x": torch.tensor([2.0])})

    assert list(collection.extract_losses(outputs)) == ["task/aux_loss"]


# -- stages ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "expected_order"),
    [
        pytest.param(Stage.TRAIN, ["head", "predict", "loss", "accuracy"], id="Stage.TRAIN"),
        pytest.param("train", ["head", "predict", "loss", "accuracy"], id="train"),
        pytest.param(Stage.VALIDATION, ["head", "predict", "loss", "accuracy"], id="Stage.VALIDATION"),
        pytest.param("test", ["head", "predict", "loss", "accuracy"], id="test"),
        pytest.param("inference", ["head", "predict"], id="inference"),
        pytest.param(Stage.INFERENCE, ["head", "predict"], id="Stage.INFERENCE"),
        pytest.param(Stage.EXPORT, ["head", "predict"], id="Stage.EXPORT"),
    ],
)
def test_stage_presets_select_bricks(stage: Stage | str, expected_order: list[str]) -> None:
    assert typed_collection().execution_order(stage) == expected_order


def test_inference_stage_needs_no_targets() -> None:
    collection = typed_collection()

    outputs = collection({"features": torch.rand(2, 2, 3, 3)}, groups="inference")

    assert collection.required_inputs("inference") == ("features",)
    assert collection.required_inputs(Stage.TRAIN) == ("features", "targets")
    assert "loss_ce" not in outputs
    assert "pred" in outputs


def test_train_stage_runs_loss_and_metrics_but_not_visualization() -> None:
    collection = typed_collection()

    outputs = collection(typed_inputs(), groups=Stage.TRAIN)

    assert "loss_ce" in outputs
    assert "drawing" not in outputs
    assert collection["accuracy"].metrics["MulticlassAccuracy"].update_count == 1


# -- standalone bricks --------------------------------------------------------------------------------------------


def test_standalone_brick_returns_only_its_outputs() -> None:
    brick = BrickTrainable(ClassifierDummy(num_classes=3, in_features=2), ["features"], ["logits", "probs"])
    features = torch.rand(4, 2, 3, 3)

    outputs = brick({"features": features, "unrelated": 1})

    expected_logits, expected_probs = brick.model(features)
    assert list(outputs) == ["logits", "probs"]
    torch.testing.assert_close(outputs["logits"], expected_logits)
    torch.testing.assert_close(outputs["probs"], expected_probs)


def test_standalone_brick_resolves_relative_names_at_top_level() -> None:
    brick = BrickTrainable(Scale(3.0), input_names=["./x"], output_names=["./y"])

    assert brick({"x": torch.tensor(2.0)}) == {"y": torch.tensor(6.0)}


def test_standalone_metric_brick_updates_its_metric() -> None:
    brick = BrickMetricSingle(MulticlassAccuracy(num_classes=3, average="micro"), input_names=["pred", "target"])

    outputs = brick({"pred": torch.tensor([0, 1, 2, 2]), "target": torch.tensor([0, 1, 1, 1])})

    assert outputs == {}
    torch.testing.assert_close(brick.summarize(reset=True), {"MulticlassAccuracy": torch.tensor(0.5)})


# -- definition errors ----------------------------------------------------------------------------------------------


def test_input_names_as_a_string_suggests_a_list() -> None:
    with pytest.raises(BrickDefinitionError, match=r"BrickTrainable.*did you mean \['raw'\]\?"):
        BrickTrainable(nn.Identity(), input_names="raw", output_names=["y"])


def test_output_names_as_a_string_suggests_a_list() -> None:
    with pytest.raises(BrickDefinitionError, match=r"did you mean \['y'\]\?"):
        BrickTrainable(nn.Identity(), input_names=["x"], output_names="y")


def test_all_inputs_mixed_with_other_names_passes_the_dict_at_its_position() -> None:
    """torchbricks 0.3 allows ``["raw", "__all__"]``: the named value, then the dict of all named data."""
    brick = BrickNotTrainable(
        lambda raw, everything: (raw, sorted(everything)),
        input_names=["raw", "__all__"],
        output_names=["raw_again", "names"],
    )
    outputs = BrickCollection({"brick": brick})({"raw": 1, "other": 2})
    assert outputs["raw_again"] == 1
    assert outputs["names"] == ["other", "raw"]


def test_duplicate_output_names_are_an_error() -> None:
    with pytest.raises(BrickDefinitionError, match=r"repeats \['logits'\]"):
        BrickTrainable(nn.Identity(), input_names=["x"], output_names=["logits", "probs", "logits"])


def test_non_callable_model_is_an_error() -> None:
    with pytest.raises(BrickDefinitionError, match="BrickNotTrainable needs a callable model, got int"):
        BrickNotTrainable(42, input_names=["x"], output_names=["y"])


def test_brick_metrics_output_names_without_return_metrics_is_an_error() -> None:
    with pytest.raises(BrickDefinitionError, match="return_metrics") as error:
        BrickMetrics(
            MetricCollection({"acc": accuracy_metric()}), input_names=["pred", "target"], output_names=["acc_value"]
        )

    assert "acc_value" in str(error.value)


def test_brick_metric_single_output_names_without_return_metrics_is_an_error() -> None:
    with pytest.raises(BrickDefinitionError, match="return_metrics"):
        BrickMetricSingle(accuracy_metric(), input_names=["pred", "target"], output_names=["acc_value"])


def test_brick_metrics_dict_of_non_metrics_names_the_culprit() -> None:
    with pytest.raises(BrickDefinitionError, match="BrickMetrics") as error:
        BrickMetrics({"acc": accuracy_metric(), "mse": nn.MSELoss()}, input_names=["pred", "target"])

    assert "'mse': 'MSELoss'" in str(error.value)
    assert "'acc'" not in str(error.value)


def test_brick_metrics_given_a_single_metric_points_to_brick_metric_single() -> None:
    with pytest.raises(BrickDefinitionError, match="BrickMetricSingle"):
        BrickMetrics(accuracy_metric(), input_names=["pred", "target"])


def test_brick_metrics_output_names_count_must_match_metrics() -> None:
    with pytest.raises(BrickDefinitionError, match="one output name per metric"):
        BrickMetrics(
            {"a": accuracy_metric(), "b": accuracy_metric()},
            input_names=["pred", "target"],
            output_names=["only_one"],
            return_metrics=True,
        )


@pytest.mark.parametrize("name", ["double", "to", "train"])
def test_brick_named_like_a_module_attribute_is_a_collection_build_error(name: str) -> None:
    with pytest.raises(CollectionBuildError, match=f"'{name}'"):
        BrickCollection({name: BrickTrainable(nn.Identity(), input_names=["x"], output_names=["y"])})


def test_definition_errors_are_value_errors() -> None:
    with pytest.raises(ValueError, match="callable"):
        BrickTrainable("not a model", input_names=["x"], output_names=["y"])


# -- plans follow changes to bricks ---------------------------------------------------------------------------------


def test_reassigning_model_after_a_forward_uses_the_new_model() -> None:
    collection = BrickCollection({"scale": BrickTrainable(Scale(2.0), input_names=["x"], output_names=["y"])})
    assert collection({"x": torch.tensor(3.0)})["y"].item() == 6.0

    collection["scale"].model = Scale(10.0)

    assert collection({"x": torch.tensor(3.0)})["y"].item() == 30.0


def test_reassigning_model_in_nested_collection_uses_the_new_model() -> None:
    collection = BrickCollection(
        {"task": {"scale": BrickTrainable(Scale(2.0), input_names=["x"], output_names=["./y"])}}
    )
    collection({"x": torch.tensor(1.0)}, groups={"MODEL"})

    collection["task"]["scale"].model = Scale(-1.0)

    assert collection({"x": torch.tensor(1.0)}, groups={"MODEL"})["task/y"].item() == -1.0


def test_toggling_calculate_gradients_after_a_forward_takes_effect() -> None:
    collection = BrickCollection({"linear": BrickTrainable(nn.Linear(2, 2), input_names=["x"], output_names=["y"])})
    assert collection({"x": torch.rand(1, 2)})["y"].requires_grad

    collection["linear"].calculate_gradients = False

    assert not collection({"x": torch.rand(1, 2)})["y"].requires_grad


def test_reassigned_model_of_not_trainable_brick_is_frozen() -> None:
    brick = BrickNotTrainable(nn.Linear(2, 2), input_names=["x"], output_names=["y"])

    brick.model = nn.BatchNorm1d(2)

    assert not any(parameter.requires_grad for parameter in brick.parameters())
    assert not brick.model.training


def test_reassigning_input_names_to_a_string_is_a_definition_error() -> None:
    brick = BrickTrainable(nn.Identity(), input_names=["x"], output_names=["y"])

    with pytest.raises(BrickDefinitionError, match=r"did you mean \['raw'\]\?"):
        brick.input_names = "raw"


def test_reassigning_groups_to_one_name_selects_that_group() -> None:
    brick = BrickTrainable(nn.Identity(), input_names=["x"], output_names=["y"])
    collection = BrickCollection({"identity": brick})

    brick.groups = "LOSS"

    assert collection.groups == {"LOSS"}
    assert collection.execution_order("LOSS") == ["identity"]
