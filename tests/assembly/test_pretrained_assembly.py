"""Pretrained weights in model and train configs: preprocessing, provenance, saved models that never download,
and new models started from the bricks of a saved model folder.

Weights come from a seeded torchvision-layout file registered as a test entry (``resnet18.test_seeded``)
and served by a mirror folder with the network off; nothing touches the internet.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from tests.helpers.configs import SIZE, assert_error, images, minimal, small_config
from tests.helpers.pretrained import (
    TEST_PREPROCESSING,
    TEST_TAG,
    isolate_weights,
    registered_torchvision_file,
    torch_hub_file,
    torchvision_model,
    torchvision_stage_outputs,
)
from torchbricks import build_model, load_model, resolve_config, save_model
from torchbricks.assembly._model_folder import _without_file_arguments
from torchbricks.assembly._pretrained import pretrained_of
from torchbricks.errors import BrickWeightsWarning, ConfigError, WeightsMismatchError

pytestmark = pytest.mark.usefixtures("single_thread")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def seeded_weights(tmp_path, monkeypatch):
    """``resnet18.test_seeded``: a torchvision resnet18 file in a mirror folder, the network off, an empty cache."""
    isolate_weights(monkeypatch, tmp_path)
    model = torchvision_model("resnet18")
    file_name, payload = torch_hub_file(model, "resnet18")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / file_name).write_bytes(payload)
    monkeypatch.setenv("TORCHBRICKS_WEIGHTS_MIRROR", str(mirror))
    monkeypatch.setenv("TORCHBRICKS_OFFLINE", "1")
    with registered_torchvision_file("resnet18", file_name, f"http://127.0.0.1:9/{file_name}") as weights:
        yield weights, model, hashlib.sha256(payload).hexdigest()


def pretrained_config(**changes):
    return minimal(backbone={"name": "resnet18", "levels": [5], "weights": TEST_TAG}, **changes)


# -- a tag in a model config -------------------------------------------------------------------------------------


def test_a_tag_gives_the_backbone_its_weights_the_preprocessor_theirs_and_records_the_file(seeded_weights) -> None:
    _, torchvision_resnet, sha256 = seeded_weights
    model = build_model(pretrained_config()).eval()
    preprocessor = model["preprocessor"].model
    assert preprocessor.mean.flatten().tolist() == pytest.approx(TEST_PREPROCESSING.mean)
    assert preprocessor.std.flatten().tolist() == pytest.approx(TEST_PREPROCESSING.std)
    assert model.config["preprocessor"]["mean"] == list(TEST_PREPROCESSING.mean)
    assert model.config["pretrained"] == {"backbone": {"name": f"local:resnet18.{TEST_TAG}", "sha256": sha256}}
    with torch.no_grad():
        expected = torchvision_stage_outputs(torchvision_resnet, "resnet18", preprocessor(images()))[-1]
        assert torch.equal(model({"images": images()}, groups="MODEL")["backbone/c5"], expected)


def test_a_preprocessor_the_config_sets_wins_over_the_weights(seeded_weights) -> None:
    config = pretrained_config(preprocessor={"name": "normalize", "mean": [0.5] * 3, "std": [0.5] * 3})
    assert resolve_config(config)["preprocessor"]["mean"] == [0.5, 0.5, 0.5]
    assert resolve_config(pretrained_config(preprocessor=None))["preprocessor"] is None


def test_a_resolved_config_with_weights_resolves_to_itself(seeded_weights) -> None:
    resolved = resolve_config(pretrained_config())
    assert resolve_config(resolved) == resolved
    built = build_model(resolved, resolved=True)
    assert resolve_config(built.config) == built.config  # the provenance passes through


def test_unknown_tags_and_weights_of_another_brick_are_config_problems_found_before_building(seeded_weights) -> None:
    config = minimal(
        backbone={"name": "resnet18", "weights": "test_seded"},
        neck={"name": "upsampling", "weights": "x"},
    )
    with pytest.raises(ConfigError) as error:
        resolve_config(config)
    assert_error(error, "backbone.weights: No pretrained weights named 'resnet18.test_seded'", f"'resnet18.{TEST_TAG}'")
    with pytest.raises(ConfigError) as error:
        resolve_config(minimal(backbone={"name": "mobilenet_v3_small", "weights": f"resnet18.{TEST_TAG}"}))
    assert_error(error, f"'resnet18.{TEST_TAG}' are weights for the backbones 'resnet18', not for 'mobilenet_v3_small'")


def test_default_and_full_names_name_the_registered_weights() -> None:
    assert pretrained_of("torchbricks:resnet50", "default").name == "resnet50.imagenet1k_v2"
    assert pretrained_of("resnet50", "imagenet1k_v1").name == "resnet50.imagenet1k_v1"
    assert pretrained_of("resnet50", "torchbricks:resnet50.imagenet1k_v2").tag == "imagenet1k_v2"
    assert pretrained_of("resnet50", "weights/resnet50.pth") is None
    assert pretrained_of("resnet50", None) is None
    resolved = resolve_config(minimal(backbone={"name": "resnet50", "weights": "default"}))
    assert resolved["preprocessor"]["std"] == [0.229, 0.224, 0.225]


def test_a_local_weights_file_is_recorded_by_path_and_sha256(tmp_path, seeded_weights) -> None:
    path = tmp_path / "backbone.pth"
    torch.save(torchvision_model("resnet18", seed=2).state_dict(), path)
    model = build_model(minimal(backbone={"name": "resnet18", "levels": [5], "weights": str(path)}))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert model.config["pretrained"] == {"backbone": {"name": str(path), "sha256": digest}}
    assert model.config["preprocessor"] == resolve_config(minimal())["preprocessor"]  # a file says nothing of it


def test_a_train_config_and_set_overrides_take_tags(seeded_weights) -> None:
    from torchbricks.training import check_training, load_train_config

    train_config = {
        "model": minimal(backbone={"name": "resnet18", "levels": [5]}),
        "data": {"train": {"name": "shapes", "count": 8, "image_size": SIZE}, "batch_size": 4},
        "trainer": {"max_steps": 1},
    }
    settings = load_train_config(train_config, [f"model.backbone.weights={TEST_TAG}"])
    assert settings["model"]["backbone"]["weights"] == TEST_TAG
    assert settings["model"]["preprocessor"]["mean"] == list(TEST_PREPROCESSING.mean)
    assert check_training(train_config, [f"model.backbone.weights={TEST_TAG}"])["model"]["backbone"]["weights"]


# -- saved models never download ------------------------------------------------------------------------------------

NO_NETWORK = """
import json, socket, sys

class NoNetwork(socket.socket):
    def __init__(self, *args, **kwargs):
        raise OSError("a socket was opened")

socket.socket = NoNetwork
socket.create_connection = lambda *args, **kwargs: (_ for _ in ()).throw(OSError("a connection was opened"))

import torch
from torchbricks import load_model

model = load_model(sys.argv[1])
torch.manual_seed(0)
images = torch.rand(2, 3, 32, 32)
with torch.no_grad():
    features = model({"images": images}, groups="MODEL")["backbone/c5"]
print(json.dumps({"pretrained": model.config["pretrained"], "sum": features.double().sum().item()}))
"""


@pytest.mark.slow  # a fresh interpreter imports torch
def test_a_saved_model_built_from_pretrained_weights_loads_offline_with_an_empty_cache_and_no_socket(
    tmp_path, seeded_weights
) -> None:
    _, _, sha256 = seeded_weights
    model = build_model(pretrained_config()).eval()
    folder = save_model(model, tmp_path / "saved")
    saved = json.loads((folder / "config.json").read_text())
    assert saved["backbone"]["weights"] == TEST_TAG
    assert saved["pretrained"]["backbone"]["sha256"] == sha256
    empty_cache = tmp_path / "empty-cache"
    empty_cache.mkdir()
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("TORCHBRICKS_WEIGHTS_MIRROR",) and not key.lower().endswith("_proxy")
    }
    environment.update(
        TORCHBRICKS_OFFLINE="1",
        TORCHBRICKS_CACHE_DIR=str(empty_cache),
        TORCH_HOME=str(tmp_path / "empty-torch-home"),
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [sys.executable, "-c", NO_NETWORK, str(folder)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["pretrained"] == saved["pretrained"]
    torch.manual_seed(0)
    with torch.no_grad():
        expected = model({"images": torch.rand(2, 3, 32, 32)}, groups="MODEL")["backbone/c5"].double().sum().item()
    assert loaded["sum"] == pytest.approx(expected, rel=1e-6)
    assert list(empty_cache.iterdir()) == []


def test_load_model_neutralises_every_weights_source() -> None:
    config = {
        "backbone": {"name": "resnet18", "weights": "imagenet1k_v2"},
        "neck": {"name": "x", "weights": {"from": "elsewhere/model"}, "checkpoint_path": "a.ckpt"},
        "loss_weighting": {"name": "fixed_weighting", "weights": {"kind": 2.0}},  # task weights, not a file
        "tasks": {"kind": {"task": "image_classification", "weights": "b.pth"}},
        "weights": {"from": "run/model", "bricks": ["backbone"]},
    }
    cleaned = _without_file_arguments(config)
    assert cleaned["backbone"]["weights"] is None
    assert cleaned["neck"]["weights"] is None
    assert cleaned["neck"]["checkpoint_path"] is None
    assert cleaned["tasks"]["kind"]["weights"] is None
    assert cleaned["weights"] is None
    assert cleaned["loss_weighting"]["weights"] == {"kind": 2.0}
    assert config["backbone"]["weights"] == "imagenet1k_v2"  # the caller's config is untouched


# -- starting from the bricks of a saved model ---------------------------------------------------------------------


@pytest.fixture
def source_folder(tmp_path) -> Path:
    torch.manual_seed(0)
    return save_model(build_model(small_config()), tmp_path / "source")


def new_task_config(source: Path, **weights) -> dict:
    config = small_config(tasks={"colour": {"task": "image_classification", "num_classes": 5, "targets": "colour"}})
    config["weights"] = {"from": str(source), **weights}
    return config


def test_a_new_model_takes_the_selected_bricks_and_reports_what_is_new(source_folder) -> None:
    from safetensors.torch import load_file

    torch.manual_seed(1)
    model = build_model(new_task_config(source_folder, bricks=["backbone", "neck"]))
    report = model.start_report
    assert report.taken == ("backbone", "neck")
    assert report.new == ("colour/head",)
    assert report.did_not_fit == {}
    saved = load_file(source_folder / "weights" / "backbone.safetensors")
    assert all(torch.equal(saved[key], value) for key, value in model["backbone"].state_dict().items())
    backbone_file = source_folder / "weights" / "backbone.safetensors"
    assert model.config["pretrained"]["backbone"] == {
        "name": str(backbone_file),
        "sha256": hashlib.sha256(backbone_file.read_bytes()).hexdigest(),
    }
    assert "took 2 brick(s): backbone, neck" in report.summary()


def test_without_bricks_everything_that_fits_is_taken_and_the_rest_is_reported(source_folder) -> None:
    config = new_task_config(source_folder)
    config["tasks"]["kind"] = {"task": "image_classification", "num_classes": 3, "targets": "label"}
    model = build_model(config)
    assert model.start_report.taken == ("backbone", "neck", "kind/head")
    assert model.start_report.unused == ("seg/head",)


def test_a_brick_that_does_not_fit_warns_naming_the_brick_and_the_tensor(source_folder) -> None:
    config = new_task_config(source_folder, bricks=["backbone", "neck"])
    config["neck"] = {"name": "upsampling", "out_channels": 8}
    with pytest.warns(
        BrickWeightsWarning,
        match=r"neck: 'model\.laterals\.0\.bias' is \(16,\) in the file but \(8,\) in the brick; .* and \d+ more",
    ) as caught:
        model = build_model(config)
    assert model.start_report.taken == ("backbone",)
    assert list(model.start_report.did_not_fit) == ["neck"]
    assert "neck" in str(caught[0].message)


def test_nothing_that_fits_is_an_error_and_a_bad_source_a_config_problem(source_folder, tmp_path) -> None:
    config = new_task_config(source_folder, bricks=["backbone"])
    config["backbone"] = {"name": "resnet18", "levels": [2, 3, 4]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrickWeightsWarning)
        with pytest.raises(WeightsMismatchError, match=r"Nothing of the saved model .* fits the new model's bricks"):
            build_model(config)
    with pytest.raises(ConfigError) as error:
        resolve_config(new_task_config(tmp_path / "nowhere", bricks=["backbone", "nek"], brick=["x"]))
    assert_error(
        error,
        "weights.from: ",
        "is not a saved model folder",
        "weights.bricks: 'nek' is no brick of the new model. Did you mean 'neck'?",
        "weights.brick: unknown key",
    )


def test_a_model_started_from_a_folder_saves_and_loads_without_it(source_folder, tmp_path) -> None:
    import shutil

    model = build_model(new_task_config(source_folder, bricks=["backbone"])).eval()
    folder = save_model(model, tmp_path / "new")
    shutil.rmtree(source_folder)
    loaded = load_model(folder)
    assert loaded.config["weights"]["bricks"] == ["backbone"]
    with torch.no_grad():
        assert torch.equal(
            loaded({"images": images()}, groups="MODEL")["colour/logits"],
            model({"images": images()}, groups="MODEL")["colour/logits"],
        )
