"""Build-time validation and run-time errors of BrickCollection, its dict behaviour, copying and pickling."""

from __future__ import annotations

import copy
import inspect
import io
import pickle
import re
import warnings
from typing import Any

import pytest
import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from tests.helpers.modules import (
    AddConstant,
    CountCalls,
    ReturnsN,
    Scale,
    identity_brick,
    linear_brick,
    seed_like_bricks,
)
from torchbricks import BrickCollection, errors
from torchbricks.bricks import BrickLoss, BrickMetricSingle, BrickNotTrainable, BrickTrainable
from torchbricks.errors import (
    BrickOutputError,
    CollectionBuildError,
    CyclicDependencyError,
    DuplicateOutputError,
    MissingInputsError,
    PossibleTypoWarning,
    RelativeNameError,
    TorchBricksError,
    UnknownGroupError,
)
from torchbricks.groups import Stage


def seed_inputs() -> dict[str, torch.Tensor]:
    return {"raw_images": torch.tensor([1.0, 2.0, 3.0]), "targets": torch.tensor([0.0, 1.0, 0.0])}


def assert_torchbricks_error(error: BaseException) -> None:
    assert isinstance(error, TorchBricksError)
    assert not isinstance(error, AssertionError)


def quoted(name: str) -> str:
    return f"'{name}'"


# -- duplicate outputs -----------------------------------------------------------------------------------


def test_two_bricks_writing_one_name_is_an_error_naming_both_bricks_and_the_name() -> None:
    bricks = {
        "first": linear_brick(["x"], ["features"]),
        "second": linear_brick(["x"], ["features"]),
    }
    with pytest.raises(DuplicateOutputError) as info:
        BrickCollection(bricks)
    message = str(info.value)
    assert quoted("first") in message
    assert quoted("second") in message
    assert quoted("features") in message
    assert isinstance(info.value, CollectionBuildError)
    assert isinstance(info.value, ValueError)
    assert_torchbricks_error(info.value)


def test_duplicate_output_across_nested_collections_with_absolute_names() -> None:
    bricks = {
        "backbone": linear_brick(["x"], ["features"]),
        "head0": {"classify": linear_brick(["features"], ["logits"])},
        "head1": {"classify": linear_brick(["features"], ["logits"])},
    }
    with pytest.raises(DuplicateOutputError) as info:
        BrickCollection(bricks)
    message = str(info.value)
    assert quoted("head0/classify") in message
    assert quoted("head1/classify") in message
    assert quoted("logits") in message


def test_duplicate_output_between_top_level_and_nested_brick() -> None:
    bricks = {
        "head0": {"backbone_copy": linear_brick(["x"], ["features"])},
        "backbone": linear_brick(["x"], ["features"]),
    }
    with pytest.raises(DuplicateOutputError) as info:
        BrickCollection(bricks)
    assert quoted("head0/backbone_copy") in str(info.value)
    assert quoted("backbone") in str(info.value)


def test_duplicate_via_relative_and_absolute_spelling_of_the_same_name() -> None:
    bricks = {
        "head0": {"classify": linear_brick(["x"], ["./logits"]), "other": linear_brick(["x"], ["head0/logits"])},
    }
    with pytest.raises(DuplicateOutputError) as info:
        BrickCollection(bricks)
    assert quoted("head0/logits") in str(info.value)


def test_relative_output_with_same_leaf_in_two_sub_collections_is_fine() -> None:
    collection = BrickCollection(
        {
            "head0": {"classify": linear_brick(["x"], ["./logits"])},
            "head1": {"classify": BrickTrainable(Scale(5.0), input_names=["x"], output_names=["./logits"])},
        }
    )
    outputs = collection({"x": torch.tensor(1.0)})
    assert set(outputs) == {"x", "head0/logits", "head1/logits"}
    assert outputs["head0/logits"].item() == pytest.approx(2.0)
    assert outputs["head1/logits"].item() == pytest.approx(5.0)


# -- cycles ------------------------------------------------------------------------------------------------


def test_two_brick_cycle_names_both_bricks() -> None:
    with pytest.raises(CyclicDependencyError) as info:
        BrickCollection({"a": linear_brick(["y"], ["x"]), "b": linear_brick(["x"], ["y"])})
    message = str(info.value)
    assert quoted("a") in message
    assert quoted("b") in message
    assert isinstance(info.value, CollectionBuildError)
    assert_torchbricks_error(info.value)


def test_longer_cycle_names_every_brick_in_it_and_not_the_bystanders() -> None:
    bricks = {
        "source": linear_brick(["raw"], ["start"]),
        "a": linear_brick(["start", "w"], ["x"]),
        "b": linear_brick(["x"], ["y"]),
        "c": linear_brick(["y"], ["z"]),
        "d": linear_brick(["z"], ["w"]),
        "downstream": linear_brick(["w"], ["out"]),
    }
    with pytest.raises(CyclicDependencyError) as info:
        BrickCollection(bricks)
    message = str(info.value)
    for path in ("a", "b", "c", "d"):
        assert quoted(path) in message
    assert quoted("source") not in message
    assert quoted("downstream") not in message


def test_cycle_across_nested_collections_names_brick_paths() -> None:
    bricks = {
        "head0": {"left": linear_brick(["right_out"], ["left_out"])},
        "head1": {"right": linear_brick(["left_out"], ["right_out"])},
    }
    with pytest.raises(CyclicDependencyError) as info:
        BrickCollection(bricks)
    assert quoted("head0/left") in str(info.value)
    assert quoted("head1/right") in str(info.value)


def test_brick_reading_and_writing_the_same_name_is_a_cycle() -> None:
    with pytest.raises(CyclicDependencyError) as info:
        BrickCollection({"prep": linear_brick(["raw"], ["mid"]), "inplace": linear_brick(["mid", "out"], ["out"])})
    assert quoted("inplace") in str(info.value)
    assert quoted("out") in str(info.value)


# -- execution order ---------------------------------------------------------------------------------------


def test_consumer_inserted_before_producer_runs_after_it() -> None:
    collection = BrickCollection(
        {
            "head": BrickTrainable(Scale(3.0), input_names=["embedding"], output_names=["logits"]),
            "backbone": BrickTrainable(Scale(2.0), input_names=["processed"], output_names=["embedding"]),
            "preprocessor": BrickNotTrainable(AddConstant(1.0), input_names=["raw"], output_names=["processed"]),
        }
    )
    assert collection.execution_order() == ["preprocessor", "backbone", "head"]
    assert collection.external_inputs == ("raw",)
    outputs = collection({"raw": torch.tensor(1.0)})
    assert outputs["processed"].item() == pytest.approx(2.0)
    assert outputs["embedding"].item() == pytest.approx(4.0)
    assert outputs["logits"].item() == pytest.approx(12.0)


def test_nested_consumer_inserted_before_its_top_level_producer() -> None:
    collection = BrickCollection(
        {
            "head0": {"classify": linear_brick(["../features"], ["./logits"])},
            "backbone": linear_brick(["x"], ["features"]),
        }
    )
    assert collection.execution_order() == ["backbone", "head0/classify"]
    assert collection({"x": torch.tensor(1.0)})["head0/logits"].item() == pytest.approx(4.0)


def test_an_already_valid_insertion_order_is_kept() -> None:
    names = ["e", "c", "a", "d", "b"]  # deliberately not alphabetical
    bricks: dict[str, Any] = {"stem": linear_brick(["x"], ["s"])}
    bricks.update({name: linear_brick(["s"], [f"out_{name}"]) for name in names})
    bricks["merge"] = linear_brick([f"out_{name}" for name in names], ["merged"])
    collection = BrickCollection(bricks)
    assert collection.execution_order() == list(bricks)


def test_independent_bricks_keep_insertion_order_around_a_reordered_pair() -> None:
    collection = BrickCollection(
        {
            "consumer": linear_brick(["made"], ["used"]),
            "independent0": linear_brick(["x"], ["i0"]),
            "producer": linear_brick(["x"], ["made"]),
            "independent1": linear_brick(["x"], ["i1"]),
        }
    )
    order = collection.execution_order()
    assert order.index("producer") < order.index("consumer")
    assert order.index("independent0") < order.index("independent1")
    assert sorted(order) == sorted(collection.keys())


def test_execution_order_per_group_only_lists_bricks_of_those_groups() -> None:
    collection = BrickCollection(seed_like_bricks())
    assert collection.execution_order({"MODEL"}) == ["preprocessor", "backbone", "head"]
    assert collection.execution_order({"LOSS"}) == ["loss"]
    assert collection.execution_order() == ["preprocessor", "backbone", "head", "loss"]


# -- external and required inputs -----------------------------------------------------------------------------


def test_external_inputs_are_names_read_but_not_written() -> None:
    collection = BrickCollection(seed_like_bricks())
    assert set(collection.external_inputs) == {"raw_images", "targets"}
    assert len(collection.external_inputs) == 2


def test_required_inputs_per_group_set() -> None:
    collection = BrickCollection(seed_like_bricks())
    assert collection.required_inputs({"MODEL"}) == ("raw_images",)
    assert collection.required_inputs(Stage.INFERENCE) == ("raw_images",)
    assert collection.required_inputs("MODEL") == ("raw_images",)
    assert set(collection.required_inputs(None)) == {"raw_images", "targets"}
    assert set(collection.required_inputs({"MODEL", "LOSS"})) == {"raw_images", "targets"}
    assert set(collection.required_inputs("train")) == {"raw_images", "targets"}
    assert set(collection.required_inputs({"LOSS"})) == {"logits", "targets"}


def test_running_only_the_model_group_needs_no_targets() -> None:
    collection = BrickCollection(seed_like_bricks())
    outputs = collection({"raw_images": torch.tensor([1.0])}, groups={"MODEL"})
    assert set(outputs) == {"raw_images", "processed", "embedding", "logits"}


def test_running_only_the_loss_group_takes_logits_as_an_input() -> None:
    collection = BrickCollection(seed_like_bricks())
    outputs = collection({"logits": torch.tensor([1.0, 2.0]), "targets": torch.tensor([1.0, 0.0])}, groups="LOSS")
    assert set(outputs) == {"logits", "targets", "loss_mse"}
    assert outputs["loss_mse"].item() == pytest.approx(2.0)
    with pytest.raises(MissingInputsError) as info:
        collection({"targets": torch.tensor([1.0])}, groups="LOSS")
    assert quoted("logits") in str(info.value)


# -- missing inputs ---------------------------------------------------------------------------------------------


def test_one_missing_inputs_error_lists_every_missing_name_and_who_needs_it() -> None:
    bricks = seed_like_bricks()
    bricks["head0"] = {"aux": linear_brick(["raw_images", "side_info"], ["./aux"])}
    collection = BrickCollection(bricks)
    with pytest.raises(MissingInputsError) as info:
        collection({"unrelated": torch.tensor(0.0)})
    error = info.value
    assert isinstance(error, KeyError)
    assert_torchbricks_error(error)
    message = str(error)
    assert not message.startswith(('"', "'")), "KeyError must not quote the whole message"
    for name in ("raw_images", "targets", "side_info"):
        assert quoted(name) in message
    raw_line = next(line for line in message.splitlines() if "'raw_images' needed by" in line)
    assert quoted("preprocessor") in raw_line
    assert quoted("head0/aux") in raw_line
    targets_line = next(line for line in message.splitlines() if "'targets' needed by" in line)
    assert quoted("loss") in targets_line
    side_line = next(line for line in message.splitlines() if "'side_info' needed by" in line)
    assert quoted("head0/aux") in side_line


def test_missing_inputs_only_for_the_groups_being_run() -> None:
    collection = BrickCollection(seed_like_bricks())
    with pytest.raises(MissingInputsError) as info:
        collection({}, groups={"MODEL"})
    message = str(info.value)
    assert quoted("raw_images") in message
    assert "targets" not in message


def test_missing_inputs_error_is_raised_before_any_brick_runs() -> None:
    counter = CountCalls()
    collection = BrickCollection(
        {
            "first": BrickNotTrainable(counter, input_names=["x"], output_names=["y"]),
            "second": linear_brick(["y", "late_input"], ["z"]),
        }
    )
    with pytest.raises(MissingInputsError):
        collection({"x": torch.tensor(1.0)})
    assert counter.calls == 0


def test_missing_input_suggests_a_close_provided_name() -> None:
    collection = BrickCollection({"head": linear_brick(["embedding"], ["logits"])})
    with pytest.raises(MissingInputsError) as info:
        collection({"embeding": torch.tensor(1.0)})
    message = str(info.value)
    assert quoted("embedding") in message
    assert "Did you mean 'embeding'" in message


def test_misspelled_input_name_suggests_the_produced_name() -> None:
    with pytest.warns(PossibleTypoWarning):
        collection = BrickCollection(
            {"backbone": linear_brick(["x"], ["embedding"]), "head": linear_brick(["embeding"], ["logits"])}
        )
    with pytest.raises(MissingInputsError) as info:
        collection({"x": torch.tensor(1.0)})
    message = str(info.value)
    assert "'embeding' needed by 'head'" in message
    assert "Did you mean 'embedding'" in message


# -- possible typos at build time ------------------------------------------------------------------------------


def test_reading_a_name_close_to_a_written_one_warns_at_build() -> None:
    bricks = {
        "backbone": linear_brick(["x"], ["embedding"]),
        "head0": {"classify": linear_brick(["embeding"], ["./logits"])},
    }
    with pytest.warns(PossibleTypoWarning) as record:
        BrickCollection(bricks)
    messages = [str(item.message) for item in record if issubclass(item.category, PossibleTypoWarning)]
    assert len(messages) == 1
    assert quoted("embeding") in messages[0]
    assert quoted("embedding") in messages[0]
    assert quoted("head0/classify") in messages[0]
    assert quoted("backbone") in messages[0]


def test_dissimilar_external_inputs_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", PossibleTypoWarning)
        collection = BrickCollection(
            {"backbone": linear_brick(["images"], ["embedding"]), "loss": linear_brick(["embedding", "targets"], ["l"])}
        )
    assert set(collection.external_inputs) == {"images", "targets"}


# -- wrong number of outputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("returned", [1, 3])
def test_wrong_number_of_returned_values_names_the_brick(returned: int) -> None:
    collection = BrickCollection(
        {"head0": {"split": BrickNotTrainable(ReturnsN(returned), input_names=["x"], output_names=["./a", "./b"])}}
    )
    with pytest.raises(BrickOutputError) as info:
        collection({"x": torch.tensor(1.0)})
    message = str(info.value)
    assert quoted("head0/split") in message
    assert "2" in message
    assert_torchbricks_error(info.value)


def test_right_number_of_returned_values_are_written_in_order() -> None:
    collection = BrickCollection(
        {"split": BrickNotTrainable(ReturnsN(3), input_names=["x"], output_names=["a", "b", "c"])}
    )
    outputs = collection({"x": torch.tensor(10.0)})
    assert [outputs[name].item() for name in ("a", "b", "c")] == [10.0, 11.0, 12.0]


# -- relative names ---------------------------------------------------------------------------------------------


def test_relative_names_resolve_against_the_nested_path() -> None:
    collection = BrickCollection(
        {
            "backbone": linear_brick(["x"], ["features"]),
            "tasks": {
                "shared": linear_brick(["../features"], ["./neck"]),
                "head0": {
                    "classify": linear_brick(["../neck"], ["./logits"]),
                    "top": linear_brick(["../../features", "./logits"], ["./combined"]),
                },
            },
        }
    )
    outputs = collection({"x": torch.tensor(1.0)})
    assert set(outputs) == {"x", "features", "tasks/neck", "tasks/head0/logits", "tasks/head0/combined"}
    assert outputs["tasks/head0/logits"].item() == pytest.approx(8.0)
    assert outputs["tasks/head0/combined"].item() == pytest.approx((2.0 + 8.0) * 2.0)
    node = next(node for node in collection.nodes() if node.path == "tasks/head0/top")
    assert node.inputs == ("features", "tasks/head0/logits")


@pytest.mark.parametrize(
    ("bricks", "culprit"),
    [
        ({"top": linear_brick(["../x"], ["y"])}, "top"),
        ({"head0": {"deep": linear_brick(["../../x"], ["y"])}}, "head0/deep"),
        ({"head0": {"writer": linear_brick(["x"], ["../../y"])}}, "head0/writer"),
    ],
)
def test_relative_name_climbing_above_the_root_is_an_error(bricks: dict[str, Any], culprit: str) -> None:
    with pytest.raises(RelativeNameError) as info:
        BrickCollection(bricks)
    assert quoted(culprit) in str(info.value)
    assert isinstance(info.value, CollectionBuildError)


def test_relative_name_naming_no_data_is_an_error() -> None:
    with pytest.raises(RelativeNameError) as info:
        BrickCollection({"head0": {"empty": linear_brick(["./"], ["y"])}})
    assert quoted("head0/empty") in str(info.value)


def test_pre_built_collection_nested_into_a_dict_is_re_rooted() -> None:
    head = BrickCollection({"classify": linear_brick(["features"], ["./logits"])})
    assert head({"features": torch.tensor(1.0)})["logits"].item() == pytest.approx(2.0)

    model = BrickCollection({"backbone": linear_brick(["x"], ["features"]), "head0": head})
    assert model["head0"].path == "head0"
    outputs = model({"x": torch.tensor(1.0)})
    assert "head0/logits" in outputs
    assert "logits" not in outputs
    assert outputs["head0/logits"].item() == pytest.approx(4.0)
    # The original collection is not changed by being nested.
    assert head.path == ""
    assert "logits" in head({"features": torch.tensor(1.0)})


def test_one_pre_built_collection_nested_twice_gets_two_roots() -> None:
    head = BrickCollection({"classify": linear_brick(["features"], ["./logits"])})
    model = BrickCollection({"backbone": linear_brick(["x"], ["features"]), "head0": head, "head1": head})
    outputs = model({"x": torch.tensor(1.0)})
    assert {"head0/logits", "head1/logits"} <= set(outputs)
    assert [path for path, _ in model.named_bricks()] == ["backbone", "head0/classify", "head1/classify"]


def test_setitem_of_pre_built_collection_is_re_rooted() -> None:
    model = BrickCollection({"backbone": linear_brick(["x"], ["features"])})
    model["head0"] = BrickCollection({"classify": linear_brick(["features"], ["./logits"])})
    assert "head0/logits" in model({"x": torch.tensor(1.0)})


# -- groups -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", ["forward", "required_inputs", "execution_order", "sub_collection"])
def test_unknown_group_is_an_error_with_a_suggestion(call: str) -> None:
    collection = BrickCollection(seed_like_bricks())
    run = (
        (lambda: collection(seed_inputs(), groups={"MODLE"}))
        if call == "forward"
        else (lambda: getattr(collection, call)({"MODLE"}))
    )
    with pytest.raises(UnknownGroupError) as info:
        run()
    message = str(info.value)
    assert quoted("MODLE") in message
    assert "Did you mean 'MODEL'" in message
    assert isinstance(info.value, ValueError)
    assert_torchbricks_error(info.value)


def test_standard_group_without_bricks_is_fine_and_runs_nothing() -> None:
    collection = BrickCollection(seed_like_bricks())
    inputs = seed_inputs()
    outputs = collection(inputs, groups={"VISUALIZATION"})
    assert set(outputs) == set(inputs)
    assert collection.execution_order({"VISUALIZATION"}) == []
    assert collection.required_inputs({"VISUALIZATION"}) == ()
    assert collection.execution_order({"VISUALIZATION", "MODEL"}) == ["preprocessor", "backbone", "head"]


def test_custom_group_used_by_a_brick_can_be_selected() -> None:
    bricks = seed_like_bricks()
    bricks["debug"] = BrickNotTrainable(AddConstant(0.0), input_names=["logits"], output_names=["debug"], group="AUX")
    collection = BrickCollection(bricks)
    assert collection.execution_order({"AUX"}) == ["debug"]
    assert "AUX" in collection.groups
    with pytest.raises(UnknownGroupError, match="AUX"):
        collection.execution_order({"AXU"})


# -- values that are not bricks, bad keys -----------------------------------------------------------------------


def test_bare_module_is_rejected_with_a_hint_to_wrap_it() -> None:
    with pytest.raises(CollectionBuildError) as info:
        BrickCollection({"backbone": nn.Conv2d(3, 8, 1)})
    message = str(info.value)
    assert quoted("backbone") in message
    assert "Conv2d" in message
    assert "BrickTrainable(Conv2d" in message
    assert_torchbricks_error(info.value)


def test_bare_module_in_nested_dict_is_rejected_naming_its_path() -> None:
    with pytest.raises(CollectionBuildError) as info:
        BrickCollection({"head0": {"fc": nn.Linear(2, 2)}})
    assert quoted("head0/fc") in str(info.value)


@pytest.mark.parametrize("value", [42, "a brick?", None, lambda x: x])
def test_values_that_are_not_modules_are_rejected(value: Any) -> None:
    with pytest.raises(CollectionBuildError, match="not a brick"):
        BrickCollection({"thing": value})


@pytest.mark.parametrize("key", ["head/classify", "head.classify", "", "."])
def test_keys_with_separators_or_empty_are_rejected(key: str) -> None:
    with pytest.raises(CollectionBuildError) as info:
        BrickCollection({key: linear_brick(["x"], ["y"])})
    assert repr(key) in str(info.value)
    collection = BrickCollection({"ok": linear_brick(["x"], ["y"])})
    with pytest.raises(CollectionBuildError):
        collection[key] = linear_brick(["y"], ["z"])
    assert list(collection.keys()) == ["ok"]


@pytest.mark.parametrize("key", ["update", "forward", "graph", "training"])
def test_keys_clashing_with_collection_attributes_are_rejected(key: str) -> None:
    with pytest.raises(CollectionBuildError) as info:
        BrickCollection({key: linear_brick(["x"], ["y"])})
    assert quoted(key) in str(info.value)


# -- dict behaviour ---------------------------------------------------------------------------------------------


def test_setitem_adds_a_brick_and_reorders_execution() -> None:
    collection = BrickCollection({"head": linear_brick(["features"], ["logits"])})
    assert collection.external_inputs == ("features",)
    collection["backbone"] = linear_brick(["x"], ["features"])
    assert collection.execution_order() == ["backbone", "head"]
    assert collection.external_inputs == ("x",)
    assert collection({"x": torch.tensor(1.0)})["logits"].item() == pytest.approx(4.0)


def test_setitem_introducing_a_cycle_raises_and_leaves_the_collection_unchanged() -> None:
    collection = BrickCollection({"a": linear_brick(["x"], ["y"])})
    with pytest.raises(CyclicDependencyError):
        collection["b"] = linear_brick(["y"], ["x"])
    assert list(collection.keys()) == ["a"]
    assert collection({"x": torch.tensor(1.0)})["y"].item() == pytest.approx(2.0)


def test_del_and_pop_revalidate() -> None:
    collection = BrickCollection(seed_like_bricks())
    del collection["loss"]
    assert collection.external_inputs == ("raw_images",)
    assert "loss_mse" not in collection({"raw_images": torch.tensor([1.0])})
    head = collection.pop("head")
    assert isinstance(head, BrickTrainable)
    assert collection.execution_order() == ["preprocessor", "backbone"]
    outputs = collection({"raw_images": torch.tensor([1.0])})
    assert "logits" not in outputs
    assert "embedding" in outputs
    with pytest.raises(KeyError):
        del collection["missing"]


def test_deleting_a_producer_makes_its_output_an_external_input() -> None:
    collection = BrickCollection(seed_like_bricks())
    del collection["backbone"]
    assert set(collection.external_inputs) == {"raw_images", "embedding", "targets"}
    with pytest.raises(MissingInputsError, match="'embedding' needed by 'head'"):
        collection(seed_inputs())


def test_update_adds_several_bricks_at_once() -> None:
    collection = BrickCollection({"head": linear_brick(["features"], ["logits"])})
    collection.update(
        {
            "loss": BrickLoss(nn.L1Loss(), input_names=["logits", "t"], output_names=["l1"]),
            "backbone": linear_brick(["x"], ["features"]),
        }
    )
    assert collection.execution_order() == ["backbone", "head", "loss"]
    outputs = collection({"x": torch.tensor(1.0), "t": torch.tensor(0.0)})
    assert outputs["l1"].item() == pytest.approx(4.0)


def test_clear_empties_the_collection() -> None:
    collection = BrickCollection(seed_like_bricks())
    collection.clear()
    assert len(collection) == 0
    assert collection.external_inputs == ()
    assert collection.execution_order() == []
    assert collection({"a": 1}) == {"a": 1}


def test_failing_update_with_a_duplicate_output_leaves_the_collection_unchanged() -> None:
    collection = BrickCollection(seed_like_bricks())
    original_head = collection["head"]
    expected = collection(seed_inputs())
    with pytest.raises(DuplicateOutputError) as info:
        collection.update(
            {
                "extra": linear_brick(["logits"], ["extra_out"]),
                "head": linear_brick(["embedding"], ["processed"]),  # replaces head; duplicates 'processed'
            }
        )
    assert quoted("processed") in str(info.value)
    assert list(collection.keys()) == ["preprocessor", "backbone", "head", "loss"]
    assert collection["head"] is original_head
    outputs = collection(seed_inputs())
    assert set(outputs) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(outputs[name], value)


@pytest.mark.parametrize(
    "bad_item",
    [("bad", nn.Conv2d(1, 1, 1)), ("bad/key", linear_brick(["x"], ["bad_out"]))],
    ids=["not-a-brick", "bad-key"],
)
def test_update_failing_on_a_later_item_leaves_the_collection_unchanged(bad_item: tuple[str, Any]) -> None:
    """The docstring of ``update`` promises the collection is "left unchanged on error"."""
    collection = BrickCollection(seed_like_bricks())
    with pytest.raises(CollectionBuildError):
        collection.update([("extra", linear_brick(["logits"], ["extra_out"])), bad_item])
    assert list(collection.keys()) == ["preprocessor", "backbone", "head", "loss"]
    assert "extra_out" not in collection(seed_inputs())


def test_mutating_a_nested_sub_collection_is_seen_by_the_parent() -> None:
    collection = BrickCollection(
        {
            "backbone": linear_brick(["x"], ["features"]),
            "head0": {
                "classify": linear_brick(["../features"], ["./logits"]),
                "loss": BrickLoss(nn.L1Loss(), input_names=["./logits", "targets"], output_names=["./loss"]),
            },
        }
    )
    assert set(collection.external_inputs) == {"x", "targets"}
    collection({"x": torch.tensor(1.0), "targets": torch.tensor(0.0)})  # build and cache the plan

    popped = collection["head0"].pop("loss")
    assert isinstance(popped, BrickLoss)
    assert collection.external_inputs == ("x",)
    outputs = collection({"x": torch.tensor(1.0)})
    assert "head0/loss" not in outputs
    assert [path for path, _ in collection.named_bricks()] == ["backbone", "head0/classify"]

    collection["head0"]["extra"] = linear_brick(["./logits"], ["./extra"])
    outputs = collection({"x": torch.tensor(1.0)})
    assert outputs["head0/extra"].item() == pytest.approx(8.0)


def test_nested_mutation_creating_a_duplicate_is_caught_at_once_and_rolled_back() -> None:
    collection = BrickCollection(
        {"backbone": linear_brick(["x"], ["features"]), "head0": {"classify": linear_brick(["../features"], ["./y"])}}
    )
    collection({"x": torch.tensor(1.0)})
    # The sub-collection checks the change against the whole model it is nested in.
    with pytest.raises(DuplicateOutputError) as info:
        collection["head0"]["rogue"] = linear_brick(["x"], ["features"])
    assert quoted("backbone") in str(info.value)
    assert quoted("head0/rogue") in str(info.value)
    assert list(collection["head0"].keys()) == ["classify"]
    assert collection({"x": torch.tensor(1.0)})["head0/y"] is not None


def test_attribute_assignment_of_a_brick_behaves_like_setitem() -> None:
    """``nn.ModuleDict`` registers modules assigned as attributes as items; they must be validated and run too."""
    collection = BrickCollection({"a": linear_brick(["x"], ["y"])})
    collection({"x": torch.tensor(1.0)})  # build and cache the plan
    collection.b = linear_brick(["y"], ["z"])
    assert list(collection.keys()) == ["a", "b"]
    assert collection({"x": torch.tensor(1.0)})["z"].item() == pytest.approx(4.0)
    collection.a = BrickTrainable(Scale(10.0), input_names=["x"], output_names=["y"])
    assert collection({"x": torch.tensor(1.0)})["y"].item() == pytest.approx(10.0)


def test_reassigning_a_brick_attribute_revalidates_on_next_forward() -> None:
    collection = BrickCollection({"a": linear_brick(["x"], ["y"]), "b": linear_brick(["y"], ["z"])})
    collection({"x": torch.tensor(1.0)})
    collection["a"].input_names = ["z"]
    with pytest.raises(CyclicDependencyError):
        collection({"x": torch.tensor(1.0)})
    collection["a"].input_names = ["x"]
    collection["b"].output_names = ["w"]
    outputs = collection({"x": torch.tensor(1.0)})
    assert "w" in outputs
    assert "z" not in outputs


# -- summarize ----------------------------------------------------------------------------------------------------


def accuracy_brick(prediction: str, targets: str = "targets") -> BrickMetricSingle:
    return BrickMetricSingle(MulticlassAccuracy(num_classes=3, average="micro"), input_names=[prediction, targets])


def metric_inputs() -> dict[str, torch.Tensor]:
    targets = torch.tensor([0, 1, 2, 0])
    return {"good": targets.clone(), "bad": (targets + 1) % 3, "half": torch.tensor([0, 1, 0, 1]), "targets": targets}


def test_summarize_keeps_both_top_level_metrics_with_the_same_name() -> None:
    collection = BrickCollection({"acc_good": accuracy_brick("good"), "acc_bad": accuracy_brick("bad")})
    collection(metric_inputs())
    summary = collection.summarize()
    assert set(summary) == {"acc_good/MulticlassAccuracy", "acc_bad/MulticlassAccuracy"}
    assert summary["acc_good/MulticlassAccuracy"].item() == pytest.approx(1.0)
    assert summary["acc_bad/MulticlassAccuracy"].item() == pytest.approx(0.0)


def test_summarize_keys_nested_metrics_by_collection_path() -> None:
    collection = BrickCollection(
        {
            "accuracy": accuracy_brick("half"),
            "head0": {"accuracy": accuracy_brick("good")},
            "head1": {"accuracy": accuracy_brick("bad")},
        }
    )
    collection(metric_inputs())
    summary = collection.summarize()
    assert set(summary) == {"MulticlassAccuracy", "head0/MulticlassAccuracy", "head1/MulticlassAccuracy"}
    assert summary["MulticlassAccuracy"].item() == pytest.approx(0.5)
    assert summary["head0/MulticlassAccuracy"].item() == pytest.approx(1.0)
    assert summary["head1/MulticlassAccuracy"].item() == pytest.approx(0.0)


def test_summarize_two_same_named_metrics_in_one_sub_collection() -> None:
    collection = BrickCollection({"head0": {"acc_good": accuracy_brick("good"), "acc_bad": accuracy_brick("bad")}})
    collection(metric_inputs())
    summary = collection.summarize()
    assert set(summary) == {"head0/acc_good/MulticlassAccuracy", "head0/acc_bad/MulticlassAccuracy"}
    assert summary["head0/acc_good/MulticlassAccuracy"].item() == pytest.approx(1.0)


def test_summarize_reset_starts_accumulating_afresh() -> None:
    collection = BrickCollection({"acc_good": accuracy_brick("good"), "acc_bad": accuracy_brick("half")})
    collection(metric_inputs())
    collection.summarize(reset=True)
    inputs = metric_inputs()
    inputs["good"] = (inputs["targets"] + 1) % 3
    collection(inputs)
    assert collection.summarize()["acc_good/MulticlassAccuracy"].item() == pytest.approx(0.0)


# -- sub_collection and to_dict --------------------------------------------------------------------------------


def test_sub_collection_keeps_only_the_bricks_of_the_groups_and_shares_them() -> None:
    bricks = seed_like_bricks()
    bricks["head0"] = {
        "classify": linear_brick(["embedding"], ["./logits"]),
        "loss": BrickLoss(nn.L1Loss(), input_names=["./logits", "targets"], output_names=["./loss"]),
    }
    bricks["metrics"] = {"accuracy": accuracy_brick("logits")}
    collection = BrickCollection(bricks)
    model_only = collection.sub_collection({"MODEL"})
    assert [path for path, _ in model_only.named_bricks()] == ["preprocessor", "backbone", "head", "head0/classify"]
    assert "metrics" not in model_only
    assert model_only["head"] is collection["head"]
    assert model_only["head0"]["classify"] is collection["head0"]["classify"]
    assert model_only.external_inputs == ("raw_images",)
    outputs = model_only({"raw_images": torch.tensor([1.0])})
    assert "head0/logits" in outputs
    assert len(list(collection.named_bricks())) == 7  # the original is untouched


def test_sub_collection_with_a_stage_and_with_all_groups() -> None:
    collection = BrickCollection(seed_like_bricks())
    assert list(collection.sub_collection(Stage.INFERENCE).keys()) == ["preprocessor", "backbone", "head"]
    assert list(collection.sub_collection(None).keys()) == list(collection.keys())


def test_to_dict_round_trips() -> None:
    bricks = seed_like_bricks()
    bricks["head0"] = {"classify": linear_brick(["embedding"], ["./logits"])}
    collection = BrickCollection(bricks)
    as_dict = collection.to_dict()
    assert isinstance(as_dict["head0"], dict)
    assert not isinstance(as_dict["head0"], BrickCollection)
    assert as_dict["head0"]["classify"] is collection["head0"]["classify"]
    rebuilt = BrickCollection(as_dict)
    assert rebuilt.execution_order() == collection.execution_order()
    assert rebuilt.external_inputs == collection.external_inputs
    expected = collection(seed_inputs())
    outputs = rebuilt(seed_inputs())
    assert set(outputs) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(outputs[name], value)


# -- copying and pickling ------------------------------------------------------------------------------------------


def nested_model() -> BrickCollection:
    bricks = seed_like_bricks()
    bricks["head0"] = {
        "classify": BrickTrainable(Scale(5.0), input_names=["../embedding"], output_names=["./logits"]),
        "accuracy": accuracy_brick("label_pred", "labels"),
    }
    return BrickCollection(bricks)


def nested_model_inputs() -> dict[str, torch.Tensor]:
    return {**seed_inputs(), "labels": torch.tensor([0, 1, 2]), "label_pred": torch.tensor([0, 1, 1])}


def full_model_round_trip(collection: BrickCollection, how: str) -> BrickCollection:
    if how == "deepcopy":
        return copy.deepcopy(collection)
    if how == "pickle":
        return pickle.loads(pickle.dumps(collection))
    buffer = io.BytesIO()
    torch.save(collection, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


@pytest.mark.parametrize("how", ["deepcopy", "pickle", "torch.save"])
def test_copies_work_and_are_independent(how: str) -> None:
    collection = nested_model()
    inputs = nested_model_inputs()
    expected = collection(inputs)  # the plan is built and cached before copying

    clone = full_model_round_trip(collection, how)
    assert clone.execution_order() == collection.execution_order()
    assert clone["head0"].path == "head0"
    outputs = clone(inputs)
    assert set(outputs) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(outputs[name], value)
    assert clone["backbone"] is not collection["backbone"]

    with torch.no_grad():
        clone["backbone"].model.weight.fill_(10.0)
        clone["head0"]["classify"].model.weight.fill_(-1.0)
    changed = clone(inputs)
    original = collection(inputs)
    torch.testing.assert_close(original["embedding"], expected["embedding"])
    torch.testing.assert_close(original["head0/logits"], expected["head0/logits"])
    torch.testing.assert_close(changed["embedding"], expected["processed"] * 10.0)
    torch.testing.assert_close(changed["head0/logits"], -changed["embedding"])


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_copied_collection_can_still_be_edited_without_touching_the_original(how: str) -> None:
    collection = nested_model()
    collection(nested_model_inputs())
    clone = full_model_round_trip(collection, how)
    with pytest.raises(DuplicateOutputError):
        clone["dup"] = linear_brick(["raw_images"], ["logits"])
    clone["head0"].pop("classify")
    clone.pop("backbone")
    with pytest.raises(MissingInputsError, match="'embedding' needed by 'head'"):
        clone(nested_model_inputs())
    assert "head0/logits" not in clone({**nested_model_inputs(), "embedding": torch.tensor([1.0, 2.0, 3.0])})
    outputs = collection(nested_model_inputs())
    assert {"embedding", "head0/logits"} <= set(outputs)
    assert len(list(collection.named_bricks())) == 6


# -- error hierarchy --------------------------------------------------------------------------------------------------


def all_error_classes() -> list[type[BaseException]]:
    return [
        value
        for _, value in inspect.getmembers(errors, inspect.isclass)
        if issubclass(value, BaseException) and not issubclass(value, Warning) and value.__module__ == errors.__name__
    ]


@pytest.mark.parametrize("error_class", all_error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_derives_from_torchbricks_error_and_not_assertion_error(error_class: type[BaseException]) -> None:
    assert issubclass(error_class, TorchBricksError)
    assert not issubclass(error_class, AssertionError)


def test_error_module_lists_the_expected_errors() -> None:
    names = {cls.__name__ for cls in all_error_classes()}
    assert {
        "DuplicateOutputError",
        "CyclicDependencyError",
        "MissingInputsError",
        "BrickOutputError",
        "RelativeNameError",
        "UnknownGroupError",
        "CollectionBuildError",
    } <= names


ERROR_SCENARIOS = {
    "duplicate": lambda: BrickCollection({"a": identity_brick(["x"], ["y"]), "b": identity_brick(["x"], ["y"])}),
    "cycle": lambda: BrickCollection({"a": identity_brick(["y"], ["x"]), "b": identity_brick(["x"], ["y"])}),
    "self-cycle": lambda: BrickCollection({"a": identity_brick(["x"], ["x"])}),
    "relative": lambda: BrickCollection({"a": identity_brick(["../x"], ["y"])}),
    "not-a-brick": lambda: BrickCollection({"a": nn.ReLU()}),
    "bad-key": lambda: BrickCollection({"a.b": identity_brick(["x"], ["y"])}),
    "missing-input": lambda: BrickCollection({"a": identity_brick(["x"], ["y"])})({}),
    "unknown-group": lambda: BrickCollection({"a": identity_brick(["x"], ["y"])})({"x": 1}, groups="MODLE"),
    "output-count": lambda: BrickCollection({"a": identity_brick(["x"], ["y", "z"])})({"x": torch.ones(3)}),
    "string-input-names": lambda: BrickTrainable(nn.ReLU(), input_names="x", output_names=["y"]),
    "string-output-names": lambda: BrickTrainable(nn.ReLU(), input_names=["x"], output_names="y"),
}


@pytest.mark.parametrize("scenario", sorted(ERROR_SCENARIOS))
def test_errors_raised_are_torchbricks_errors(scenario: str) -> None:
    with pytest.raises(Exception) as info:  # noqa: PT011 - the type is what this test inspects
        ERROR_SCENARIOS[scenario]()
    assert_torchbricks_error(info.value)
    assert re.search(r"'[^']+'", str(info.value)), f"message names no culprit: {info.value}"
