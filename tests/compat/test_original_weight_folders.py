"""Folders saved by the original torchbricks load: one ``torch.save``'d state dict per brick, ``<nested>/<brick>.pt``.

The folders are written here the way the original's ``save_bricks`` laid them out (its README: "a model
file for each brick", in "a nested folder structure", ``*.pt``): a brick with state gets
``torch.save(brick.state_dict(), folder/<collection path>/<brick name>.pt``; bricks without state get none.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers.configs import images, minimal
from tests.helpers.modules import nested_resnet_collection
from tests.helpers.tensors import assert_tensors_equal, seeded
from torchbricks.assembly import build_model, load_model, save_model
from torchbricks.brick_collection import BrickCollection
from torchbricks.errors import (
    BrickWeightsWarning,
    CorruptWeightsError,
    LegacyWeightsWarning,
    MissingWeightsError,
    UnexpectedWeightsError,
    WeightsMismatchError,
)

pytestmark = pytest.mark.usefixtures("single_thread")

ORIGINAL_RESNET_NAMES = {
    "stem.0.": "resnet.conv1.",
    "stem.1.": "resnet.bn1.",
    **{f"layer{i}.": f"resnet.layer{i}." for i in range(1, 5)},
}


def save_like_the_original(collection: BrickCollection, folder: Path, rename: dict[str, str] | None = None) -> None:
    """One ``.pt`` state dict per brick with state, in folders mirroring the nesting.

    ``rename`` maps key prefixes (after ``model.``) to the names the original's modules used.
    """
    for name, value in collection.items():
        if isinstance(value, BrickCollection):
            save_like_the_original(value, folder / name, rename)
            continue
        state = value.state_dict()
        if not state:
            continue
        if rename:
            state = {_renamed(key, rename): tensor for key, tensor in state.items()}
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(state, folder / f"{name}.pt")


def _renamed(key: str, rename: dict[str, str]) -> str:
    for new, old in rename.items():
        if key.startswith(f"model.{new}"):
            return f"model.{old}{key[len('model.' + new) :]}"
    return key


def batch() -> dict[str, torch.Tensor]:
    return {"raw": seeded(2, 3, 32, 32), "targets0": torch.tensor([0, 2]), "targets1": torch.tensor([4, 1])}


def model_outputs(model: BrickCollection) -> dict[str, Any]:
    model.eval()
    with torch.no_grad():
        outputs = model(batch(), groups={"MODEL"})
    return {name: value for name, value in outputs.items() if isinstance(value, torch.Tensor)}


def load_recording(model: BrickCollection, folder: Path, **kwargs: Any) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_bricks(folder, **kwargs)
    return list(caught)


def test_a_folder_saved_by_the_original_loads_with_identical_outputs(tmp_path: Path) -> None:
    saved = nested_resnet_collection(seed=0)
    save_like_the_original(saved, tmp_path / "bricks", rename=ORIGINAL_RESNET_NAMES)
    files = sorted(str(path.relative_to(tmp_path / "bricks")) for path in (tmp_path / "bricks").rglob("*.pt"))
    assert files == ["backbone.pt", "head0/classify.pt", "head1/classify.pt"]

    loaded = nested_resnet_collection(seed=1)
    expected = model_outputs(saved)
    assert not torch.equal(model_outputs(loaded)["head0/logits"], expected["head0/logits"])

    caught = load_recording(loaded, tmp_path / "bricks")
    assert_tensors_equal(model_outputs(loaded), expected)
    assert [warning.category for warning in caught] == [LegacyWeightsWarning]
    message = str(caught[0].message)
    assert "3 weight file(s)" in message
    assert all(name in message for name in files)


def test_the_original_resnet_backbone_parameter_names_map_onto_the_project_ones(tmp_path: Path) -> None:
    saved = nested_resnet_collection(seed=0)
    save_like_the_original(saved, tmp_path, rename=ORIGINAL_RESNET_NAMES)
    state = torch.load(tmp_path / "backbone.pt", weights_only=True)
    assert "model.resnet.conv1.weight" in state
    assert "model.resnet.layer4.1.bn2.running_var" in state
    assert not any(key.startswith(("model.stem.", "model.layer")) for key in state)

    loaded = nested_resnet_collection(seed=1)
    load_recording(loaded, tmp_path)
    for key, tensor in saved["backbone"].state_dict().items():
        assert torch.equal(loaded["backbone"].state_dict()[key], tensor), key


def test_saving_after_loading_writes_safetensors_that_take_precedence(tmp_path: Path) -> None:
    saved = nested_resnet_collection(seed=0)
    save_like_the_original(saved, tmp_path)
    model = nested_resnet_collection(seed=1)
    load_recording(model, tmp_path)
    written = model.save_bricks(tmp_path, exist_ok=True)
    assert sorted(path.suffix for path in written) == [".safetensors"] * 3
    torch.save(
        {"model.fc.weight": torch.zeros(3, 512), "model.fc.bias": torch.zeros(3)}, tmp_path / "head0" / "classify.pt"
    )

    again = nested_resnet_collection(seed=2)
    assert load_recording(again, tmp_path, strict=True) == []  # the stale .pt beside its safetensors is ignored
    assert_tensors_equal(model_outputs(again), model_outputs(saved))


def test_a_folder_mixing_both_formats_warns_only_about_the_pt_files(tmp_path: Path) -> None:
    saved = nested_resnet_collection(seed=0)
    folder = tmp_path / "bricks"
    saved.save_bricks(folder)
    (folder / "head1" / "classify.safetensors").unlink()
    torch.save(saved["head1"]["classify"].state_dict(), folder / "head1" / "classify.pt")
    model = nested_resnet_collection(seed=1)
    caught = load_recording(model, folder)
    assert [warning.category for warning in caught] == [LegacyWeightsWarning]
    assert "1 weight file(s) saved by the original torchbricks (head1/classify.pt)" in str(caught[0].message)
    assert_tensors_equal(model_outputs(model), model_outputs(saved))


def test_missing_and_unmatched_pt_files_warn_or_raise_like_safetensors_ones(tmp_path: Path) -> None:
    save_like_the_original(nested_resnet_collection(seed=0), tmp_path)
    (tmp_path / "head1" / "classify.pt").rename(tmp_path / "head1" / "renamed.pt")
    caught = load_recording(nested_resnet_collection(seed=1), tmp_path)
    categories = [warning.category for warning in caught]
    assert categories.count(BrickWeightsWarning) == 2  # head1/classify has no file; renamed.pt matches no brick
    assert categories.count(LegacyWeightsWarning) == 1
    with pytest.raises(MissingWeightsError, match=r"head1/classify"):
        nested_resnet_collection(seed=1).load_bricks(tmp_path, strict=True)
    (tmp_path / "head1" / "renamed.pt").rename(tmp_path / "head1" / "classify.pt")
    (tmp_path / "head1" / "stray.pt").write_bytes((tmp_path / "head1" / "classify.pt").read_bytes())
    with pytest.raises(UnexpectedWeightsError, match=r"stray\.pt"):
        nested_resnet_collection(seed=1).load_bricks(tmp_path, strict=True)


class Payload:
    """Unpickling this would create ``path``: a stand-in for code hidden in a ``.pt`` file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, tuple[str, int]]:
        return (os.open, (str(self.path), os.O_CREAT | os.O_WRONLY))


def test_pickled_code_in_a_pt_file_never_runs_and_nothing_is_loaded(tmp_path: Path) -> None:
    saved = nested_resnet_collection(seed=0)
    save_like_the_original(saved, tmp_path)
    marker = tmp_path / "code-ran"
    state = saved["head0"]["classify"].state_dict()
    torch.save({**state, "payload": Payload(marker)}, tmp_path / "head0" / "classify.pt")
    model = nested_resnet_collection(seed=1)
    before = model_outputs(model)
    with pytest.raises(CorruptWeightsError, match=r"head0/classify") as error:
        load_recording(model, tmp_path)
    assert "never run" in str(error.value)
    assert not marker.exists()
    assert_tensors_equal(model_outputs(model), before)  # checked before any weight changed


@pytest.mark.parametrize("content", [torch.zeros(3), [torch.zeros(3)], {"model.fc.weight": 1.0}])
def test_a_pt_file_that_is_not_a_state_dict_of_tensors_is_refused(tmp_path: Path, content: Any) -> None:
    save_like_the_original(nested_resnet_collection(seed=0), tmp_path)
    torch.save(content, tmp_path / "head0" / "classify.pt")
    with pytest.raises(CorruptWeightsError, match="state dict of tensors"):
        nested_resnet_collection(seed=1).load_bricks(tmp_path)


def test_a_truncated_pt_file_and_a_mismatching_one_are_errors(tmp_path: Path) -> None:
    save_like_the_original(nested_resnet_collection(seed=0), tmp_path)
    path = tmp_path / "head0" / "classify.pt"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CorruptWeightsError, match="head0/classify"):
        nested_resnet_collection(seed=1).load_bricks(tmp_path)
    torch.save({"model.fc.weight": torch.zeros(7, 512), "model.fc.bias": torch.zeros(7)}, path)
    with pytest.raises(WeightsMismatchError, match=r"\(7, 512\)"):
        nested_resnet_collection(seed=1).load_bricks(tmp_path)


def test_load_bricks_errors_for_a_missing_folder_and_a_file(tmp_path: Path) -> None:
    save_like_the_original(nested_resnet_collection(seed=0), tmp_path)
    model = nested_resnet_collection(seed=1)
    with pytest.raises(FileNotFoundError):
        model.load_bricks(tmp_path / "missing")
    with pytest.raises(NotADirectoryError, match=r"backbone\.pt"):
        model.load_bricks(tmp_path / "backbone.pt")


def test_load_model_reads_a_weights_folder_of_pt_files(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model(minimal())
    folder = save_model(model, tmp_path / "model")
    for path in (folder / "weights").rglob("*.safetensors"):
        torch.save(load_file(path), path.with_suffix(".pt"))
        path.unlink()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = load_model(folder)
    assert [warning.category for warning in caught] == [LegacyWeightsWarning]
    model.eval()
    with torch.no_grad():
        assert_tensors_equal(
            loaded({"images": images()}, groups={"MODEL"}), model({"images": images()}, groups={"MODEL"})
        )
