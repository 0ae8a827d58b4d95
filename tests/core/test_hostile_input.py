"""Bad input to the core gets a torchbricks error naming the culprit, never a raw TypeError or RecursionError."""

from __future__ import annotations

import copy
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from torchbricks import BrickCollection, BrickTrainable
from torchbricks.errors import (
    CollectionBuildError,
    DuplicateOutputError,
    InvalidGroupsError,
    NamedInputsError,
    TorchBricksError,
    WeightsMismatchError,
)


def _model() -> BrickCollection:
    return BrickCollection(
        {
            "backbone": BrickTrainable(nn.Linear(4, 4), ["x"], ["features"]),
            "task": {"head": BrickTrainable(nn.Linear(4, 2), ["features"], ["./logits"]), "deep": {}},
        }
    )


@pytest.mark.parametrize("named_inputs", [None, [("x", 1)], torch.zeros(2, 4), "x"])
def test_forward_of_something_other_than_a_dict_names_what_it_needs(named_inputs: object) -> None:
    with pytest.raises(NamedInputsError) as error:
        _model()(named_inputs)  # type: ignore[arg-type]
    assert "takes a dict of named inputs" in str(error.value)
    assert "['x']" in str(error.value)
    assert isinstance(error.value, TypeError)


@pytest.mark.parametrize("groups", [123, 1.5, [1, "MODEL"], {None}])
def test_groups_that_are_not_names_are_an_invalid_groups_error(groups: object) -> None:
    with pytest.raises(InvalidGroupsError, match="groups"):
        _model()({"x": torch.zeros(1, 4)}, groups=groups)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", [("task",), ("task", "deep")])
def test_a_brick_added_to_a_nested_collection_is_checked_against_the_whole_model(level: tuple[str, ...]) -> None:
    model = _model()
    nested = model
    for key in level:
        nested = nested[key]
    before = list(nested.keys())
    with pytest.raises(DuplicateOutputError, match=r"'backbone' and '.*dup' both write 'features'"):
        nested["dup"] = BrickTrainable(nn.Identity(), ["x"], ["features"])
    assert list(nested.keys()) == before  # rolled back
    assert model({"x": torch.zeros(1, 4)})["task/logits"].shape == (1, 2)  # still runs


@pytest.mark.parametrize("copy_model", [copy.deepcopy, lambda model: pickle.loads(pickle.dumps(model))])
def test_nested_collections_of_a_copy_still_check_the_whole_copy(copy_model) -> None:
    copied = copy_model(_model())
    with pytest.raises(DuplicateOutputError):
        copied["task"]["deep"]["dup"] = BrickTrainable(nn.Identity(), ["x"], ["features"])


def test_an_underscore_attribute_cannot_hide_a_brick_that_would_never_run() -> None:
    model = _model()
    with pytest.raises(CollectionBuildError, match=r"cannot start with '_'.*collection\['hidden'\]"):
        model._hidden = BrickTrainable(nn.Linear(4, 4), ["x"], ["other"])
    assert "_hidden" not in dict(model.named_modules())
    model.extra = BrickTrainable(nn.Linear(4, 4), ["x"], ["other"])  # public attributes join the graph
    assert "extra" in model.execution_order()


def test_absurdly_deep_nesting_is_a_build_error_not_a_recursion_error() -> None:
    tree: dict = {}
    level = tree
    for _ in range(500):
        level["n"] = {}
        level = level["n"]
    level["brick"] = BrickTrainable(nn.Identity(), ["x"], ["y"])
    with pytest.raises(CollectionBuildError, match="nest deeper than 64 levels"):
        BrickCollection(tree)


@pytest.mark.parametrize("dtype", [torch.int8, torch.bool, torch.complex64, torch.float8_e4m3fn, torch.int64])
def test_a_weight_file_of_another_dtype_is_refused(tmp_path: Path, dtype: torch.dtype) -> None:
    model = BrickCollection({"head": BrickTrainable(nn.Linear(2, 2), ["x"], ["y"])})
    save_file(
        {"model.weight": torch.zeros(2, 2).to(dtype), "model.bias": torch.zeros(2)}, tmp_path / "head.safetensors"
    )
    before = model["head"].model.weight.detach().clone()
    with pytest.raises(WeightsMismatchError, match=rf"'model.weight' is {dtype} in the file but torch.float32"):
        model.load_bricks(tmp_path)
    assert torch.equal(model["head"].model.weight, before)


def test_half_precision_weights_still_load_into_float32(tmp_path: Path) -> None:
    model = BrickCollection({"head": BrickTrainable(nn.Linear(2, 2), ["x"], ["y"])})
    save_file(
        {"model.weight": torch.ones(2, 2, dtype=torch.float16), "model.bias": torch.zeros(2)},
        tmp_path / "head.safetensors",
    )
    model.load_bricks(tmp_path, strict=True)
    assert torch.equal(model["head"].model.weight, torch.ones(2, 2))


def test_a_weight_file_that_is_a_link_is_refused(tmp_path: Path) -> None:
    model = BrickCollection({"head": BrickTrainable(nn.Linear(2, 2), ["x"], ["y"])})
    elsewhere = tmp_path / "elsewhere.safetensors"
    save_file({"model.weight": torch.ones(2, 2), "model.bias": torch.zeros(2)}, elsewhere)
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "head.safetensors").symlink_to(elsewhere)
    with pytest.raises(TorchBricksError, match="not a regular file inside the folder"):
        model.load_bricks(folder)
