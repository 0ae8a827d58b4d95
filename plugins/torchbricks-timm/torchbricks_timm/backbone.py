"""TimmBackbone: a timm ``features_only`` model as a torchbricks backbone.

``forward(images)`` returns a tuple with one feature map per timm feature level, and
``feature_spec`` declares their names, channels and strides from timm's ``feature_info``
(names ``c{log2 stride}``, see :func:`torchbricks_timm.support.feature_names`). Feature maps are
always ``(batch, channels, height, width)``, also for models whose timm extractor is channels-last.

Example:
    >>> import torch
    >>> backbone = create_timm_backbone("resnet18", out_indices=(2, 4))
    >>> [tuple(feature.shape) for feature in backbone(torch.rand(1, 3, 64, 64))]
    [(1, 128, 8, 8), (1, 512, 2, 2)]
    >>> backbone.feature_spec.names, backbone.feature_spec.channels
    (('c3', 'c5'), (128, 512))
    >>> describe_timm_features("resnet18").strides
    (2, 4, 8, 16, 32)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from torchbricks.errors import TorchBricksError
from torchbricks.features import FeatureSpec
from torchbricks_timm.support import feature_names

_FEATURES_ONLY_HINTS = ("features_only", "feature_info", "feature_cfg", "FeatureListNet", "feature extraction")


class FeaturesOnlyNotSupportedError(TorchBricksError, RuntimeError):
    """The timm architecture cannot be built with ``features_only=True``."""


class TimmBackbone(nn.Module):
    """Wraps ``timm.create_model(model_name, features_only=True, ...)``; returns a tuple of feature maps.

    Args:
        model_name: a timm architecture, e.g. ``"resnet18"`` (``timm.list_models()``).
        pretrained: passed to timm; ``True`` loads timm's pretrained weights (may download them).
        out_indices: which feature levels to return (timm's indices; default: timm's default levels).
        in_chans: number of input channels.
        **timm_kwargs: passed to ``timm.create_model`` (e.g. ``drop_path_rate``, ``img_size``,
            ``pretrained_cfg_overlay={"file": "weights.safetensors"}`` to load local weights).

    Attributes:
        model: the timm feature extractor.
        feature_spec: names, channels and strides of the returned feature maps.
        model_name, pretrained, out_indices, in_chans, timm_kwargs: what the backbone was built with.
    """

    def __init__(
        self,
        model_name: str,
        pretrained: bool = False,
        out_indices: Sequence[int] | None = None,
        in_chans: int = 3,
        **timm_kwargs: Any,
    ) -> None:
        super().__init__()
        self.model_name = model_name
        self.pretrained = pretrained
        self.out_indices = tuple(out_indices) if out_indices is not None else None
        self.in_chans = in_chans
        self.timm_kwargs = dict(timm_kwargs)
        self.model = _create_features_model(model_name, pretrained, self.out_indices, in_chans, timm_kwargs)
        self.feature_spec = spec_from_feature_info(self.model.feature_info)
        # Some timm feature extractors (Swin, MambaOut, ...) return channels-last maps; ours are NCHW.
        self.channels_last_output = str(getattr(self.model, "output_fmt", "NCHW")).endswith("NHWC")

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """One feature map per level: a tuple, or the map itself for a single level (one output name)."""
        features = self.model(images)
        if isinstance(features, dict):
            features = features.values()
        if self.channels_last_output:
            features = [feature.permute(0, 3, 1, 2) for feature in features]
        features = tuple(features)
        return features[0] if len(features) == 1 else features

    def extra_repr(self) -> str:
        return f"model_name={self.model_name!r}, pretrained={self.pretrained}, out_indices={self.out_indices}"


def create_timm_backbone(
    model_name: str,
    pretrained: bool = False,
    out_indices: Sequence[int] | None = None,
    in_chans: int = 3,
    **timm_kwargs: Any,
) -> TimmBackbone:
    """A timm architecture as a multi-scale backbone: ``forward(images)`` returns a tuple of feature maps.

    Args:
        model_name: a timm architecture, e.g. ``"resnet18"``.
        pretrained: passed to timm; ``True`` loads timm's pretrained weights (may download them).
        out_indices: which feature levels to return (timm's indices; default: timm's default levels).
        in_chans: number of input channels.
        **timm_kwargs: passed to ``timm.create_model``.

    Raises:
        FeaturesOnlyNotSupportedError: the architecture cannot be built with ``features_only=True``.
    """
    return TimmBackbone(model_name, pretrained=pretrained, out_indices=out_indices, in_chans=in_chans, **timm_kwargs)


def describe_timm_features(
    model_name: str, out_indices: Sequence[int] | None = None, in_chans: int = 3, **timm_kwargs: Any
) -> FeatureSpec:
    """The :class:`FeatureSpec` of ``create_timm_backbone(model_name, ...)``, built on the meta device (no weights)."""
    indices = tuple(out_indices) if out_indices is not None else None
    with torch.device("meta"):
        model = _create_features_model(model_name, False, indices, in_chans, timm_kwargs)
    return spec_from_feature_info(model.feature_info)


def backbone_factory(model_name: str) -> Callable[..., TimmBackbone]:
    """``functools.partial(create_timm_backbone, model_name)`` with ``describe_features()`` attached."""
    factory = functools.partial(create_timm_backbone, model_name)
    factory.describe_features = functools.partial(describe_timm_features, model_name)  # type: ignore[attr-defined]
    return factory


def spec_from_feature_info(feature_info: Any) -> FeatureSpec:
    """Names, channels and strides from a timm ``FeatureInfo`` (``.channels()`` and ``.reduction()``)."""
    channels = tuple(int(channel) for channel in feature_info.channels())
    strides = tuple(int(reduction) for reduction in feature_info.reduction())
    return FeatureSpec(names=feature_names(strides), channels=channels, strides=strides)


def _create_features_model(
    model_name: str,
    pretrained: bool,
    out_indices: tuple[int, ...] | None,
    in_chans: int,
    timm_kwargs: dict[str, Any],
) -> nn.Module:
    import timm

    kwargs = dict(timm_kwargs)
    if out_indices is not None:
        kwargs["out_indices"] = out_indices
    if ":" not in model_name and not timm.is_model(model_name):  # hf-hub:..., local-dir:... are timm's to check
        from torchbricks.suggestions import did_you_mean

        hint = did_you_mean(model_name, timm.list_models())
        raise ValueError(f"Unknown timm architecture '{model_name}' (timm {timm.__version__}).{hint}")
    try:
        return timm.create_model(model_name, features_only=True, pretrained=pretrained, in_chans=in_chans, **kwargs)
    except Exception as error:
        if isinstance(error, (RuntimeError, AttributeError, KeyError, NotImplementedError)) and any(
            hint in str(error) for hint in _FEATURES_ONLY_HINTS
        ):
            raise FeaturesOnlyNotSupportedError(
                f"timm architecture '{model_name}' does not support features_only=True (timm {timm.__version__}), "
                f"so it cannot be used as a backbone: {type(error).__name__}: {error}"
            ) from error
        raise
