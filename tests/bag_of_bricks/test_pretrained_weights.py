"""The standard pack's torchvision weights: the table against torchvision's own enums, key mapping, tags.

Nothing here touches the internet: torchvision's real URLs are only compared as text, and a tag is
resolved from a mirror folder and a local HTTP server serving a file registered in a test entry.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

from bag_of_bricks import backbones
from bag_of_bricks.pretrained_weights import IMAGENET_CATEGORIES, TORCHVISION_KEY_MAPPINGS
from tests.helpers.pretrained import (
    TEST_TAG,
    isolate_weights,
    registered_torchvision_file,
    torch_hub_file,
    torchvision_model,
    torchvision_stage_outputs,
)
from tests.helpers.tensors import seeded
from tests.pretrained.server import WeightsServer
from torchbricks.errors import (
    CorruptWeightsError,
    MissingWeightsError,
    UnknownWeightsError,
    WeightsMismatchError,
    WeightsUnavailableError,
)

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "update_torchvision_weights.py"
ARCHITECTURES = tuple(TORCHVISION_KEY_MAPPINGS)
HASH_REGEX = getattr(torch.hub, "HASH_REGEX", re.compile(r"-([a-f0-9]*)\."))
SIZE = 32
pytestmark = pytest.mark.usefixtures("single_thread")


def generator():
    spec = importlib.util.spec_from_file_location("update_torchvision_weights", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the table against torchvision -----------------------------------------------------------------------------


def every_torchvision_value() -> list[tuple[str, object]]:
    return [
        (architecture, value)
        for architecture in ARCHITECTURES
        for value in torchvision.models.get_model_weights(architecture)
    ]


def test_every_torchvision_weights_value_is_registered_with_its_url_hash_and_categories() -> None:
    from torchbricks.pretrained import find_weights

    values = every_torchvision_value()
    assert len(values) >= len(ARCHITECTURES)
    for architecture, value in values:
        entry = find_weights(f"{architecture}.{value.name.lower()}")
        where = f"{architecture}.{value.name}"
        assert entry.brick == architecture, where
        assert entry.kind == "backbones", where
        assert entry.urls == (value.url,), where
        assert entry.sha256_is_prefix, where
        assert entry.sha256 == HASH_REGEX.search(value.url.rsplit("/", 1)[-1]).group(1), where
        assert entry.file_name == value.url.rsplit("/", 1)[-1], where
        assert list(entry.class_names) == value.meta["categories"], where
        assert entry.default == (torchvision.models.get_model_weights(architecture).DEFAULT is value), where
        transforms = value.transforms()
        assert entry.preprocessing.mean == tuple(transforms.mean), where
        assert entry.preprocessing.std == tuple(transforms.std), where
        assert list(entry.preprocessing.input_size) == list(transforms.crop_size) * 2, where
        assert [entry.preprocessing.resize_size] == list(transforms.resize_size), where
        assert entry.preprocessing.interpolation == transforms.interpolation.value, where
        reported = {metric.metric: metric.value for metric in entry.metrics if metric.dataset == "imagenet-1k"}
        assert reported == value.meta["_metrics"]["ImageNet-1K"], where
        assert entry.license == "BSD-3-Clause", where


def test_the_table_has_no_entry_that_torchvision_lacks_and_one_default_per_backbone() -> None:
    from torchbricks.pretrained import list_weights

    expected = {f"{architecture}.{value.name.lower()}" for architecture, value in every_torchvision_value()}
    registered = [entry for entry in list_weights() if entry.brick in ARCHITECTURES]
    assert {entry.name for entry in registered} == expected
    defaults = sorted(entry.brick for entry in registered if entry.default)
    assert defaults == sorted(ARCHITECTURES)


def test_the_categories_are_stored_once_and_shared() -> None:
    from torchbricks.pretrained import find_weights

    assert len(IMAGENET_CATEGORIES) == 1000
    assert find_weights("resnet18.imagenet1k_v1").class_names is find_weights("convnext_tiny.default").class_names


def test_the_generated_table_and_entry_points_are_up_to_date(capsys) -> None:
    assert generator().main(["--check"]) == 0, capsys.readouterr().out


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_the_key_mapping_covers_every_torchvision_parameter_of_the_backbone(architecture: str) -> None:
    with torch.device("meta"):
        theirs = getattr(torchvision.models, architecture)(weights=None).state_dict()
        ours = getattr(backbones, architecture)().state_dict()
    mapped = backbones.to_backbone_layout(theirs, architecture, "a test")
    assert set(mapped) == set(ours)
    assert all(mapped[key].shape == ours[key].shape for key in ours)


# -- torchvision's layout, bit for bit ---------------------------------------------------------------------------


@pytest.mark.parametrize(("architecture", "suffix"), [("resnet18", ".pth"), ("mobilenet_v3_small", ".safetensors")])
def test_a_torchvision_layout_file_gives_bit_identical_feature_maps(tmp_path, architecture: str, suffix: str) -> None:
    model = torchvision_model(architecture)
    path = tmp_path / f"{architecture}{suffix}"
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    save_file(state, str(path)) if suffix == ".safetensors" else torch.save(state, path)
    torch.manual_seed(1)  # another seed: nothing may stay from the backbone's own initialisation
    ours = getattr(backbones, architecture)(weights=str(path)).eval()
    images = seeded(2, 3, SIZE, SIZE, seed=7)
    with torch.no_grad():
        actual = ours(images)
    expected = torchvision_stage_outputs(model, architecture, images)
    assert len(actual) == len(expected) == 4
    for level, (mine, theirs) in enumerate(zip(actual, expected, strict=True), start=2):
        assert torch.equal(mine, theirs), f"c{level} differs"


def test_fewer_levels_use_the_stages_they_have_and_ignore_the_rest(tmp_path) -> None:
    model = torchvision_model("efficientnet_b0")
    path = tmp_path / "efficientnet_b0.pth"
    torch.save(model.state_dict(), path)
    ours = backbones.efficientnet_b0(levels=(2, 3), weights=path).eval()
    images = seeded(1, 3, SIZE, SIZE, seed=8)
    with torch.no_grad():
        c2, c3 = ours(images)
    expected = torchvision_stage_outputs(model, "efficientnet_b0", images)
    assert torch.equal(c2, expected[0])
    assert torch.equal(c3, expected[1])


def test_a_file_of_another_architecture_names_the_backbone_and_the_tensors(tmp_path) -> None:
    path = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), path)
    fresh = backbones.resnet18(levels=(2,))
    before = {key: value.clone() for key, value in fresh.state_dict().items()}
    with pytest.raises(
        WeightsMismatchError, match=r"backbone 'resnet18'.*'stages\.0\.4\.0\.conv1\.weight' is \(64, 64, 1, 1\)"
    ):
        backbones._with_weights(fresh, path, "resnet18")
    assert all(torch.equal(before[key], value) for key, value in fresh.state_dict().items())


def test_unknown_keys_are_refused_not_ignored(tmp_path) -> None:
    state = torchvision.models.resnet18(weights=None).state_dict()
    state["layer9.weight"] = torch.zeros(1)
    path = tmp_path / "odd.pth"
    torch.save(state, path)
    with pytest.raises(WeightsMismatchError, match=r"unexpected keys \['layer9\.weight'\]"):
        backbones.resnet18(weights=path)


def test_a_missing_file_and_a_corrupt_file_name_the_file(tmp_path) -> None:
    with pytest.raises(MissingWeightsError, match=r"nowhere\.safetensors"):
        backbones.resnet18(weights=str(tmp_path / "nowhere.safetensors"))
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a state dict")
    with pytest.raises(CorruptWeightsError, match=r"broken\.pth"):
        backbones.resnet18(weights=broken)


def test_our_own_layout_still_loads_and_a_checkpoint_wrapping_it_too(tmp_path) -> None:
    torch.manual_seed(3)
    source = backbones.mobilenet_v3_small(levels=(2, 3)).eval()
    path = tmp_path / "wrapped.pt"
    torch.save({"state_dict": source.state_dict()}, path)
    loaded = backbones.mobilenet_v3_small(levels=(2,), weights=path).eval()
    images = seeded(1, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(loaded(images), source(images)[0])


# -- tags: registered weights resolved offline from a mirror, or downloaded from a local server ---------------------


def test_a_tag_resolves_from_a_mirror_folder_with_the_network_off(tmp_path, monkeypatch) -> None:
    isolate_weights(monkeypatch, tmp_path)
    model = torchvision_model("resnet18")
    file_name, payload = torch_hub_file(model, "resnet18")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / file_name).write_bytes(payload)
    monkeypatch.setenv("TORCHBRICKS_WEIGHTS_MIRROR", str(mirror))
    monkeypatch.setenv("TORCHBRICKS_OFFLINE", "1")
    with registered_torchvision_file("resnet18", file_name, f"http://127.0.0.1:9/{file_name}"):
        ours = backbones.resnet18(levels=(4, 5), weights=TEST_TAG).eval()
    images = seeded(1, 3, SIZE, SIZE, seed=9)
    with torch.no_grad():
        c4, c5 = ours(images)
    expected = torchvision_stage_outputs(model, "resnet18", images)
    assert torch.equal(c4, expected[2])
    assert torch.equal(c5, expected[3])


def test_a_full_name_downloads_once_from_a_local_server_into_the_cache(tmp_path, monkeypatch) -> None:
    cache = isolate_weights(monkeypatch, tmp_path)
    model = torchvision_model("mobilenet_v3_small", seed=4)
    file_name, payload = torch_hub_file(model, "mobilenet_v3_small")
    with WeightsServer() as server:
        url = server.serve(file_name, payload)
        with registered_torchvision_file("mobilenet_v3_small", file_name, url) as weights:
            first = backbones.mobilenet_v3_small(weights=weights.name).eval()
            second = backbones.mobilenet_v3_small(weights=weights.name).eval()
        assert server.requests == [f"/{file_name}"]  # the second backbone used the cache
    assert (cache / "weights" / weights.name / file_name).read_bytes() == payload
    images = seeded(1, 3, SIZE, SIZE, seed=10)
    with torch.no_grad():
        expected = torchvision_stage_outputs(model, "mobilenet_v3_small", images)[-1]
        assert torch.equal(first(images)[-1], expected)
        assert torch.equal(second(images)[-1], expected)


def test_offline_without_the_file_names_the_weights_and_opens_no_connection(tmp_path, monkeypatch) -> None:
    isolate_weights(monkeypatch, tmp_path)
    monkeypatch.setenv("TORCHBRICKS_OFFLINE", "1")
    with WeightsServer() as server:
        url = server.serve("resnet18-00000000.pth", b"never sent")
        with (
            registered_torchvision_file("resnet18", "resnet18-00000000.pth", url),
            pytest.raises(WeightsUnavailableError, match=rf"resnet18\.{TEST_TAG}.*TORCHBRICKS_OFFLINE"),
        ):
            backbones.resnet18(weights=TEST_TAG)
        assert server.requests == []


def test_weights_of_another_backbone_and_unknown_tags_are_refused_with_suggestions(tmp_path, monkeypatch) -> None:
    isolate_weights(monkeypatch, tmp_path)
    monkeypatch.setenv("TORCHBRICKS_OFFLINE", "1")
    with pytest.raises(
        WeightsMismatchError, match=r"'resnet50\.imagenet1k_v2' are for backbone 'resnet50', not 'resnet18'"
    ):
        backbones.resnet18(weights="resnet50.imagenet1k_v2")
    with pytest.raises(UnknownWeightsError, match=r"Did you mean 'resnet18\.imagenet1k_v1'"):
        backbones.resnet18(weights="imagenet1k_v2")
