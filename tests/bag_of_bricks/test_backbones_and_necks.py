"""The standard pack's backbones and necks: declared interfaces against real outputs, levels, weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import torchvision

from bag_of_bricks import backbones, necks
from tests.helpers.tensors import seeded
from torchbricks import BrickCollection, registry
from torchbricks.errors import WeightsMismatchError
from torchbricks.features import FeatureSpec

SIZE = 64
HEAVY_BACKBONES = {"resnet101", "resnet152", "convnext_tiny"}


def bag_of_bricks_backbones() -> list[str]:
    return [entry.name for entry in registry.list_bricks("backbones", pack="torchbricks")]


def backbone_params() -> list[pytest.param]:
    return [
        pytest.param(name, marks=pytest.mark.slow) if name in HEAVY_BACKBONES else pytest.param(name)
        for name in bag_of_bricks_backbones()
    ]


def assert_outputs_match_spec(outputs: tuple[torch.Tensor, ...], spec: FeatureSpec, size: int = SIZE) -> None:
    assert len(outputs) == len(spec.names)
    for output, channels, stride in zip(outputs, spec.channels, spec.strides, strict=True):
        assert output.shape == (1, channels, size // stride, size // stride)


# -- backbones -----------------------------------------------------------------------------------------------


def test_every_torchvision_family_is_registered() -> None:
    names = set(bag_of_bricks_backbones())
    expected = {f"resnet{depth}" for depth in (18, 34, 50, 101, 152)}
    expected |= {"mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "convnext_tiny"}
    assert expected <= names


@pytest.mark.parametrize("name", backbone_params())
def test_backbone_declared_interface_matches_real_outputs(name: str) -> None:
    entry = registry.get_entry("backbones", name)
    factory = entry.load()
    declared = factory.feature_spec
    assert isinstance(declared, FeatureSpec)
    assert entry.interface == declared
    assert declared.names == ("c2", "c3", "c4", "c5")
    assert declared.strides == (4, 8, 16, 32)
    backbone = factory().eval()
    assert backbone.feature_spec == declared
    with torch.no_grad():
        outputs = backbone(seeded(1, 3, SIZE, SIZE))
    assert_outputs_match_spec(outputs, declared)


def test_backbone_interfaces_are_known_without_importing_the_backbones() -> None:
    script = (
        "import json, sys\n"
        "from torchbricks import registry\n"
        "entries = registry.list_bricks('backbones', pack='torchbricks')\n"
        "interfaces = {entry.name: entry.interface.to_dict() for entry in entries}\n"
        "print(json.dumps({'interfaces': interfaces, 'imported': 'bag_of_bricks.backbones' in sys.modules}))\n"
    )
    environment = {**os.environ, "TORCHBRICKS_NO_CACHE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=environment, timeout=120
    )
    listed = json.loads(result.stdout.strip().splitlines()[-1])
    assert listed["imported"] is False
    for name, interface in listed["interfaces"].items():
        assert FeatureSpec.from_dict(interface) == getattr(backbones, name).feature_spec, name


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_single_scale_backbone_returns_the_coarsest_map_itself(name: str) -> None:
    factory = registry.get("backbones", name)
    torch.manual_seed(0)
    full = factory().eval()
    single = factory(levels=(5,)).eval()
    assert single.feature_spec == FeatureSpec(("c5",), (factory.feature_spec.channels[-1],), (32,))
    single.load_state_dict(full.state_dict())
    images = seeded(1, 3, SIZE, SIZE)
    with torch.no_grad():
        single_outputs = single(images)
        full_outputs = full(images)
    assert isinstance(single_outputs, torch.Tensor)  # one map for one output name, as necks and heads expect
    assert torch.equal(single_outputs, full_outputs[-1])


def test_backbone_levels_subset_drops_unused_stages() -> None:
    backbone = backbones.resnet18(levels=(2, 3))
    assert backbone.feature_spec == FeatureSpec(("c2", "c3"), (64, 128), (4, 8))
    assert len(backbone.stages) == 2
    assert_outputs_match_spec(backbone.eval()(seeded(1, 3, SIZE, SIZE)), backbone.feature_spec)
    unsorted = backbones.resnet18(levels=(5, 3))
    assert unsorted.feature_spec.names == ("c3", "c5")


@pytest.mark.parametrize("levels", [(), (1,), (6,), (2, 7)])
def test_backbone_rejects_unknown_levels(levels: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="levels"):
        backbones.resnet18(levels=levels)


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_backbone_loads_local_weights(tmp_path, suffix: str) -> None:
    from safetensors.torch import save_file

    torch.manual_seed(1)
    source = backbones.resnet18(levels=(3, 5))
    with torch.no_grad():  # give batch-norm statistics non-default values so buffers are checked too
        source.train()(seeded(2, 3, SIZE, SIZE))
    source.eval()
    state = {key: value.contiguous() for key, value in source.state_dict().items()}
    path = tmp_path / f"backbone{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    torch.manual_seed(2)
    loaded = backbones.resnet18(levels=(3, 5), weights=str(path)).eval()
    fresh = backbones.resnet18(levels=(3, 5)).eval()
    images = seeded(1, 3, SIZE, SIZE, seed=3)
    with torch.no_grad():
        expected, actual, other = source(images), loaded(images), fresh(images)
    for expected_map, actual_map in zip(expected, actual, strict=True):
        assert torch.equal(expected_map, actual_map)
    assert not torch.equal(expected[-1], other[-1])


def test_backbone_weights_of_another_architecture_are_rejected(tmp_path) -> None:
    path = tmp_path / "small.pt"
    torch.save(backbones.resnet18(levels=(2,)).state_dict(), path)
    with pytest.raises(WeightsMismatchError, match=r"backbone 'resnet18': missing keys \['stages\.1\."):
        backbones.resnet18(levels=(2, 3, 4, 5), weights=str(path))


def test_resnet_to_brick_wraps_a_torchvision_resnet() -> None:
    resnet = torchvision.models.resnet18(weights=None)
    brick = backbones.resnet_to_brick(resnet, input_name="image", output_name="features")
    assert brick.input_names == ["image"]
    assert brick.output_names == ["features"]
    assert brick.model.n_backbone_features == 512
    assert brick.model.layer4 is resnet.layer4
    model = BrickCollection({"backbone": brick})
    images = seeded(2, 3, SIZE, SIZE)
    features = model({"image": images})["features"]
    assert features.shape == (2, 512, 2, 2)
    resnet.eval()
    with torch.no_grad():
        expected = torch.nn.Sequential(*list(resnet.children())[:-2])(images)
        actual = model.eval()({"image": images})["features"]
    assert torch.equal(actual, expected)


def test_resnet_to_brick_is_trainable() -> None:
    brick = backbones.resnet_to_brick(torchvision.models.resnet18(weights=None), "image", "features")
    features = BrickCollection({"backbone": brick})({"image": seeded(2, 3, 32, 32)})["features"]
    features.sum().backward()
    assert brick.model.stem[0].weight.grad is not None
    assert "MODEL" in brick.groups


# -- necks ---------------------------------------------------------------------------------------------------

RESNET18_SPEC = backbones.resnet18.feature_spec


def resnet18_features(batch: int = 2) -> list[torch.Tensor]:
    return [
        seeded(batch, channels, SIZE // stride, SIZE // stride, seed=index)
        for index, (channels, stride) in enumerate(zip(RESNET18_SPEC.channels, RESNET18_SPEC.strides, strict=True))
    ]


def test_upsampling_neck_fuses_levels_at_the_finest_stride() -> None:
    neck = registry.create(
        "necks", "upsampling", in_channels=RESNET18_SPEC.channels, in_strides=RESNET18_SPEC.strides, out_channels=16
    )
    assert neck.feature_spec == FeatureSpec(("features",), (16,), (4,))
    output = neck(*resnet18_features())
    assert output.shape == (2, 16, SIZE // 4, SIZE // 4)
    output.mean().backward()
    assert all(lateral.weight.grad is not None for lateral in neck.laterals)


def test_fpn_neck_returns_one_map_per_level() -> None:
    neck = registry.create("necks", "fpn", in_channels=RESNET18_SPEC.channels, in_strides=RESNET18_SPEC.strides)
    assert neck.feature_spec == FeatureSpec(("p2", "p3", "p4", "p5"), (64,) * 4, (4, 8, 16, 32))
    features = resnet18_features()
    outputs = neck(*features)
    assert isinstance(outputs, tuple)
    assert [tuple(output.shape) for output in outputs] == [(2, 64, *feature.shape[-2:]) for feature in features]


def test_fpn_neck_on_a_subset_of_levels() -> None:
    neck = necks.fpn(in_channels=(128, 512), in_strides=(8, 32), out_channels=8)
    assert neck.feature_spec == FeatureSpec(("p3", "p5"), (8, 8), (8, 32))
    outputs = neck(seeded(1, 128, 8, 8), seeded(1, 512, 2, 2))
    assert [tuple(output.shape) for output in outputs] == [(1, 8, 8, 8), (1, 8, 2, 2)]


def test_global_pooling_neck_averages_the_coarsest_map() -> None:
    neck = registry.create(
        "necks", "global_pooling", in_channels=RESNET18_SPEC.channels, in_strides=RESNET18_SPEC.strides
    )
    assert neck.feature_spec.names == ("pooled",)
    assert neck.feature_spec.channels == (512,)
    features = resnet18_features()
    pooled = neck(*features)
    assert pooled.shape == (2, 512)
    torch.testing.assert_close(pooled, features[-1].mean(dim=(2, 3)))


@pytest.mark.parametrize("factory", [necks.upsampling, necks.fpn, necks.global_pooling])
@pytest.mark.parametrize(
    ("in_channels", "in_strides", "culprit"),
    [
        ((8, 16), (4,), "one stride per input level"),
        ((), (), "one stride per input level"),
        ((8, 16), (8, 4), "finest"),
    ],
)
def test_necks_reject_inconsistent_levels(factory, in_channels: tuple, in_strides: tuple, culprit: str) -> None:
    with pytest.raises(ValueError, match=culprit):
        factory(in_channels=in_channels, in_strides=in_strides)
