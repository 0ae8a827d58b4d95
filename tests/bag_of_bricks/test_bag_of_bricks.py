"""bag_of_bricks: preprocessors, backbones, necks, heads, losses, loss weighting, detection decoding, metrics
and visualizers, each checked on small hand-made cases."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch.nn import functional

from bag_of_bricks import backbones, necks
from bag_of_bricks.image_classification import ImageClassifier, MultiLabelClassifier
from bag_of_bricks.losses import (
    ClassificationLoss,
    DiceLoss,
    FixedWeighting,
    FocalLoss,
    MultiLabelLoss,
    SegmentationLoss,
    UncertaintyWeighting,
    binary_focal_loss,
)
from bag_of_bricks.metrics import BoxDetectionF1, PointDetectionF1
from bag_of_bricks.object_detection import BoxDetectionHead, BoxDetectionLoss, decode_boxes
from bag_of_bricks.point_detection import (
    PointDetectionHead,
    PointDetectionLoss,
    centre_focal_loss,
    decode_points,
    render_heatmaps,
)
from bag_of_bricks.preprocessors import IMAGENET_MEAN, IMAGENET_STD, Preprocessor, normalize
from bag_of_bricks.segmentation import SegmentationHead
from bag_of_bricks.visualizers import PALETTE, BoxesDrawer, ClassLabelDrawer, PointsDrawer, SegmentationOverlay
from torchbricks import registry
from torchbricks.brick_collection import BrickCollection
from torchbricks.bricks import BrickLoss
from torchbricks.features import FeatureSpec

SIZE = 64
HEAVY_BACKBONES = {"resnet101", "resnet152", "convnext_tiny"}


def seeded(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


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


# -- preprocessors -------------------------------------------------------------------------------------------


def test_preprocessor_scales_uint8_to_unit_range_then_normalises() -> None:
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3).expand(1, 3, 1, 3).contiguous()
    output = Preprocessor(mean=(0.2, 0.2, 0.2), std=(0.5, 0.5, 0.5))(images)
    assert output.dtype == torch.float32
    expected = (torch.tensor([0.0, 0.2, 1.0]) - 0.2) / 0.5
    torch.testing.assert_close(output[0, 0, 0], expected)


def test_preprocessor_leaves_float_images_unscaled_and_normalises_per_channel() -> None:
    images = torch.full((2, 3, 4, 4), 0.5)
    output = Preprocessor(mean=(0.5, 0.0, 1.0), std=(1.0, 0.5, 0.25))(images)
    torch.testing.assert_close(output[:, 0], torch.zeros(2, 4, 4))
    torch.testing.assert_close(output[:, 1], torch.ones(2, 4, 4))
    torch.testing.assert_close(output[:, 2], torch.full((2, 4, 4), -2.0))


def test_preprocessor_uint8_and_float_inputs_agree() -> None:
    images = (seeded(1, 3, 8, 8) * 255).round().to(torch.uint8)
    preprocessor = normalize()
    torch.testing.assert_close(preprocessor(images), preprocessor(images.float() / 255.0))


def test_preprocessor_statistics_are_configuration_not_weights() -> None:
    preprocessor = normalize()
    assert preprocessor.state_dict() == {}
    torch.testing.assert_close(preprocessor.mean.flatten(), torch.tensor(IMAGENET_MEAN))
    torch.testing.assert_close(preprocessor.std.flatten(), torch.tensor(IMAGENET_STD))


@pytest.mark.parametrize(
    ("mean", "std", "culprit"),
    [((0.5, 0.5), (0.5, 0.5, 0.5), "differ in length"), ((0.5, 0.5, 0.5), (0.5, 0.0, 0.5), "positive")],
)
def test_preprocessor_rejects_bad_statistics(mean: tuple, std: tuple, culprit: str) -> None:
    with pytest.raises(ValueError, match=culprit):
        Preprocessor(mean=mean, std=std)


def test_normalize_is_the_registered_preprocessor() -> None:
    assert registry.get("preprocessors", "normalize") is normalize


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
def test_single_scale_backbone_returns_the_coarsest_map_only(name: str) -> None:
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
    assert len(single_outputs) == 1
    assert torch.equal(single_outputs[0], full_outputs[-1])


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
    with pytest.raises(RuntimeError):
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


# -- heads ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("features", [seeded(2, 8, 4, 4), seeded(2, 8)])
def test_image_classifier_outputs(features: torch.Tensor) -> None:
    logits, probabilities, prediction = ImageClassifier(num_classes=3, n_features=8)(features)
    assert logits.shape == probabilities.shape == (2, 3)
    torch.testing.assert_close(probabilities.sum(dim=1), torch.ones(2))
    assert torch.equal(prediction, logits.argmax(dim=1))


def test_image_classifier_pools_feature_maps() -> None:
    head = ImageClassifier(num_classes=3, n_features=8)
    features = seeded(2, 8, 4, 4)
    torch.testing.assert_close(head(features)[0], head(features.mean(dim=(2, 3)))[0])


@pytest.mark.parametrize("features", [seeded(2, 8, 4, 4), seeded(2, 8)])
def test_multilabel_classifier_outputs(features: torch.Tensor) -> None:
    head = MultiLabelClassifier(num_classes=4, n_features=8, hidden=16, threshold=0.5)
    logits, probabilities, present = head(features)
    assert logits.shape == probabilities.shape == present.shape == (2, 4)
    torch.testing.assert_close(probabilities, logits.sigmoid())
    assert torch.equal(present, (probabilities > 0.5).long())


@pytest.mark.parametrize("stride", [1, 2, 4, 8])
def test_segmentation_head_returns_full_resolution(stride: int) -> None:
    head = SegmentationHead(in_channels=8, num_classes=5, stride=stride, hidden=16)
    logits, classes = head(seeded(2, 8, 32 // stride, 32 // stride))
    assert logits.shape == (2, 5, 32, 32)
    assert classes.shape == (2, 32, 32)
    assert torch.equal(classes, logits.argmax(dim=1))


def test_segmentation_head_with_detail_input() -> None:
    head = SegmentationHead(in_channels=8, num_classes=3, stride=4, hidden=16, detail_channels=3)
    logits, _ = head(seeded(1, 8, 8, 8), seeded(1, 3, 32, 32))
    assert logits.shape == (1, 3, 32, 32)
    resized, _ = head(seeded(1, 8, 8, 8), seeded(1, 3, 16, 16))  # a detail of another size is resized
    assert resized.shape == (1, 3, 32, 32)
    with pytest.raises(ValueError, match="detail"):
        head(seeded(1, 8, 8, 8))


@pytest.mark.parametrize("stride", [0, 3, 6])
def test_segmentation_head_rejects_strides_that_are_not_powers_of_two(stride: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        SegmentationHead(in_channels=8, num_classes=3, stride=stride)


def test_point_detection_head_outputs() -> None:
    head = PointDetectionHead(in_channels=8, num_classes=3, stride=4, hidden=16, max_points=7)
    heatmap, offsets, points = head(seeded(2, 8, 8, 8))
    assert heatmap.shape == (2, 3, 8, 8)
    assert offsets.shape == (2, 2, 8, 8)
    assert points.shape == (2, 7, 4)
    # a fresh head starts with low scores: nothing above the threshold yet
    assert bool((points == -1).all())


def test_box_detection_head_outputs() -> None:
    head = BoxDetectionHead(in_channels=8, num_classes=2, stride=4, hidden=16, max_boxes=5)
    heatmap, regression, boxes = head(seeded(2, 8, 8, 8))
    assert heatmap.shape == (2, 2, 8, 8)
    assert regression.shape == (2, 4, 8, 8)
    assert boxes.shape == (2, 5, 6)


def test_heads_are_registered() -> None:
    from bag_of_bricks.object_detection import BoxDetectionHead as Box
    from bag_of_bricks.point_detection import PointDetectionHead as Point

    assert registry.get("heads", "image_classifier") is ImageClassifier
    assert registry.get("heads", "multilabel_classifier") is MultiLabelClassifier
    assert registry.get("heads", "segmentation_head") is SegmentationHead
    assert registry.get("heads", "point_detection_head") is Point
    assert registry.get("heads", "box_detection_head") is Box


# -- losses --------------------------------------------------------------------------------------------------


def assert_zero_loss_that_backpropagates(loss: torch.Tensor, *inputs: torch.Tensor) -> None:
    """A zero loss still connected to the graph (so ``backward`` works); every gradient it gives is finite and 0."""
    assert loss.ndim == 0
    assert loss.requires_grad
    assert float(loss.detach()) == 0.0
    loss.backward()
    assert inputs[0].grad is not None
    for tensor in inputs:
        if tensor.grad is not None:
            assert bool(torch.isfinite(tensor.grad).all())
            assert bool((tensor.grad == 0).all())


def test_classification_loss_value() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    loss = ClassificationLoss()(logits, torch.tensor([0, 2]))
    expected = (-math.log(math.exp(2) / (math.exp(2) + 2)) - math.log(1 / (math.e + 2))) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_classification_loss_label_smoothing_and_weights() -> None:
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    targets = torch.tensor([0, 2])
    smoothed = ClassificationLoss(label_smoothing=0.1)(logits, targets)
    torch.testing.assert_close(smoothed, functional.cross_entropy(logits, targets, label_smoothing=0.1))
    weighted = ClassificationLoss(weight=[1.0, 1.0, 3.0])(logits, targets)
    torch.testing.assert_close(weighted, functional.cross_entropy(logits, targets, weight=torch.tensor([1.0, 1, 3])))


def test_classification_loss_skips_unlabelled_samples() -> None:
    logits = seeded(4, 3) * 4
    targets = torch.tensor([1, -1, 0, -1])
    loss = ClassificationLoss()(logits, targets)
    torch.testing.assert_close(loss, functional.cross_entropy(logits[[0, 2]], targets[[0, 2]]))


@pytest.mark.parametrize("batch", [0, 3])
def test_classification_loss_without_labels_is_zero_and_backpropagates(batch: int) -> None:
    logits = torch.randn(batch, 3, requires_grad=True)
    loss = ClassificationLoss()(logits, torch.full((batch,), -1))
    assert_zero_loss_that_backpropagates(loss, logits)


def test_multilabel_loss_value_is_binary_cross_entropy() -> None:
    logits = torch.zeros(2, 3)
    loss = MultiLabelLoss()(logits, torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    assert float(loss) == pytest.approx(math.log(2), rel=1e-6)
    logits = torch.tensor([[2.0, -1.0]])
    expected = (math.log(1 + math.exp(-2.0)) + math.log(1 + math.exp(1.0))) / 2  # targets 1 and 1
    assert float(MultiLabelLoss()(logits, torch.tensor([[1.0, 1.0]]))) == pytest.approx(expected, rel=1e-6)


def test_multilabel_focal_loss_value() -> None:
    # logit 0 → p = 0.5 for every label: focal weight (1 - 0.5)^2 = 0.25 times log 2
    loss = MultiLabelLoss(gamma=2.0)(torch.zeros(1, 2), torch.tensor([[1.0, 0.0]]))
    assert float(loss) == pytest.approx(0.25 * math.log(2), rel=1e-6)
    # a confident correct prediction is down-weighted much more than a confident wrong one
    easy = binary_focal_loss(torch.tensor([3.0]), torch.tensor([1.0]), gamma=2.0)
    hard = binary_focal_loss(torch.tensor([-3.0]), torch.tensor([1.0]), gamma=2.0)
    expected_easy = (1 - torch.sigmoid(torch.tensor(3.0))) ** 2 * math.log(1 + math.exp(-3.0))
    assert float(easy) == pytest.approx(float(expected_easy), rel=1e-5)
    assert float(hard) > 100 * float(easy)


def test_binary_focal_loss_pos_weight() -> None:
    logits, targets = torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0])
    loss = binary_focal_loss(logits, targets, gamma=0.0, pos_weight=3.0)
    assert float(loss) == pytest.approx((3 * math.log(2) + math.log(2)) / 2, rel=1e-6)


def test_multilabel_loss_skips_rows_with_ignore_values() -> None:
    logits = seeded(3, 3) * 4 - 2
    targets = torch.tensor([[1.0, 0.0, 1.0], [-1.0, -1.0, -1.0], [0.0, 1.0, 0.0]])
    loss = MultiLabelLoss()(logits, targets)
    expected = functional.binary_cross_entropy_with_logits(logits[[0, 2]], targets[[0, 2]])
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("batch", [0, 2])
def test_multilabel_loss_without_labels_is_zero_and_backpropagates(batch: int) -> None:
    logits = torch.randn(batch, 3, requires_grad=True)
    assert_zero_loss_that_backpropagates(MultiLabelLoss(gamma=2.0)(logits, torch.full((batch, 3), -1.0)), logits)


def test_focal_loss_value() -> None:
    # two classes with equal logits: p = 0.5, focal loss = (1 - 0.5)^2 * log 2
    loss = FocalLoss(gamma=2.0)(torch.zeros(1, 2), torch.tensor([0]))
    assert float(loss) == pytest.approx(0.25 * math.log(2), rel=1e-6)


def test_focal_loss_with_gamma_zero_is_cross_entropy() -> None:
    logits, targets = seeded(4, 3) * 3, torch.tensor([0, 2, 1, 1])
    torch.testing.assert_close(FocalLoss(gamma=0.0)(logits, targets), functional.cross_entropy(logits, targets))


def test_focal_loss_skips_ignore_values() -> None:
    logits, targets = seeded(4, 3) * 3, torch.tensor([0, -1, 1, -1])
    torch.testing.assert_close(FocalLoss()(logits, targets), FocalLoss()(logits[[0, 2]], targets[[0, 2]]))


def test_focal_loss_on_dense_targets_skips_pixels_of_255() -> None:
    logits = seeded(1, 3, 2, 2) * 3
    targets = torch.tensor([[[0, 255], [2, 255]]])
    loss = FocalLoss(gamma=0.0, ignore_index=255)(logits, targets)
    expected = functional.cross_entropy(logits, targets, ignore_index=255)
    torch.testing.assert_close(loss, expected)


def test_focal_loss_without_labels_is_zero_and_backpropagates() -> None:
    logits = torch.randn(2, 3, requires_grad=True)
    assert_zero_loss_that_backpropagates(FocalLoss()(logits, torch.tensor([-1, -1])), logits)


def test_dice_loss_value() -> None:
    # probabilities 0.5 everywhere; one pixel of each class: per class (2·0.5 + 1) / (1 + 1 + 1) = 2/3
    loss = DiceLoss()(torch.zeros(1, 2, 1, 2), torch.tensor([[[0, 1]]]))
    assert float(loss) == pytest.approx(1 / 3, rel=1e-6)


def test_dice_loss_is_near_zero_for_a_perfect_prediction() -> None:
    targets = torch.tensor([[[0, 1, 2, 2], [1, 1, 0, 2]]])
    logits = functional.one_hot(targets, 3).permute(0, 3, 1, 2).float() * 50
    assert float(DiceLoss(smooth=0.0)(logits, targets)) == pytest.approx(0.0, abs=1e-6)


def test_dice_loss_skips_pixels_of_255() -> None:
    logits = torch.zeros(1, 2, 1, 3)
    logits[0, :, 0, 2] = torch.tensor([5.0, -5.0])  # an arbitrary prediction on the ignored pixel
    loss = DiceLoss()(logits, torch.tensor([[[0, 1, 255]]]))
    assert float(loss) == pytest.approx(1 / 3, rel=1e-6)


def test_segmentation_loss_is_cross_entropy_plus_weighted_dice() -> None:
    logits = seeded(2, 3, 4, 4) * 3
    targets = (seeded(2, 4, 4, seed=1) * 3).long()
    targets[0, 0, :] = 255
    cross_entropy = functional.cross_entropy(logits, targets, ignore_index=255)
    dice = DiceLoss()(logits, targets)
    torch.testing.assert_close(SegmentationLoss(dice_weight=0.0)(logits, targets), cross_entropy)
    torch.testing.assert_close(SegmentationLoss(dice_weight=0.5)(logits, targets), cross_entropy + 0.5 * dice)


def test_segmentation_loss_ignores_unlabelled_images() -> None:
    logits = seeded(2, 3, 4, 4) * 3
    targets = (seeded(2, 4, 4, seed=1) * 3).long()
    targets[1] = 255
    torch.testing.assert_close(SegmentationLoss()(logits, targets), SegmentationLoss()(logits[:1], targets[:1]))


@pytest.mark.parametrize("loss_class", [SegmentationLoss, DiceLoss])
@pytest.mark.parametrize("batch", [0, 2])
def test_segmentation_losses_without_labels_are_zero_and_backpropagate(loss_class, batch: int) -> None:
    logits = torch.randn(batch, 3, 4, 4, requires_grad=True)
    assert_zero_loss_that_backpropagates(loss_class()(logits, torch.full((batch, 4, 4), 255)), logits)


def test_point_detection_loss_on_an_empty_batch_is_zero_and_backpropagates() -> None:
    heatmap = torch.randn(0, 3, 8, 8, requires_grad=True)
    offsets = torch.randn(0, 2, 8, 8, requires_grad=True)
    loss = PointDetectionLoss(num_classes=3)(heatmap, offsets, torch.zeros(0, 3, 3))
    assert_zero_loss_that_backpropagates(loss, heatmap, offsets)


def test_box_detection_loss_on_an_empty_batch_is_zero_and_backpropagates() -> None:
    heatmap = torch.randn(0, 2, 8, 8, requires_grad=True)
    regression = torch.randn(0, 4, 8, 8, requires_grad=True)
    loss = BoxDetectionLoss(num_classes=2)(heatmap, regression, torch.zeros(0, 2, 5))
    assert_zero_loss_that_backpropagates(loss, heatmap, regression)


def test_detection_losses_on_images_without_objects_are_finite() -> None:
    heatmap = torch.randn(2, 3, 8, 8, requires_grad=True)
    offsets = torch.randn(2, 2, 8, 8, requires_grad=True)
    loss = PointDetectionLoss(num_classes=3)(heatmap, offsets, torch.full((2, 3, 3), -1.0))
    assert math.isfinite(float(loss.detach()))
    assert float(loss.detach()) > 0
    loss.backward()
    assert bool(torch.isfinite(heatmap.grad).all())
    regression = torch.randn(2, 4, 8, 8, requires_grad=True)
    box_loss = BoxDetectionLoss(num_classes=3)(heatmap.detach(), regression, torch.full((2, 1, 5), -1.0))
    assert math.isfinite(float(box_loss.detach()))


def test_centre_focal_loss_is_low_for_a_matching_heatmap() -> None:
    targets, _, _ = render_heatmaps(torch.tensor([[[14.0, 18.0, 0.0]]]), 1, (8, 8), stride=4)
    good = centre_focal_loss(torch.logit(targets, eps=1e-4), targets)
    bad = centre_focal_loss(torch.zeros_like(targets), targets)
    assert float(good) < 0.1 * float(bad)


def test_point_detection_loss_ignores_padding_rows() -> None:
    heatmap, offsets = seeded(1, 3, 8, 8) * 4 - 2, seeded(1, 2, 8, 8, seed=1)
    loss = PointDetectionLoss(num_classes=3)
    points = torch.tensor([[[10.0, 12.0, 1.0]]])
    padded = torch.tensor([[[10.0, 12.0, 1.0], [-1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]]])
    torch.testing.assert_close(loss(heatmap, offsets, points), loss(heatmap, offsets, padded))


# -- multi-task weighting ------------------------------------------------------------------------------------


def test_fixed_weighting_is_the_weighted_sum() -> None:
    weighting = FixedWeighting({"a": 1.0, "b": 0.5, "c": 2.0})
    assert weighting.task_names == ("a", "b", "c")
    total = weighting(torch.tensor(2.0), torch.tensor(4.0), torch.tensor(0.25))
    assert float(total) == pytest.approx(2.0 + 2.0 + 0.5)


def test_fixed_weighting_needs_one_loss_per_task() -> None:
    with pytest.raises(ValueError, match=r"zip\(\)"):
        FixedWeighting({"a": 1.0, "b": 1.0})(torch.tensor(1.0))


def test_uncertainty_weighting_math() -> None:
    weighting = UncertaintyWeighting(["a", "b"])
    assert weighting.task_names == ("a", "b")
    losses = torch.tensor(2.0), torch.tensor(4.0)
    assert float(weighting(*losses).detach()) == pytest.approx(6.0)  # s = 0: plain sum
    with torch.no_grad():
        weighting.log_variances.copy_(torch.tensor([math.log(2.0), -1.0]))
    expected = 2.0 / 2.0 + math.log(2.0) + 4.0 * math.e - 1.0
    assert float(weighting(*losses).detach()) == pytest.approx(expected, rel=1e-6)


def test_uncertainty_weighting_parameters_get_gradients() -> None:
    weighting = UncertaintyWeighting(["a", "b"])
    loss_a = torch.tensor(2.0, requires_grad=True)
    loss_b = torch.tensor(4.0, requires_grad=True)
    weighting(loss_a, loss_b).backward()
    # d/ds_t [exp(-s_t) L_t + s_t] = 1 - exp(-s_t) L_t = 1 - L_t at s = 0
    torch.testing.assert_close(weighting.log_variances.grad, torch.tensor([-1.0, -3.0]))
    assert float(loss_a.grad) == pytest.approx(1.0)
    assert list(dict(weighting.named_parameters())) == ["log_variances"]


def test_uncertainty_weighting_as_a_loss_brick_trains_its_parameters() -> None:
    weighting = UncertaintyWeighting(["a", "b"])
    model = BrickCollection({"total": BrickLoss(weighting, ["a/loss", "b/loss"], ["loss"])})
    outputs = model({"a/loss": torch.tensor(3.0), "b/loss": torch.tensor(0.5)}, groups="train")
    assert list(model.extract_losses(outputs)) == ["loss"]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.extract_losses(outputs)["loss"].backward()
    optimizer.step()
    # the task with the larger loss gets a larger log-variance (a smaller weight)
    assert float(weighting.log_variances[0].detach()) > float(weighting.log_variances[1].detach())


def test_loss_bricks_are_registered() -> None:
    for name, expected in {
        "classification_loss": ClassificationLoss,
        "multilabel_loss": MultiLabelLoss,
        "focal_loss": FocalLoss,
        "dice_loss": DiceLoss,
        "segmentation_loss": SegmentationLoss,
        "fixed_weighting": FixedWeighting,
        "uncertainty_weighting": UncertaintyWeighting,
    }.items():
        assert registry.get("losses", name) is expected


# -- decoding ↔ rendering ------------------------------------------------------------------------------------


def test_render_heatmaps_marks_centres_and_offsets() -> None:
    points = torch.tensor([[[10.0, 22.0, 1.0], [-1.0, -1.0, -1.0]]])
    heatmaps, offsets, centres = render_heatmaps(points, num_classes=2, size=(16, 16), stride=4, sigma=1.0)
    assert heatmaps.shape == (1, 2, 16, 16)
    # (10, 22) px → cell (2.0, 5.0): the peak sits exactly on a cell, with zero offsets
    assert float(heatmaps[0, 1, 5, 2]) == 1.0
    assert float(heatmaps[0, 0].max()) == 0.0
    assert float(heatmaps[0, 1, 5, 3]) == pytest.approx(math.exp(-0.5), rel=1e-6)
    assert centres.sum() == 1
    assert bool(centres[0, 5, 2])
    assert float(offsets.abs().max()) == 0.0


def test_render_heatmaps_without_points_is_empty() -> None:
    heatmaps, offsets, centres = render_heatmaps(torch.full((2, 3, 3), -1.0), 2, (4, 4), stride=4)
    assert float(heatmaps.abs().sum() + offsets.abs().sum()) == 0.0
    assert not bool(centres.any())


def test_decode_points_inverts_render_heatmaps() -> None:
    points = torch.tensor(
        [
            [[10.0, 22.0, 1.0], [41.3, 30.9, 0.0], [-1.0, -1.0, -1.0]],
            [[50.7, 6.2, 2.0], [-1.0, -1.0, -1.0], [-1.0, -1.0, -1.0]],
        ]
    )
    heatmaps, offsets, _ = render_heatmaps(points, num_classes=3, size=(16, 16), stride=4)
    decoded = decode_points(torch.logit(heatmaps, eps=1e-6), offsets, stride=4, max_points=5, score_threshold=0.5)
    assert decoded.shape == (2, 5, 4)
    for sample, targets in zip(decoded, points, strict=True):
        found = sample[sample[:, 2] >= 0]
        expected = targets[targets[:, 2] >= 0]
        assert len(found) == len(expected)
        order = lambda rows: rows[rows[:, 0].argsort()]  # noqa: E731
        torch.testing.assert_close(order(found)[:, :3], order(expected), atol=1e-4, rtol=0)
        assert bool((found[:, 3] > 0.99).all())
        assert bool((sample[len(found) :] == -1).all())


def test_decode_points_keeps_only_local_maxima_above_the_threshold() -> None:
    logits = torch.full((1, 1, 5, 5), -10.0)
    logits[0, 0, 2, 2] = 3.0
    logits[0, 0, 2, 3] = 2.0  # a neighbour of the peak: suppressed
    logits[0, 0, 0, 0] = -1.0  # a local maximum below the threshold
    decoded = decode_points(logits, torch.zeros(1, 2, 5, 5), stride=2, max_points=3, score_threshold=0.3)
    assert decoded[0, 0].tolist() == pytest.approx([5.0, 5.0, 0.0, float(torch.sigmoid(torch.tensor(3.0)))])
    assert bool((decoded[0, 1:] == -1).all())


def box_regression_for(boxes: torch.Tensor, size: tuple[int, int], stride: int) -> torch.Tensor:
    """The regression map a perfect box head would predict (as BoxDetectionLoss encodes its targets)."""
    regression = torch.zeros(boxes.shape[0], 4, *size)
    for sample, rows in enumerate(boxes):
        for x1, y1, x2, y2, kind in rows.tolist():
            if kind < 0:
                continue
            centre_x, centre_y = (x1 + x2) / 2 / stride - 0.5, (y1 + y2) / 2 / stride - 0.5
            column, row = round(centre_x), round(centre_y)
            regression[sample, :, row, column] = torch.tensor(
                [centre_x - column, centre_y - row, math.log((x2 - x1) / stride), math.log((y2 - y1) / stride)]
            )
    return regression


def test_decode_boxes_inverts_the_box_encoding() -> None:
    boxes = torch.tensor([[[4.0, 6.0, 21.0, 30.0, 0.0], [33.0, 35.0, 61.0, 47.0, 1.0], [-1, -1, -1, -1, -1]]])
    centres = torch.cat([(boxes[..., :2] + boxes[..., 2:4]) / 2, boxes[..., 4:]], dim=-1)
    heatmaps, _, _ = render_heatmaps(centres, num_classes=2, size=(16, 16), stride=4)
    regression = box_regression_for(boxes, (16, 16), 4)
    logits = torch.logit(heatmaps, eps=1e-6)
    decoded = decode_boxes(logits, regression, stride=4, max_boxes=6, score_threshold=0.99, iou_threshold=0.5)
    assert decoded.shape == (1, 6, 6)
    found = decoded[0][decoded[0, :, 4] >= 0]
    found = found[found[:, 4].argsort()]
    torch.testing.assert_close(found[:, :5], boxes[0, :2], atol=1e-4, rtol=0)
    assert bool((decoded[0, 2:] == -1).all())
    # the loss agrees: a perfect regression adds nothing to the heatmap loss
    with_regression = BoxDetectionLoss(2, stride=4, regression_weight=1.0)(logits, regression, boxes)
    without_regression = BoxDetectionLoss(2, stride=4, regression_weight=0.0)(logits, regression, boxes)
    assert float(with_regression) == pytest.approx(float(without_regression), abs=1e-5)


def test_decode_boxes_suppresses_overlapping_boxes_of_one_class_only() -> None:
    logits = torch.full((1, 2, 4, 4), -10.0)
    logits[0, 0, 1, 1], logits[0, 0, 1, 2] = 4.0, 3.0  # two overlapping class-0 boxes
    logits[0, 1, 1, 2] = 2.0  # a class-1 box at the same place as the weaker class-0 box
    regression = torch.zeros(1, 4, 4, 4)
    regression[0, 2:] = math.log(3.0)  # 12 × 12 px boxes at stride 4: neighbours overlap with IoU 0.5
    decoded = decode_boxes(logits, regression, stride=4, max_boxes=4, score_threshold=0.3, iou_threshold=0.4)
    kept = decoded[0][decoded[0, :, 4] >= 0]
    assert sorted(kept[:, 4].tolist()) == [0.0, 1.0]
    class0 = kept[kept[:, 4] == 0][0]
    assert class0[:4].tolist() == pytest.approx([0.0, 0.0, 12.0, 12.0])


# -- detection metrics ---------------------------------------------------------------------------------------


def point_metric(predictions: list, targets: list, max_distance: float = 4.0) -> dict[str, float]:
    metric = PointDetectionF1(max_distance=max_distance)
    metric.update(torch.tensor([predictions]).reshape(1, -1, 4), torch.tensor([targets]).reshape(1, -1, 3))
    return {name: round(float(value), 4) for name, value in metric.compute().items()}


def test_point_f1_counts_a_match_of_the_same_class() -> None:
    assert point_metric([[10.0, 10.0, 1.0, 0.9]], [[11.0, 12.0, 1.0]]) == {"f1": 1.0, "precision": 1.0, "recall": 1.0}


def test_point_f1_class_mismatch_is_a_miss() -> None:
    assert point_metric([[10.0, 10.0, 0.0, 0.9]], [[10.0, 10.0, 1.0]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_point_f1_distance_just_inside_and_just_outside() -> None:
    assert point_metric([[13.0, 14.0, 0.0, 0.9]], [[10.0, 10.0, 0.0]], max_distance=5.0)["f1"] == 1.0  # exactly 5
    assert point_metric([[13.0, 14.01, 0.0, 0.9]], [[10.0, 10.0, 0.0]], max_distance=5.0)["f1"] == 0.0


def test_point_f1_duplicates_count_once() -> None:
    result = point_metric([[10.0, 10.0, 0.0, 0.9], [10.5, 10.0, 0.0, 0.8]], [[10.0, 10.0, 0.0]])
    assert result == {"f1": round(2 / 3, 4), "precision": 0.5, "recall": 1.0}


def test_point_f1_ignores_padding_rows() -> None:
    predictions = [[10.0, 10.0, 0.0, 0.9], [-1.0, -1.0, -1.0, -1.0], [-1.0, -1.0, -1.0, -1.0]]
    targets = [[10.0, 10.0, 0.0], [-1.0, -1.0, -1.0]]
    assert point_metric(predictions, targets) == {"f1": 1.0, "precision": 1.0, "recall": 1.0}


def test_point_f1_matches_higher_scores_first() -> None:
    # the low-scored prediction (listed first) is close to both targets, the high-scored one to the first only:
    # matching by score lets both match; matching in list order would leave the high-scored one without a target
    predictions = [[5.0, 0.0, 0.0, 0.2], [3.0, 0.0, 0.0, 0.9]]
    targets = [[0.0, 0.0, 0.0], [10.0, 0.0, 0.0]]
    assert point_metric(predictions, targets, max_distance=5.0) == {"f1": 1.0, "precision": 1.0, "recall": 1.0}


def test_point_f1_accumulates_over_batches_and_resets() -> None:
    metric = PointDetectionF1()
    predictions = torch.tensor([[[10.0, 10.0, 0.0, 0.9]], [[50.0, 50.0, 0.0, 0.9]]])
    metric.update(predictions, torch.tensor([[[10.0, 10.0, 0.0]], [[10.0, 10.0, 0.0]]]))
    metric.update(torch.tensor([[[-1.0, -1.0, -1.0, -1.0]]]), torch.tensor([[[20.0, 20.0, 1.0]]]))
    result = metric.compute()
    assert (float(result["precision"]), float(result["recall"])) == pytest.approx((0.5, 1 / 3))
    metric.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchmetrics: compute before update
        empty = metric.compute()
    assert float(empty["f1"]) == 0.0
    assert not any(bool(torch.isnan(value)) for value in empty.values())


def box_metric(predictions: list, targets: list, iou_threshold: float = 0.5) -> dict[str, float]:
    metric = BoxDetectionF1(iou_threshold=iou_threshold)
    metric.update(torch.tensor([predictions]).reshape(1, -1, 6), torch.tensor([targets]).reshape(1, -1, 5))
    return {name: round(float(value), 4) for name, value in metric.compute().items()}


def test_box_f1_iou_just_inside_and_just_outside() -> None:
    target = [[0.0, 0.0, 10.0, 10.0, 0.0]]
    assert box_metric([[0.0, 0.0, 10.0, 5.0, 0.0, 0.9]], target)["f1"] == 1.0  # IoU exactly 0.5
    assert box_metric([[0.0, 0.0, 10.0, 4.9, 0.0, 0.9]], target)["f1"] == 0.0  # IoU 0.49


def test_box_f1_class_mismatch_and_duplicates() -> None:
    target = [[0.0, 0.0, 10.0, 10.0, 1.0]]
    assert box_metric([[0.0, 0.0, 10.0, 10.0, 0.0, 0.9]], target)["f1"] == 0.0
    duplicates = [[0.0, 0.0, 10.0, 10.0, 1.0, 0.9], [0.5, 0.0, 10.0, 10.0, 1.0, 0.8]]
    assert box_metric(duplicates, target) == {"f1": round(2 / 3, 4), "precision": 0.5, "recall": 1.0}


def test_box_f1_with_no_targets_counts_false_positives() -> None:
    result = box_metric([[0.0, 0.0, 10.0, 10.0, 0.0, 0.9]], [[-1.0, -1.0, -1.0, -1.0, -1.0]])
    assert result == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_detection_metrics_are_registered() -> None:
    assert registry.get("metrics", "point_detection_f1") is PointDetectionF1
    assert registry.get("metrics", "box_detection_f1") is BoxDetectionF1


# -- visualizers ---------------------------------------------------------------------------------------------


def black(size: int = 32) -> np.ndarray:
    return np.zeros((size, size, 3), dtype=np.uint8)


def pixels(picture: Image.Image) -> np.ndarray:
    return np.asarray(picture.convert("RGB")).astype(np.int64)


def test_class_label_drawer_writes_the_class_name() -> None:
    drawer = ClassLabelDrawer(["cat", "dog", "bird"])
    picture = drawer(black(), np.array([1]))
    assert isinstance(picture, Image.Image)
    assert picture.size == (32, 32)
    drawn = pixels(picture)
    assert drawn[:16].sum() > 0  # text near the top-left corner
    assert drawn[24:, 24:].sum() == 0
    assert not np.array_equal(drawn, pixels(drawer(black(), np.array([2]))))


def test_class_label_drawer_multi_label_vector() -> None:
    drawer = ClassLabelDrawer(["a", "b", "c"], scale=2)
    several = drawer(black(), np.array([1, 0, 1]))
    assert several.size == (64, 64)
    nothing = drawer(black(), np.array([0, 0, 0]))  # drawn as "-"
    assert pixels(nothing).sum() > 0
    assert not np.array_equal(pixels(several), pixels(nothing))


def test_class_label_drawer_accepts_float_images() -> None:
    picture = ClassLabelDrawer(["x"])(np.full((16, 16, 3), 0.5, dtype=np.float32), np.array([0]))
    assert picture.mode == "RGB"
    assert tuple(pixels(picture)[15, 15]) == (128, 128, 128)


def test_segmentation_overlay_colours_classes_and_keeps_background() -> None:
    class_map = np.zeros((32, 32), dtype=np.int64)
    class_map[:16, :16] = 2
    picture = SegmentationOverlay(num_classes=4, alpha=0.5)(black(), class_map)
    assert picture.size == (32, 32)
    drawn = pixels(picture)
    assert drawn[16:, :].sum() == 0
    assert drawn[:, 16:].sum() == 0
    expected = np.array(PALETTE[2]) * 0.5
    assert np.abs(drawn[4, 4] - expected).max() <= 1.5
    assert SegmentationOverlay(num_classes=4, scale=3)(black(), class_map).size == (96, 96)


def test_points_drawer_draws_a_cross_at_each_point() -> None:
    drawer = PointsDrawer(["a", "b"])
    picture = drawer(black(), np.array([[8.0, 20.0, 0.0, 0.9], [-1.0, -1.0, -1.0, -1.0]]))
    assert picture.size == (32, 32)
    drawn = pixels(picture)
    assert tuple(drawn[20, 8]) == PALETTE[1]  # class 0 is drawn in colour 1
    assert tuple(drawn[20, 10]) == PALETTE[1]
    assert drawn[:8].sum() == 0
    padding_only = drawer(black(), np.array([[-1.0, -1.0, -1.0, -1.0]]))
    assert pixels(padding_only).sum() == 0


def test_points_drawer_scales_coordinates() -> None:
    picture = PointsDrawer(["a", "b"], scale=2)(black(), np.array([[8.0, 20.0, 1.0]]))
    assert picture.size == (64, 64)
    assert tuple(pixels(picture)[40, 16]) == PALETTE[2]


def test_boxes_drawer_draws_box_outlines() -> None:
    drawer = BoxesDrawer(["a", "b"])
    picture = drawer(black(64), np.array([[8.0, 8.0, 56.0, 56.0, 1.0, 0.75], [-1, -1, -1, -1, -1, -1]]))
    assert picture.size == (64, 64)
    drawn = pixels(picture)
    assert tuple(drawn[32, 8]) == PALETTE[2]  # left edge
    assert tuple(drawn[56, 32]) == PALETTE[2]  # bottom edge
    assert drawn[40, 32].sum() == 0  # inside
    assert drawn[60:, :].sum() == 0  # outside
    scaled = BoxesDrawer(["a", "b"], scale=2)(black(32), np.array([[4.0, 4.0, 28.0, 28.0, 0.0]]))
    assert scaled.size == (64, 64)
    assert tuple(pixels(scaled)[32, 8]) == PALETTE[1]


def test_visualizers_are_registered() -> None:
    assert registry.get("visualizers", "class_label") is ClassLabelDrawer
    assert registry.get("visualizers", "segmentation_overlay") is SegmentationOverlay
    assert registry.get("visualizers", "points") is PointsDrawer
    assert registry.get("visualizers", "boxes") is BoxesDrawer
