"""Saved model folders: save_model writes the config and weights, load_model rebuilds the model from the registries."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.helpers.configs import assert_error, images, minimal, small_config, train_batch
from tests.helpers.modules import TinyBackbone
from torchbricks import BrickCollection
from torchbricks.assembly import (
    CONFIG_FILE,
    WEIGHTS_FOLDER,
    assemble_model,
    build_model,
    load_model,
    resolve_config,
    save_model,
)
from torchbricks.errors import (
    ConfigError,
    MissingPackError,
    WeightsFolderExistsError,
)

# -- saved model folders -------------------------------------------------------------------------------------


def trained_model(**changes: Any) -> BrickCollection:
    torch.manual_seed(0)
    model = build_model(small_config(**changes))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    outputs = model(train_batch(4), groups="train")
    model.extract_losses(outputs)["loss"].backward()
    optimizer.step()
    return model.eval()


def inference_outputs(model: BrickCollection) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        outputs = model({"images": images(3, seed=5)}, groups="inference")
    return {name: value for name, value in outputs.items() if isinstance(value, torch.Tensor)}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """A trained model with learned loss weighting, saved; its outputs and state."""
    model = trained_model(loss_weighting={"name": "uncertainty_weighting"})
    with torch.no_grad():
        model["total_loss"].model.log_variances.copy_(torch.tensor([0.3, -0.7]))
    folder = save_model(model, tmp_path_factory.mktemp("saved") / "model")
    state = {key: value.clone() for key, value in model.state_dict().items()}
    return folder, inference_outputs(model), state


def test_saved_model_folder_holds_the_config_and_weights(saved) -> None:
    folder, _, _ = saved
    config = json.loads((folder / CONFIG_FILE).read_text())
    recorded_input = config.pop("input")
    assert config == resolve_config(small_config(loss_weighting={"name": "uncertainty_weighting"}))
    assert recorded_input["channels"] == 3
    assert recorded_input["size"] is None  # saved outside a train run: the training size is unknown
    assert "torchbricks" in config["packs"]
    weight_files = {
        path.relative_to(folder / WEIGHTS_FOLDER).as_posix() for path in (folder / WEIGHTS_FOLDER).rglob("*")
    }
    assert "backbone.safetensors" in weight_files
    assert "total_loss.safetensors" in weight_files


def test_save_load_round_trip_gives_identical_outputs(saved) -> None:
    folder, expected_outputs, expected_state = saved
    loaded = load_model(folder)
    assert not loaded.training
    actual = inference_outputs(loaded)
    assert actual.keys() == expected_outputs.keys()
    for name, value in expected_outputs.items():
        assert torch.equal(actual[name], value), name
    state = loaded.state_dict()
    assert state.keys() == expected_state.keys()
    for key, value in expected_state.items():
        assert torch.equal(state[key], value), key
    torch.testing.assert_close(loaded["total_loss"].model.log_variances.detach(), torch.tensor([0.3, -0.7]))


def test_a_loaded_model_trains_again(saved) -> None:
    loaded = load_model(saved[0])
    outputs = loaded.train()(train_batch(), groups="train")
    loaded.extract_losses(outputs)["loss"].backward()
    assert loaded["backbone"].model.stages[0][0].weight.grad is not None


def copy_saved(folder: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(folder, tmp_path / "copy"))


def edit_config(folder: Path, edit) -> None:
    path = folder / CONFIG_FILE
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


def test_load_model_names_a_missing_pack(saved, tmp_path: Path) -> None:
    folder = copy_saved(saved[0], tmp_path)
    edit_config(folder, lambda config: config["packs"].update({"torchbricks-nonexistent": "1.0"}))
    with pytest.raises(MissingPackError) as error:
        load_model(folder)
    assert_error(error, "torchbricks-nonexistent", "pip install torchbricks-nonexistent")
    assert "pip install torchbricks-nonexistent" in str(error.value)
    assert "pip install torchbricks " not in str(error.value)  # only the missing pack


def test_load_model_names_a_brick_that_no_longer_exists(saved, tmp_path: Path) -> None:
    folder = copy_saved(saved[0], tmp_path)
    edit_config(folder, lambda config: config["backbone"].update({"name": "torchbricks:resnet_gone"}))
    with pytest.raises(MissingPackError) as error:
        load_model(folder)
    assert_error(error, "resnet_gone", "backbone.name")


def test_load_model_names_an_unknown_pack_of_a_qualified_name(saved, tmp_path: Path) -> None:
    folder = copy_saved(saved[0], tmp_path)
    edit_config(folder, lambda config: config["neck"].update({"name": "otherpack:upsampling"}))
    with pytest.raises(MissingPackError) as error:
        load_model(folder)
    assert_error(error, "otherpack")


def test_load_model_of_a_folder_without_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_model(tmp_path)
    assert_error(error, str(tmp_path), CONFIG_FILE)


def test_save_model_needs_a_config() -> None:
    model = assemble_model(backbone=TinyBackbone(), tasks={"kind": {"task": "image_classification", "num_classes": 2}})
    with pytest.raises(ConfigError, match="save_bricks"):
        save_model(model, "unused")


def test_save_model_does_not_overwrite_unless_asked(saved) -> None:
    folder = saved[0]
    model = load_model(folder)
    with pytest.raises(WeightsFolderExistsError, match="exist_ok"):
        save_model(model, folder)
    assert save_model(model, folder, exist_ok=True) == folder


def test_save_model_keeps_the_config_of_the_model(tmp_path: Path) -> None:
    model = build_model(minimal())
    config_before = copy.deepcopy(model.config)
    save_model(model, tmp_path / "m")
    saved = json.loads((tmp_path / "m" / CONFIG_FILE).read_text())
    assert model.config == config_before
    assert {key: value for key, value in saved.items() if key != "input"} == config_before


def test_without_an_atomic_exchange_a_save_still_replaces_the_folder_or_keeps_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where ``renameat2(RENAME_EXCHANGE)`` is missing the old folder is renamed aside first; a failure puts it back."""
    import os

    import torchbricks._folders as folders
    from torchbricks import build_model, save_model

    monkeypatch.setattr(folders, "_exchange", lambda first, second: False)
    old = save_model(build_model(minimal()), tmp_path / "model")
    two = minimal(
        tasks={
            "a": {"task": "image_classification", "num_classes": 2},
            "b": {"task": "image_classification", "num_classes": 2},
        }
    )
    save_model(build_model(two), old, exist_ok=True)
    assert sorted(load_model(old).config["tasks"]) == ["a", "b"]

    real_rename = os.rename

    def refuse_the_new_folder(source, destination):
        if ".saving-" in str(source):
            raise OSError("disk full")
        return real_rename(source, destination)

    monkeypatch.setattr(os, "rename", refuse_the_new_folder)
    with pytest.raises(OSError, match="disk full"):
        save_model(build_model(minimal()), old, exist_ok=True)
    assert sorted(load_model(old).config["tasks"]) == ["a", "b"]  # the previous model, complete
    assert [path.name for path in tmp_path.iterdir()] == ["model"]


def test_load_model_is_strict_and_load_bricks_is_not_as_both_docstrings_say(saved, tmp_path: Path) -> None:
    """A saved folder is one model (a missing file is an error); ``load_bricks`` fills what has a file."""
    from torchbricks.errors import BrickWeightsWarning, MissingWeightsError

    folder = copy_saved(saved[0], tmp_path)
    removed = sorted((folder / WEIGHTS_FOLDER).rglob("*.safetensors"))[0]
    removed.unlink()
    with pytest.raises(MissingWeightsError, match=removed.stem):
        load_model(folder)
    with pytest.warns(BrickWeightsWarning):
        model = load_model(folder, strict=False)
    fresh = build_model(json.loads((folder / CONFIG_FILE).read_text()))
    with pytest.warns(BrickWeightsWarning):
        fresh.load_bricks(folder / WEIGHTS_FOLDER)  # the default: what fits loads
    for function in (load_model, BrickCollection.load_bricks):
        assert "on purpose" in (function.__doc__ or "") or "unlike" in (function.__doc__ or ""), function
    assert set(model.state_dict()) == set(fresh.state_dict())
