"""The original's collection API behaves as documented: ``return_inputs``, ``"__all__"`` among other names,
``sub_collection()`` without groups, ``summarize`` of nested metrics, ``loss_output_names="none"``.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from torchbricks.brick_collection import BrickCollection
from torchbricks.bricks import BrickLoss, BrickMetrics, BrickMetricSingle, BrickModule, BrickNotTrainable
from torchbricks.errors import BrickDefinitionError

with warnings.catch_warnings():  # an old path outside the seed README's contract: it warns (test_old_paths.py)
    warnings.simplefilter("ignore", FutureWarning)
    from torchbricks import model_stage

pytestmark = pytest.mark.usefixtures("single_thread")


class Half(nn.Module):
    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor / 2


class KeysAndSum(nn.Module):
    """Returns the sorted names of the dict it is given, and ``tensor`` summed."""

    def forward(self, tensor: torch.Tensor, named_data: dict[str, Any]) -> tuple[list[str], torch.Tensor]:
        return sorted(named_data), tensor.sum()


def chain() -> dict[str, Any]:
    return {
        "preprocessor": BrickNotTrainable(Half(), input_names=["raw"], output_names=["processed"]),
        "backbone": BrickNotTrainable(Half(), input_names=["processed"], output_names=["embeddings"]),
        "head0": {
            "classifier": BrickNotTrainable(Half(), input_names=["../embeddings"], output_names=["./predictions"])
        },
    }


# -- return_inputs ----------------------------------------------------------------------------------------------


def test_return_inputs_false_returns_only_what_the_bricks_wrote() -> None:
    model = BrickCollection(chain())
    outputs = model(named_inputs={"raw": torch.ones(2), "unused": 1}, return_inputs=False)
    assert set(outputs) == {"processed", "embeddings", "head0/predictions"}
    assert torch.equal(outputs["head0/predictions"], torch.full((2,), 0.125))


def test_return_inputs_true_is_the_default_and_keeps_the_inputs() -> None:
    model = BrickCollection(chain())
    named_inputs = {"raw": torch.ones(2)}
    assert (
        set(model(named_inputs, return_inputs=True))
        == set(model(named_inputs))
        == {
            "raw",
            "processed",
            "embeddings",
            "head0/predictions",
        }
    )


def test_return_inputs_false_with_groups_of_a_stage() -> None:
    bricks = chain()
    bricks["loss"] = BrickLoss(nn.L1Loss(), input_names=["head0/predictions", "targets"], output_names=["l1"])
    model = BrickCollection(bricks)
    outputs = model({"raw": torch.ones(2)}, groups=model_stage.INFERENCE, return_inputs=False)
    assert set(outputs) == {"processed", "embeddings", "head0/predictions"}


def test_the_named_inputs_are_not_changed() -> None:
    named_inputs = {"raw": torch.ones(2)}
    BrickCollection(chain())(named_inputs, return_inputs=False)
    assert list(named_inputs) == ["raw"]


# -- "__all__" among other input names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "input_names",
    [
        {"tensor": "./predictions", "named_data": "__all__"},
        {"named_data": "__all__", "tensor": "./predictions"},
        ["./predictions", "__all__"],
    ],
)
def test_all_inputs_combined_with_a_relative_name_in_a_nested_collection(input_names: Any) -> None:
    bricks = chain()
    bricks["head0"]["inspect"] = BrickModule(KeysAndSum(), input_names=input_names, output_names=["./keys", "./sum"])
    outputs = BrickCollection(bricks)({"raw": torch.ones(3)})
    assert outputs["head0/keys"] == ["embeddings", "head0/predictions", "processed", "raw"]
    assert outputs["head0/sum"].item() == pytest.approx(3 / 8)


def test_all_inputs_combined_reads_the_named_data_without_needing_an_input_called_all() -> None:
    bricks = chain()
    bricks["inspect"] = BrickModule(KeysAndSum(), input_names=["raw", "__all__"], output_names=["keys", "sum"])
    model = BrickCollection(bricks)
    assert model.required_inputs() == ("raw",)
    assert "__all__" not in model.external_inputs


def test_a_brick_called_alone_with_all_inputs_combined() -> None:
    brick = BrickModule(KeysAndSum(), input_names={"named_data": "__all__", "tensor": "raw"}, output_names=["k", "s"])
    outputs = brick({"raw": torch.ones(2), "other": 5})
    assert outputs["k"] == ["other", "raw"]
    assert outputs["s"].item() == 2


def test_a_reader_of_all_inputs_sees_what_bricks_inserted_after_it_wrote() -> None:
    bricks = {"inspect": BrickModule(KeysAndSum(), input_names=["raw", "__all__"], output_names=["keys", "sum"])}
    bricks |= chain()
    outputs = BrickCollection(bricks)({"raw": torch.ones(1)})
    assert outputs["keys"] == ["embeddings", "head0/predictions", "processed", "raw"]


def test_all_inputs_cannot_be_an_output_name() -> None:
    with pytest.raises(BrickDefinitionError, match="__all__"):
        BrickModule(nn.Identity(), input_names=["raw"], output_names=["__all__"])


# -- sub_collection, summarize, losses -------------------------------------------------------------------------


def test_sub_collection_without_groups_keeps_every_brick() -> None:
    bricks = chain()
    bricks["head0"]["loss"] = BrickLoss(nn.L1Loss(), input_names=["./predictions", "t"], output_names=["./l1"])
    model = BrickCollection(bricks)
    whole = model.sub_collection()
    assert list(whole) == list(model)
    assert list(whole["head0"]) == ["classifier", "loss"]
    assert whole["head0"]["loss"] is model["head0"]["loss"]
    assert list(model.sub_collection(groups={"MODEL"})["head0"]) == ["classifier"]


def metrics_head() -> dict[str, Any]:
    metrics = MetricCollection(
        {
            "Accuracy": MulticlassAccuracy(num_classes=3, average="micro"),
            "MeanAccuracy": MulticlassAccuracy(num_classes=3, average="macro"),
        }
    )
    return {
        "classifier": BrickNotTrainable(nn.Identity(), input_names=["../predictions"], output_names=["./classes"]),
        "metrics": BrickMetrics(metrics, input_names=["./classes", "targets"]),
    }


def test_summarize_of_metrics_that_all_sit_in_one_nested_collection_keys_them_by_its_path() -> None:
    """A deliberate difference (migration guide): keys carry the nested collection's path, so they stay stable."""
    model = BrickCollection({"head": metrics_head()})
    model({"predictions": torch.tensor([0, 1, 2, 2]), "targets": torch.tensor([0, 1, 2, 0])})
    summary = model.summarize(reset=True)
    assert set(summary) == {"head/Accuracy", "head/MeanAccuracy"}
    assert summary["head/Accuracy"].item() == pytest.approx(0.75)
    bare = {key.rsplit("/", 1)[-1]: value for key, value in model.summarize().items()}  # the guide's recipe
    assert set(bare) == {"Accuracy", "MeanAccuracy"}


def test_summarize_never_lets_one_task_overwrite_another() -> None:
    model = BrickCollection(
        {
            "head0": metrics_head(),
            "head1": {
                "single": BrickMetricSingle(
                    MulticlassAccuracy(num_classes=3), input_names=["predictions", "targets"], metric_name="Accuracy"
                ),
                "other": BrickMetricSingle(MulticlassAccuracy(num_classes=3), input_names=["predictions", "targets"]),
            },
        }
    )
    model({"predictions": torch.tensor([0, 1, 2]), "targets": torch.tensor([0, 1, 2])})
    assert set(model.summarize()) == {
        "head0/Accuracy",
        "head0/MeanAccuracy",
        "head1/Accuracy",
        "head1/MulticlassAccuracy",
    }


def test_loss_output_names_none_means_no_loss_output() -> None:
    brick = BrickModule(Half(), input_names=["x"], output_names=["y"], loss_output_names="none")
    model = BrickCollection({"halve": brick})
    assert brick.loss_output_names == []
    assert model.extract_losses(model({"x": torch.ones(1)})) == {}


def test_the_original_arguments_compile_without_graph_breaks() -> None:
    bricks = chain()
    bricks["inspect"] = BrickModule(KeysAndSum(), input_names=["raw", "__all__"], output_names=["keys", "sum"])
    model = BrickCollection(bricks)
    named_inputs = {"raw": torch.ones(3)}

    def run(raw: torch.Tensor) -> dict[str, Any]:
        return model({"raw": raw}, tags=model_stage.INFERENCE, return_inputs=False)

    compiled = torch.compile(run, backend="eager", fullgraph=True)
    expected = run(named_inputs["raw"])
    actual = compiled(named_inputs["raw"])
    assert set(actual) == set(expected) == {"processed", "embeddings", "head0/predictions", "keys", "sum"}
    assert torch.equal(actual["sum"], expected["sum"])
