"""Saving and loading brick weights: safetensors files per brick, atomic writes, all-or-nothing loads."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open

from tests.helpers.modules import AddConstant, TiedLinear, weights_model_bricks
from tests.helpers.tensors import assert_tensors_equal
from torchbricks import BrickCollection, weights
from torchbricks.bricks import BrickNotTrainable, BrickTrainable
from torchbricks.errors import (
    BrickWeightsWarning,
    CorruptWeightsError,
    MissingWeightsError,
    UnexpectedWeightsError,
    WeightsError,
    WeightsFolderExistsError,
    WeightsMismatchError,
)

BACKBONE_FILE = Path("backbone.safetensors")
CLASSIFY_FILE = Path("head0") / "classify.safetensors"


def make_model(seed: int, num_classes: int = 3) -> BrickCollection:
    collection = BrickCollection(weights_model_bricks(seed, num_classes=num_classes))
    # Give the batch-norm running statistics seed-dependent values, so buffers are checked too.
    norm = collection["backbone"].model.norm
    generator = torch.Generator().manual_seed(seed)
    norm.running_mean.copy_(torch.rand(norm.running_mean.shape, generator=generator))
    norm.running_var.copy_(torch.rand(norm.running_var.shape, generator=generator) + 0.5)
    norm.num_batches_tracked.fill_(seed + 1)
    return collection.eval()


def model_inputs() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(123)
    return {"raw": torch.rand(5, 4, generator=generator), "targets": torch.tensor([0, 1, 2, 0, 1])}


def snapshot(collection: BrickCollection) -> dict[str, dict[str, torch.Tensor]]:
    return {
        path: {key: value.detach().clone() for key, value in brick.state_dict().items()}
        for path, brick in collection.named_bricks()
    }


def assert_brick_state(collection: BrickCollection, path: str, expected: dict[str, torch.Tensor]) -> None:
    brick = dict(collection.named_bricks())[path]
    assert_tensors_equal(brick.state_dict(), expected)


def assert_unchanged(collection: BrickCollection, before: dict[str, dict[str, torch.Tensor]]) -> None:
    for path, state in before.items():
        assert_brick_state(collection, path, state)


def files_in(folder: Path) -> set[Path]:
    return {path.relative_to(folder) for path in folder.rglob("*") if path.is_file()}


@pytest.fixture
def saved(tmp_path: Path) -> tuple[BrickCollection, Path]:
    """A model (seed 0) saved to ``tmp_path / 'weights'``."""
    model = make_model(seed=0)
    folder = tmp_path / "weights"
    model.save_bricks(folder)
    return model, folder


# -- file format and layout -------------------------------------------------------------------------------


def test_save_writes_one_safetensors_file_per_brick_with_state_mirroring_the_nesting(tmp_path: Path) -> None:
    model = make_model(seed=0)
    folder = tmp_path / "weights"
    written = model.save_bricks(folder)
    assert {path.relative_to(folder) for path in written} == {BACKBONE_FILE, CLASSIFY_FILE}
    assert files_in(folder) == {BACKBONE_FILE, CLASSIFY_FILE}  # no files for preprocessor, loss, metric
    assert (folder / "head0").is_dir()


def test_saved_files_are_safetensors_holding_the_brick_state(saved: tuple[BrickCollection, Path]) -> None:
    model, folder = saved
    for relative, path in ((BACKBONE_FILE, "backbone"), (CLASSIFY_FILE, "head0/classify")):
        expected = dict(model.named_bricks())[path].state_dict()
        with safe_open(str(folder / relative), framework="pt") as handle:
            assert set(handle.keys()) == set(expected)
            for key in handle.keys():  # noqa: SIM118 - safe_open handles are not iterable
                assert torch.equal(handle.get_tensor(key), expected[key]), key
            assert handle.metadata()["brick_path"] == path
        assert not (folder / relative).read_bytes().startswith(b"PK"), "must not be a torch zip/pickle file"


def test_module_level_functions_match_the_methods(tmp_path: Path) -> None:
    model = make_model(seed=0)
    written = weights.save_bricks(model, str(tmp_path / "weights"))
    assert sorted(path.name for path in written) == ["backbone.safetensors", "classify.safetensors"]
    fresh = make_model(seed=1)
    weights.load_bricks(fresh, str(tmp_path / "weights"))
    assert_unchanged(fresh, snapshot(model))


# -- round trip -------------------------------------------------------------------------------------------


def test_round_trip_into_a_fresh_model_gives_identical_outputs(saved: tuple[BrickCollection, Path]) -> None:
    model, folder = saved
    fresh = make_model(seed=1)
    inputs = model_inputs()
    expected = model(inputs)
    before = fresh(inputs)
    assert not torch.equal(before["head0/logits"], expected["head0/logits"])

    fresh.load_bricks(folder)
    assert_unchanged(fresh, snapshot(model))
    outputs = fresh(inputs)
    for name in ("normalized", "features", "head0/logits", "head0/pred", "head0/loss"):
        assert torch.equal(outputs[name], expected[name]), name


def test_load_never_unpickles(saved: tuple[BrickCollection, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    model, folder = saved

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("load_bricks must not unpickle")

    monkeypatch.setattr(torch, "load", forbidden)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(pickle, "Unpickler", forbidden)
    fresh = make_model(seed=1)
    fresh.load_bricks(folder)
    assert_unchanged(fresh, snapshot(model))


UNPICKLED: list[str] = []


def _record_unpickling() -> str:
    UNPICKLED.append("ran")
    return "payload"


class PicklePayload:
    def __reduce__(self) -> tuple[Any, tuple[()]]:
        return _record_unpickling, ()


@pytest.mark.parametrize("format_", ["pickle", "torch.save"])
def test_pickle_payload_named_safetensors_is_rejected_without_unpickling(
    saved: tuple[BrickCollection, Path], format_: str
) -> None:
    _, folder = saved
    target = folder / CLASSIFY_FILE
    if format_ == "pickle":
        target.write_bytes(pickle.dumps({"model.fc.weight": PicklePayload()}))
    else:
        torch.save({"model.fc.weight": torch.zeros(3, 8), "model.fc.bias": torch.zeros(3)}, target)
    fresh = make_model(seed=1)
    before = snapshot(fresh)
    UNPICKLED.clear()
    with pytest.raises(CorruptWeightsError) as info:
        fresh.load_bricks(folder)
    message = str(info.value)
    assert "'head0/classify'" in message
    assert str(target) in message
    assert UNPICKLED == []
    assert_unchanged(fresh, before)  # the backbone comes first in order and is still not loaded


# -- missing and unexpected files ---------------------------------------------------------------------------


def test_missing_weight_file_warns_and_keeps_initialisation_while_others_load(
    saved: tuple[BrickCollection, Path],
) -> None:
    model, folder = saved
    (folder / BACKBONE_FILE).unlink()
    fresh = make_model(seed=1)
    before = snapshot(fresh)
    with pytest.warns(BrickWeightsWarning) as record:
        fresh.load_bricks(folder)
    messages = [str(item.message) for item in record if issubclass(item.category, BrickWeightsWarning)]
    assert len(messages) == 1
    assert "'backbone'" in messages[0]
    assert str(folder / BACKBONE_FILE) in messages[0]
    assert_brick_state(fresh, "backbone", before["backbone"])
    assert_brick_state(fresh, "head0/classify", snapshot(model)["head0/classify"])


def test_missing_weight_file_with_strict_is_an_error_and_loads_nothing(saved: tuple[BrickCollection, Path]) -> None:
    _, folder = saved
    (folder / CLASSIFY_FILE).unlink()
    fresh = make_model(seed=1)
    before = snapshot(fresh)
    with pytest.raises(MissingWeightsError) as info:
        fresh.load_bricks(folder, strict=True)
    assert "'head0/classify'" in str(info.value)
    assert str(folder / CLASSIFY_FILE) in str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert_unchanged(fresh, before)


def test_unexpected_extra_file_warns_and_everything_else_loads(saved: tuple[BrickCollection, Path]) -> None:
    model, folder = saved
    extra = folder / "head1" / "classify.safetensors"
    extra.parent.mkdir()
    extra.write_bytes((folder / CLASSIFY_FILE).read_bytes())
    fresh = make_model(seed=1)
    with pytest.warns(BrickWeightsWarning) as record:
        fresh.load_bricks(folder)
    messages = [str(item.message) for item in record if issubclass(item.category, BrickWeightsWarning)]
    assert len(messages) == 1
    assert str(extra) in messages[0]
    assert_unchanged(fresh, snapshot(model))


def test_unexpected_extra_file_with_strict_is_an_error_and_loads_nothing(saved: tuple[BrickCollection, Path]) -> None:
    _, folder = saved
    extra = folder / "old_backbone.safetensors"
    extra.write_bytes((folder / BACKBONE_FILE).read_bytes())
    fresh = make_model(seed=1)
    before = snapshot(fresh)
    with pytest.raises(UnexpectedWeightsError) as info:
        fresh.load_bricks(folder, strict=True)
    assert str(extra) in str(info.value)
    assert_unchanged(fresh, before)


def test_file_for_a_brick_without_state_is_unexpected(saved: tuple[BrickCollection, Path]) -> None:
    _, folder = saved
    (folder / "preprocessor.safetensors").write_bytes((folder / BACKBONE_FILE).read_bytes())
    with pytest.raises(UnexpectedWeightsError, match="preprocessor"):
        make_model(seed=1).load_bricks(folder, strict=True)


# -- mismatches and corrupt files ----------------------------------------------------------------------------


def test_shape_mismatch_names_brick_file_and_key_and_loads_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "weights"
    make_model(seed=0, num_classes=3).save_bricks(folder)
    other = make_model(seed=1, num_classes=4)
    before = snapshot(other)
    with pytest.raises(WeightsMismatchError) as info:
        other.load_bricks(folder)
    message = str(info.value)
    assert "'head0/classify'" in message
    assert str(folder / CLASSIFY_FILE) in message
    assert "'model.fc.weight'" in message
    assert "'model.fc.bias'" in message
    assert isinstance(info.value, WeightsError)
    assert_unchanged(other, before)  # the backbone file fits and comes first, but is not loaded either


def test_missing_and_extra_keys_are_a_mismatch(saved: tuple[BrickCollection, Path]) -> None:
    _, folder = saved
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(folder / BACKBONE_FILE))
    tensors["model.surprise"] = tensors.pop("model.linear.bias")
    save_file(tensors, str(folder / BACKBONE_FILE))
    fresh = make_model(seed=1)
    before = snapshot(fresh)
    with pytest.raises(WeightsMismatchError) as info:
        fresh.load_bricks(folder)
    message = str(info.value)
    assert "'backbone'" in message
    assert "'model.linear.bias'" in message
    assert "'model.surprise'" in message
    assert_unchanged(fresh, before)


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage", "bad-header"])
def test_corrupt_file_names_brick_and_file_and_loads_nothing(saved: tuple[BrickCollection, Path], damage: str) -> None:
    _, folder = saved
    target = folder / CLASSIFY_FILE
    payload = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(payload[: len(payload) // 2])
    elif damage == "empty":
        target.write_bytes(b"")
    elif damage == "garbage":
        target.write_bytes(os.urandom(64))
    else:
        target.write_bytes(payload[:8] + b"{not json" + payload[17:])
    fresh = make_model(seed=1)
    before = snapshot(fresh)
    with pytest.raises(CorruptWeightsError) as info:
        fresh.load_bricks(folder)
    assert "'head0/classify'" in str(info.value)
    assert str(target) in str(info.value)
    assert isinstance(info.value, WeightsError)
    assert_unchanged(fresh, before)


# -- folders ---------------------------------------------------------------------------------------------------


def test_save_into_existing_folder_needs_exist_ok(saved: tuple[BrickCollection, Path]) -> None:
    _, folder = saved
    other = make_model(seed=1)
    with pytest.raises(WeightsFolderExistsError) as info:
        other.save_bricks(folder)
    assert str(folder) in str(info.value)
    assert isinstance(info.value, FileExistsError)
    fresh = make_model(seed=2)
    fresh.load_bricks(folder)
    assert_unchanged(fresh, snapshot(make_model(seed=0)))  # the folder still holds the first save

    other.save_bricks(folder, exist_ok=True)
    fresh.load_bricks(folder)
    assert_unchanged(fresh, snapshot(other))


def test_save_into_existing_empty_folder_needs_exist_ok(tmp_path: Path) -> None:
    with pytest.raises(WeightsFolderExistsError):
        make_model(seed=0).save_bricks(tmp_path)
    assert files_in(tmp_path) == set()


@pytest.mark.parametrize("kind", ["does-not-exist", "is-a-file"])
def test_unreadable_folder_is_a_missing_weights_error(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "weights"
    if kind == "is-a-file":
        folder.write_bytes(b"not a folder")
    with pytest.raises(MissingWeightsError) as info:
        make_model(seed=0).load_bricks(folder)
    assert str(folder) in str(info.value)
    with pytest.raises(MissingWeightsError):
        make_model(seed=0).load_bricks(folder, strict=False)


# -- atomic writes ---------------------------------------------------------------------------------------------


class CrashOnSecondCall:
    def __init__(self, original: Any, error: BaseException) -> None:
        self.original = original
        self.error = error
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 2:
            raise self.error
        return self.original(*args, **kwargs)


@pytest.mark.parametrize("crash_in", ["os.replace", "os.fsync", "interrupt"])
def test_crash_mid_save_keeps_the_previous_good_file_and_leaves_no_temp_files(
    saved: tuple[BrickCollection, Path], monkeypatch: pytest.MonkeyPatch, crash_in: str
) -> None:
    old_model, folder = saved
    old_state = snapshot(old_model)
    new_model = make_model(seed=1)
    if crash_in == "interrupt":
        crash = CrashOnSecondCall(os.replace, KeyboardInterrupt())
        monkeypatch.setattr(os, "replace", crash)
        expected_error: type[BaseException] = KeyboardInterrupt
    else:
        name = crash_in.split(".")[1]
        crash = CrashOnSecondCall(getattr(os, name), OSError("disk on fire"))
        monkeypatch.setattr(os, name, crash)
        expected_error = OSError
    with pytest.raises(expected_error):
        new_model.save_bricks(folder, exist_ok=True)
    monkeypatch.undo()
    assert crash.calls == 2

    assert files_in(folder) == {BACKBONE_FILE, CLASSIFY_FILE}, "no temporary files may be left behind"
    fresh = make_model(seed=2)
    fresh.load_bricks(folder, strict=True)
    assert_brick_state(fresh, "backbone", snapshot(new_model)["backbone"])  # first file was replaced
    assert_brick_state(fresh, "head0/classify", old_state["head0/classify"])  # second is the old good file


def test_crash_on_first_save_leaves_an_empty_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("no space left")

    monkeypatch.setattr(os, "replace", crash)
    folder = tmp_path / "weights"
    with pytest.raises(OSError, match="no space left"):
        make_model(seed=0).save_bricks(folder)
    assert files_in(folder) == set()


# -- special tensors -----------------------------------------------------------------------------------------------


def test_tied_shared_and_non_contiguous_tensors_save_and_load(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = BrickCollection({"autoencoder": BrickTrainable(TiedLinear(), input_names=["x"], output_names=["y"])})
    assert model["autoencoder"].model.decoder.weight is model["autoencoder"].model.encoder.weight
    written = model.save_bricks(tmp_path / "weights")
    assert len(written) == 1

    torch.manual_seed(1)
    fresh = BrickCollection({"autoencoder": BrickTrainable(TiedLinear(), input_names=["x"], output_names=["y"])})
    fresh.load_bricks(tmp_path / "weights", strict=True)
    fresh_module = fresh["autoencoder"].model
    assert fresh_module.decoder.weight is fresh_module.encoder.weight, "weights must stay tied after loading"
    assert_unchanged(fresh, snapshot(model))
    inputs = {"x": torch.rand(2, 4)}
    assert torch.equal(fresh(inputs)["y"], model(inputs)["y"])


def test_stateless_collection_saves_no_files_and_loads_from_an_empty_folder(tmp_path: Path) -> None:
    model = BrickCollection({"shift": BrickNotTrainable(AddConstant(1.0), input_names=["x"], output_names=["y"])})
    assert model.save_bricks(tmp_path / "weights") == []
    (tmp_path / "weights").mkdir(exist_ok=True)
    model.load_bricks(tmp_path / "weights", strict=True)
    assert model({"x": torch.tensor(1.0)})["y"].item() == pytest.approx(2.0)
