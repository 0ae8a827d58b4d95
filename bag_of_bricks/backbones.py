"""Backbones: torchvision feature extractors returning multi-scale feature maps.

Every factory returns a :class:`MultiScaleBackbone`: ``forward(images)`` returns a tuple with one
feature map per requested level (``c2`` = stride 4 ... ``c5`` = stride 32) — or the map itself when
one level is asked for, as a brick with one output name expects — and ``feature_spec``
declares their names, channels and strides.

Weights are random unless ``weights`` says where they come from:

* a local file — safetensors, or a ``torch.save``'d state dict read with ``weights_only=True`` (no
  pickled code runs) — in our parameter layout (``stages.N...``) or in torchvision's (``conv1.``,
  ``layer1.`` ... or ``features.N.``; recognised and mapped with
  :data:`bag_of_bricks.pretrained_weights.TORCHVISION_KEY_MAPPINGS`, the classifier dropped);
* a pretrained tag of the backbone (``imagenet1k_v1``, ``default``) or a full weights name
  (``resnet50.imagenet1k_v2``): found in the ``weights`` registry, fetched and verified by
  :mod:`torchbricks.pretrained` (cache → torch hub cache → mirror folders → network unless offline).

A backbone built with fewer ``levels`` has fewer stages: the weights of the stages it lacks are not used.

Example:
    >>> import torch
    >>> backbone = resnet18(levels=(3, 5))
    >>> [tuple(feature.shape) for feature in backbone(torch.rand(1, 3, 64, 64))]
    [(1, 128, 8, 8), (1, 512, 2, 2)]
    >>> backbone.feature_spec.names
    ('c3', 'c5')
    >>> tuple(resnet18(levels=[5])(torch.rand(1, 3, 64, 64)).shape)
    (1, 512, 2, 2)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from torchbricks.bricks import BrickTrainable
from torchbricks.errors import CorruptWeightsError, MissingWeightsError, WeightsMismatchError
from torchbricks.features import FeatureSpec, declare_features
from torchbricks.pretrained import map_keys

__all__ = [
    "ALL_LEVELS",
    "SUPPORTED_BACKBONES",
    "SUPPORTED_RESNET_BACKBONES",
    "BackboneResnet",
    "MultiScaleBackbone",
    "convnext_tiny",
    "create_backbone",
    "efficientnet_b0",
    "load_backbone_state",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "read_weights_file",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet_to_brick",
    "to_backbone_layout",
]

ALL_LEVELS = (2, 3, 4, 5)


class MultiScaleBackbone(nn.Module):
    """Runs ``stages`` in sequence and returns the outputs of the stages at the requested levels.

    Args:
        stages: modules run in order; stage ``i`` ends at ``levels_of_stages[i]`` (stride ``2**level``).
        levels_of_stages: the level (log2 stride) at the end of each stage.
        channels_of_stages: the channel count at the end of each stage.
        levels: the levels to return, e.g. ``(2, 3, 4, 5)`` or ``(5,)`` for a single scale.
    """

    def __init__(
        self,
        stages: Sequence[nn.Module],
        levels_of_stages: Sequence[int],
        channels_of_stages: Sequence[int],
        levels: Sequence[int] = ALL_LEVELS,
    ) -> None:
        super().__init__()
        available = dict(zip(levels_of_stages, range(len(stages)), strict=True))
        unknown = [level for level in levels if level not in available]
        if unknown or not levels:
            raise ValueError(f"levels {tuple(levels)} must be a non-empty subset of {tuple(levels_of_stages)}")
        last = max(available[level] for level in levels)
        self.stages = nn.ModuleList(stages[: last + 1])
        self.output_stages = tuple(sorted(available[level] for level in set(levels)))
        ordered_levels = sorted(set(levels))
        self.feature_spec = FeatureSpec(
            names=tuple(f"c{level}" for level in ordered_levels),
            channels=tuple(channels_of_stages[available[level]] for level in ordered_levels),
            strides=tuple(2**level for level in ordered_levels),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """One feature map per level: a tuple, or the map itself for a single level (one output name)."""
        features = []
        hidden = images
        for index, stage in enumerate(self.stages):
            hidden = stage(hidden)
            if index in self.output_stages:
                features.append(hidden)
        return features[0] if len(features) == 1 else tuple(features)


def _resnet(builder_name: str, channels: tuple[int, ...], levels: Sequence[int], weights: str | Path | None):
    import torchvision

    resnet = getattr(torchvision.models, builder_name)(weights=None)
    stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool, resnet.layer1)
    stages = [stem, resnet.layer2, resnet.layer3, resnet.layer4]
    return _with_weights(MultiScaleBackbone(stages, ALL_LEVELS, channels, levels), weights, builder_name)


@declare_features(names=("c2", "c3", "c4", "c5"), channels=(64, 128, 256, 512), strides=(4, 8, 16, 32))
def resnet18(levels: Sequence[int] = ALL_LEVELS, weights: str | Path | None = None) -> MultiScaleBackbone:
    """ResNet-18 (torchvision) returning feature maps at strides 4-32."""
    return _resnet("resnet18", (64, 128, 256, 512), levels, weights)


@declare_features(names=("c2", "c3", "c4", "c5"), channels=(64, 128, 256, 512), strides=(4, 8, 16, 32))
def resnet34(levels: Sequence[int] = ALL_LEVELS, weights: str | Path | None = None) -> MultiScaleBackbone:
    """ResNet-34 (torchvision) returning feature maps at strides 4-32."""
    return _resnet("resnet34", (64, 128, 256, 512), levels, weights)


@declare_features(names=("c2", "c3", "c4", "c5"), channels=(256, 512, 1024, 2048), strides=(4, 8, 16, 32))
def resnet50(levels: Sequence[int] = ALL_LEVELS, weights: str | Path | None = None) -> MultiScaleBackbone:
    """ResNet-50 (torchvision) returning feature maps at strides 4-32."""
    return _resnet("resnet50", (256, 512, 1024, 2048), levels, weights)


@declare_features(names=("c2", "c3", "c4", "c5"), channels=(256, 512, 1024, 2048), strides=(4, 8, 16, 32))
def resnet101(levels: Sequence[int] = ALL_LEVELS, weights: str | Path | None = None) -> MultiScaleBackbone:
    """ResNet-101 (torchvision) returning feature maps at strides 4-32."""
    return _resnet("resnet101", (256, 512, 1024, 2048), levels, weights)


@declare_features(names=("c2", "c3", "c4", "c5"), channels=(256, 512, 1024, 2048), strides=(4, 8, 16, 32))
def resnet152(levels: Sequence[int] = ALL_LEVELS, weights: str | Path | None = None) -> MultiScaleBackbone:
    """ResNet-152 (torchvision) returning feature maps at strides 4-32."""
    return _resnet("resnet152", (256, 512, 1024, 2048), levels, weights)


def _sequential_features(features: nn.Sequential, levels: Sequence[int], probe_size: int = 64) -> MultiScaleBackbone:
    """Split a torchvision ``features`` Sequential into stages ending where the stride doubles.

    The stage ends are found with one small forward pass in eval mode (nothing is updated).
    """
    ends: dict[int, tuple[int, int]] = {}
    training = features.training
    features.eval()
    with torch.no_grad():
        hidden = torch.zeros(1, 3, probe_size, probe_size)
        for index, block in enumerate(features):
            hidden = block(hidden)
            level = (probe_size // hidden.shape[-1]).bit_length() - 1
            ends[level] = (index, hidden.shape[1])
    features.train(training)
    stage_levels = [level for level in sorted(ends) if level >= 2]
    stages, start = [], 0
    for level in stage_levels:
        end = ends[level][0]
        stages.append(nn.Sequential(*features[start : end + 1]))
        start = end + 1
    channels = [ends[level][1] for level in stage_levels]
    return MultiScaleBackbone(stages, stage_levels, channels, levels)


@declare_features(names=("c2", "c3", "c4", "c5"), channels=(16, 24, 48, 576), strides=(4, 8, 16, 32))
def mobilenet_v3_small(levels: Sequence[int] = ALL_LEVELS, weights: str | Path | None = None) -> MultiScaleBackbone:
    """MobileNetV3-Small (torchvision) returning feature maps at strides 4-32."""
    import torchvision

    model = torchvision.models.mobilenet_v3_small(weights=None)
    return _with_weights(_sequential_features(model.features, levels), weights, "mobilenet_v3_small")


@declare_features(names=("c2", "c3", "c4", "c5"), channels=(24, 40, 112, 960), strides=(4, 8, 16, 32))
def mobilenet_v3_large(levels: Sequence[int] = ALL_LEVELS, weights: str | Path | None = None) -> MultiScaleBackbone:
    """MobileNetV3-Large (torchvision) returning feature maps at strides 4-32."""
    import torchvision

    model = torchvision.models.mobilenet_v3_large(weights=None)
    return _with_weights(_sequential_features(model.features, levels), weights, "mobilenet_v3_large")


@declare_features(names=("c2", "c3", "c4", "c5"), channels=(24, 40, 112, 1280), strides=(4, 8, 16, 32))
def efficientnet_b0(levels: Sequence[int] = ALL_LEVELS, weights: str | Path | None = None) -> MultiScaleBackbone:
    """EfficientNet-B0 (torchvision) returning feature maps at strides 4-32."""
    import torchvision

    model = torchvision.models.efficientnet_b0(weights=None)
    return _with_weights(_sequential_features(model.features, levels), weights, "efficientnet_b0")


@declare_features(names=("c2", "c3", "c4", "c5"), channels=(96, 192, 384, 768), strides=(4, 8, 16, 32))
def convnext_tiny(levels: Sequence[int] = ALL_LEVELS, weights: str | Path | None = None) -> MultiScaleBackbone:
    """ConvNeXt-Tiny (torchvision) returning feature maps at strides 4-32."""
    import torchvision

    model = torchvision.models.convnext_tiny(weights=None)
    return _with_weights(_sequential_features(model.features, levels), weights, "convnext_tiny")


_STAGE_KEY = re.compile(r"^stages\.(\d+)\.")


def _with_weights(backbone: MultiScaleBackbone, weights: str | Path | None, architecture: str) -> MultiScaleBackbone:
    """Load ``weights`` (a file or a pretrained tag/name, see the module docstring) into ``backbone``."""
    if weights is None:
        return backbone
    from torchbricks.assembly import names_a_file

    if names_a_file(weights):
        path = Path(weights)
        state = to_backbone_layout(read_weights_file(path, architecture), architecture, f"'{path}'")
        origin = f"weights file '{path}'"
    else:
        from torchbricks.pretrained import fetch_weights, find_weights, read_state_dict

        entry = find_weights(str(weights)) if "." in str(weights) or ":" in str(weights) else None
        if entry is not None and entry.brick.split(":")[-1] != architecture:
            raise WeightsMismatchError(
                f"Pretrained weights '{entry.name}' are for backbone '{entry.brick}', not '{architecture}'; "
                f"give {architecture} its own tag (torchbricks weights list '{architecture}.*')"
            )
        entry = entry or find_weights((architecture, str(weights)))
        state = read_state_dict(entry, fetch_weights(entry))
        origin = f"pretrained weights '{entry.name}'"
    load_backbone_state(backbone, state, origin, architecture)
    return backbone


def read_weights_file(path: Path, architecture: str = "backbone") -> dict[str, torch.Tensor]:
    """The tensors of a local weights file: safetensors, or a state dict read with ``weights_only=True``."""
    if not path.is_file():
        raise MissingWeightsError(
            f"Weights file '{path}' for backbone '{architecture}' does not exist (or is not a file)"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load

            return load(path.read_bytes())
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # safetensors and the unpickler raise many types on bad or hostile files
        raise CorruptWeightsError(
            f"Cannot read weights file '{path}' for backbone '{architecture}' (truncated, not safetensors nor a "
            f"tensors-only state dict; pickled code is never run): {error}"
        ) from error
    if isinstance(state, Mapping) and "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]  # a checkpoint that wraps its state dict
    if not isinstance(state, Mapping) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise CorruptWeightsError(f"Weights file '{path}' for backbone '{architecture}' holds no state dict of tensors")
    return dict(state)


def to_backbone_layout(state: Mapping[str, torch.Tensor], architecture: str, origin: str) -> dict[str, torch.Tensor]:
    """``state`` in our parameter names: kept when already ours (``stages.``), else mapped from torchvision's.

    Example:
        >>> import torchvision
        >>> state = torchvision.models.resnet18(weights=None).state_dict()
        >>> mapped = to_backbone_layout(state, "resnet18", "a test")
        >>> "stages.0.0.weight" in mapped, "fc.weight" in mapped, len(state) - len(mapped)
        (True, False, 2)
    """
    if all(key.startswith("stages.") for key in state):
        return dict(state)
    from bag_of_bricks.pretrained_weights import TORCHVISION_KEY_MAPPINGS

    mapping = TORCHVISION_KEY_MAPPINGS.get(architecture)
    if mapping is None:
        raise WeightsMismatchError(
            f"Weights {origin} are not in the backbone's parameter layout (keys 'stages.N...') and '{architecture}' "
            f"has no torchvision key mapping; first keys: {sorted(state)[:3]}"
        )
    return map_keys(state, mapping, f"Weights {origin}")


def load_backbone_state(
    backbone: MultiScaleBackbone, state: Mapping[str, torch.Tensor], origin: str, architecture: str
) -> None:
    """Load ``state`` (our layout) into ``backbone``; the stages it lacks (fewer ``levels``) are skipped.

    Anything else that does not fit — a missing or unexpected key, another shape — is a
    :class:`~torchbricks.errors.WeightsMismatchError` naming the weights, the backbone and the tensors,
    raised before any weight changes.
    """
    stages = len(backbone.stages)
    used = {key: value for key, value in state.items() if not _in_absent_stage(key, stages)}
    current = backbone.state_dict()
    missing = sorted(key for key in set(current) - set(used) if not key.endswith("num_batches_tracked"))
    unexpected = sorted(set(used) - set(current))
    shapes = [
        f"'{key}' is {tuple(used[key].shape)} in the weights but {tuple(current[key].shape)} in the backbone"
        for key in sorted(set(used) & set(current))
        if used[key].shape != current[key].shape
    ]
    problems = [f"missing keys {_few(missing)}"] if missing else []
    problems += [f"unexpected keys {_few(unexpected)}"] if unexpected else []
    problems += shapes[:5]
    if problems:
        raise WeightsMismatchError(f"The {origin} do not fit backbone '{architecture}': " + "; ".join(problems))
    backbone.load_state_dict(used, strict=False)  # strict=False: only num_batches_tracked may be absent


def _in_absent_stage(key: str, stages: int) -> bool:
    match = _STAGE_KEY.match(key)
    return match is not None and int(match.group(1)) >= stages


def _few(keys: list[str], shown: int = 5) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"{keys[:shown]}{more}"


class BackboneResnet(nn.Module):
    """A torchvision ResNet without its pooling and classifier: images → final feature map (the seed API).

    Weight files of the original torchbricks' ``BackboneResnet`` (parameters under ``resnet.``) load
    into it: ``legacy_state_dict_prefixes`` maps their names (see :mod:`torchbricks.weights`).
    """

    legacy_state_dict_prefixes: ClassVar[dict[str, str]] = {
        "resnet.conv1.": "stem.0.",
        "resnet.bn1.": "stem.1.",
        **{f"resnet.layer{index}.": f"layer{index}." for index in range(1, 5)},
    }

    def __init__(self, resnet: nn.Module) -> None:
        super().__init__()
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool)
        self.layer1 = resnet.layer1
        self.layer2 = resnet.layer2
        self.layer3 = resnet.layer3
        self.layer4 = resnet.layer4
        self.n_backbone_features: int = resnet.fc.in_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = self.stem(images)
        features = self.layer1(features)
        features = self.layer2(features)
        features = self.layer3(features)
        return self.layer4(features)


def resnet_to_brick(resnet: nn.Module, input_name: str, output_name: str) -> BrickTrainable:
    """Wrap a torchvision ResNet as a trainable backbone brick reading ``input_name``, writing ``output_name``.

    Example:
        >>> import torch, torchvision
        >>> resnet = torchvision.models.resnet18(weights=None)
        >>> brick = resnet_to_brick(resnet, input_name="image", output_name="features")
        >>> brick.model.n_backbone_features, brick({"image": torch.rand(1, 3, 64, 64)})["features"].shape
        (512, torch.Size([1, 512, 2, 2]))
    """
    return BrickTrainable(BackboneResnet(resnet), input_names=[input_name], output_names=[output_name])


SUPPORTED_RESNET_BACKBONES = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]
"""The torchvision ResNets :func:`create_backbone` builds (the seed API)."""

SUPPORTED_BACKBONES = SUPPORTED_RESNET_BACKBONES


def create_backbone(name: str, pretrained: bool = False, small: bool = False) -> BackboneResnet:
    """A torchvision ResNet named ``name`` as a :class:`BackboneResnet`, with random weights (the seed API).

    ``small=True`` suits small images: a 3x3 stride-1 first convolution and no max pooling. Nothing is
    downloaded, so ``pretrained=True`` is refused: load a local state dict into the result instead.

    Example:
        >>> import torch
        >>> backbone = create_backbone("resnet18", pretrained=False)
        >>> backbone.n_backbone_features, tuple(backbone(torch.rand(1, 3, 64, 64)).shape)
        (512, (1, 512, 2, 2))
    """
    if name not in SUPPORTED_BACKBONES:
        from torchbricks.suggestions import did_you_mean

        raise ValueError(
            f"Backbone '{name}' is not supported.{did_you_mean(name, SUPPORTED_BACKBONES)} "
            f"Supported: {SUPPORTED_BACKBONES}"
        )
    if pretrained:
        raise ValueError(
            f"create_backbone('{name}', pretrained=True) would download weights, which torchbricks never does; "
            f"create it with pretrained=False and load a local state dict (backbone.load_state_dict(...))"
        )
    import torchvision

    resnet = getattr(torchvision.models, name)(weights=None)
    if small:
        resnet.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        resnet.maxpool = nn.Identity()
    return BackboneResnet(resnet)
