"""TimmBackbone: a timm ``features_only`` model as a torchbricks backbone.

``forward(images)`` returns a tuple with one feature map per timm feature level, and
``feature_spec`` declares their names, channels and strides from timm's ``feature_info``
(names ``c{log2 stride}``, see :func:`torchbricks_timm.support.feature_names`). Feature maps are
always ``(batch, channels, height, width)``, also for models whose timm extractor is channels-last.

``weights`` loads pretrained weights the way timm does (``pretrained=True`` with the file as timm's
``pretrained_cfg_overlay={"file": ...}``, so timm filters and adapts the keys for ``features_only``):
a pretrained tag of the architecture (``a1_in1k``, ``default``) or a weights name
(``resnet50.a1_in1k``), fetched and verified by :mod:`torchbricks.pretrained` (see
:mod:`torchbricks_timm.weights_loading`), or a local file — in timm's key layout, or the backbone's
own (``model.``..., what ``backbone.state_dict()`` saves).

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
import inspect
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from torchbricks.errors import BrickArgumentError, TorchBricksError, WeightsMismatchError
from torchbricks.features import FeatureSpec
from torchbricks_timm.support import feature_names

if TYPE_CHECKING:
    from torchbricks.pretrained import PretrainedWeights

BRICK_PREFIX = "model."
"""Keys of the backbone's own state dict (``TimmBackbone.state_dict()``) start with this."""

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
        weights: pretrained weights: a tag of the architecture (``a1_in1k``, ``default``), a weights name
            (``resnet50.a1_in1k``), or a local file (timm's key layout or the backbone's own).
        **timm_kwargs: passed to ``timm.create_model`` (e.g. ``drop_path_rate``, ``img_size``).

    Attributes:
        model: the timm feature extractor.
        feature_spec: names, channels and strides of the returned feature maps.
        pretrained_weights: the registered weights ``weights`` named (``None`` for a file or no weights).
        model_name, pretrained, out_indices, in_chans, weights, timm_kwargs: what the backbone was built with.
    """

    def __init__(
        self,
        model_name: str,
        pretrained: bool = False,
        out_indices: Sequence[int] | None = None,
        in_chans: int = 3,
        weights: str | Path | None = None,
        **timm_kwargs: Any,
    ) -> None:
        super().__init__()
        self.model_name = model_name
        self.pretrained = pretrained
        self.out_indices = tuple(out_indices) if out_indices is not None else None
        self.in_chans = in_chans
        self.weights = weights
        self.timm_kwargs = dict(timm_kwargs)
        self.pretrained_weights: PretrainedWeights | None = None
        if weights is None:
            self.model = _create_features_model(model_name, pretrained, self.out_indices, in_chans, timm_kwargs)
        else:
            if pretrained:
                raise BrickArgumentError(
                    f"timm backbone '{model_name}': give pretrained=True (timm downloads its default weights) or "
                    f"weights={weights!r}, not both"
                )
            self.model = self._create_with_weights(weights, timm_kwargs)
        self.feature_spec = spec_from_feature_info(self.model.feature_info)
        # Some timm feature extractors (Swin, MambaOut, ...) return channels-last maps; ours are NCHW.
        self.channels_last_output = str(getattr(self.model, "output_fmt", "NCHW")).endswith("NHWC")

    def _create_with_weights(self, weights: str | Path, timm_kwargs: dict[str, Any]) -> nn.Module:
        """The timm model with ``weights`` loaded (see the module docstring)."""
        from torchbricks_timm.weights_loading import (
            fetch_timm_weights,
            find_timm_weights,
            names_a_file,
            read_weights_file,
        )

        timm_name = self.model_name
        if names_a_file(weights):
            path = Path(weights)
            keys, state = _file_keys(path, self.model_name)
            if keys and all(key.startswith(BRICK_PREFIX) for key in keys):  # the backbone's own layout
                model = _create_features_model(self.model_name, False, self.out_indices, self.in_chans, timm_kwargs)
                _load_own_layout(model, state or read_weights_file(path, self.model_name), path, self.model_name)
                return model
            origin = f"weights file '{path}'"
        else:
            from torchbricks_timm.weights import tags_of

            entry = find_timm_weights(self.model_name, str(weights))
            path = fetch_timm_weights(entry)
            self.pretrained_weights = entry
            if entry.tag in tags_of(self.model_name):  # timm's own tag: its pretrained config (input size, ...)
                timm_name = f"{self.model_name}.{entry.tag}"
            origin = f"pretrained weights '{entry.name}' ({path})"
            if path.suffix != ".safetensors" and not _timm_reads_weights_only():
                read_weights_file(path, self.model_name)  # refuses pickled code before this timm reads the file
        kwargs = dict(timm_kwargs)
        overlay = dict(kwargs.pop("pretrained_cfg_overlay", None) or {})
        kwargs["pretrained_cfg_overlay"] = {**overlay, "file": str(path), "custom_load": False}
        fit = f"The {origin} do not fit timm backbone '{self.model_name}' (timm's key layout expected)"
        try:
            with _TimmLoadReport() as report:
                model = _create_features_model(timm_name, True, self.out_indices, self.in_chans, kwargs)
        except TorchBricksError:
            raise
        except (RuntimeError, KeyError) as error:  # timm's load_state_dict (shapes) or a checkpoint filter
            if isinstance(error, RuntimeError) and "state_dict" not in str(error):
                raise
            message = " ".join(str(error).split())
            raise WeightsMismatchError(f"{fit}: {type(error).__name__}: {message[:500]}") from error
        problems = report.problems(_classifier_prefixes(timm_name))
        if problems:
            raise WeightsMismatchError(f"{fit}: {'; '.join(problems)}")
        return model

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
        weights = f", weights={self.weights!r}" if self.weights is not None else ""
        return f"model_name={self.model_name!r}, pretrained={self.pretrained}, out_indices={self.out_indices}{weights}"


def create_timm_backbone(
    model_name: str,
    pretrained: bool = False,
    out_indices: Sequence[int] | None = None,
    in_chans: int = 3,
    weights: str | Path | None = None,
    **timm_kwargs: Any,
) -> TimmBackbone:
    """A timm architecture as a multi-scale backbone: ``forward(images)`` returns a tuple of feature maps.

    Args:
        model_name: a timm architecture, e.g. ``"resnet18"``.
        pretrained: passed to timm; ``True`` loads timm's pretrained weights (may download them).
        out_indices: which feature levels to return (timm's indices; default: timm's default levels).
        in_chans: number of input channels.
        weights: pretrained weights: a tag (``a1_in1k``, ``default``), a weights name (``resnet50.a1_in1k``),
            or a local file (timm's key layout or the backbone's own); fetched and verified, never unchecked.
        **timm_kwargs: passed to ``timm.create_model``.

    Raises:
        FeaturesOnlyNotSupportedError: the architecture cannot be built with ``features_only=True``.
        UnknownWeightsError: ``weights`` names no registered weights of the architecture.
        WeightsUnavailableError, WeightsChecksumError: the weights file cannot be found or is not the right one.
        WeightsMismatchError: the weights do not fit the architecture.
    """
    return TimmBackbone(
        model_name, pretrained=pretrained, out_indices=out_indices, in_chans=in_chans, weights=weights, **timm_kwargs
    )


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


def _file_keys(path: Path, architecture: str) -> tuple[list[str], dict[str, torch.Tensor] | None]:
    """The keys of a local weights file (and its tensors when they had to be read for that: not safetensors)."""
    from torchbricks_timm.weights_loading import read_weights_file

    if path.suffix == ".safetensors" and path.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                return list(handle.keys()), None
        except Exception:  # read_weights_file says what is wrong with it
            pass
    state = read_weights_file(path, architecture)
    return list(state), state


def _load_own_layout(model: nn.Module, state: Mapping[str, torch.Tensor], path: Path, architecture: str) -> None:
    """Load a state dict saved from a ``TimmBackbone`` (keys ``model.``...) into its timm model, strictly."""
    inner = {key.removeprefix(BRICK_PREFIX): value for key, value in state.items()}
    current = model.state_dict()
    missing = sorted(set(current) - set(inner))
    unexpected = sorted(set(inner) - set(current))
    shapes = [
        f"'{key}' is {tuple(inner[key].shape)} in the file, {tuple(current[key].shape)} in the backbone"
        for key in sorted(set(inner) & set(current))
        if inner[key].shape != current[key].shape
    ]
    problems = [f"missing keys {_few(missing)}"] if missing else []
    problems += [f"unexpected keys {_few(unexpected)}"] if unexpected else []
    problems += shapes[:5]
    if problems:
        raise WeightsMismatchError(
            f"Weights file '{path}' does not fit timm backbone '{architecture}': " + "; ".join(problems)
        )
    model.load_state_dict(inner)


class _TimmLoadReport(logging.Handler):
    """The missing and unexpected keys timm reports while it loads pretrained weights.

    A ``features_only`` model drops the classifier, so timm loads non-strictly and only logs the keys
    that did not fit (``Missing keys (...)`` / ``Unexpected keys (...)``); a file of another architecture
    would load in part. This reads those reports so that such a file is refused.
    """

    _KEYS = re.compile(r"^(Missing|Unexpected) keys \((.*)\) (?:discovered|found) while loading", re.DOTALL)

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.missing: list[str] = []
        self.unexpected: list[str] = []
        self._logger = logging.getLogger("timm.models._builder")
        self._level = self._logger.level

    def emit(self, record: logging.LogRecord) -> None:
        match = self._KEYS.match(record.getMessage())
        if match:
            keys = [key.strip() for key in match.group(2).split(",") if key.strip()]
            (self.missing if match.group(1) == "Missing" else self.unexpected).extend(keys)

    def __enter__(self) -> _TimmLoadReport:
        self._logger.addHandler(self)
        if self._logger.getEffectiveLevel() > logging.INFO:
            self._logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)

    def problems(self, classifier_prefixes: tuple[str, ...]) -> list[str]:
        """What did not fit, apart from the classifier that a backbone leaves out."""
        missing = [key for key in self.missing if not key.startswith(classifier_prefixes)]
        unexpected = [key for key in self.unexpected if not key.startswith(classifier_prefixes)]
        described = [f"missing keys {_few(missing)}"] if missing else []
        return described + ([f"unexpected keys {_few(unexpected)}"] if unexpected else [])


def _classifier_prefixes(timm_name: str) -> tuple[str, ...]:
    """``("fc.",)``: the parameter prefixes of the timm model's classifier(s), from its pretrained config."""
    from timm.models import get_pretrained_cfg

    try:
        cfg = get_pretrained_cfg(timm_name)
    except RuntimeError:
        return ()
    classifier = getattr(cfg, "classifier", None) or ()
    names = (classifier,) if isinstance(classifier, str) else tuple(classifier)
    return tuple(f"{name}." for name in names)


def _few(keys: list[str], shown: int = 5) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"{keys[:shown]}{more}"


@functools.cache
def _timm_reads_weights_only() -> bool:
    """Whether the installed timm reads ``.pth`` files with ``torch.load(weights_only=True)`` by default."""
    from timm.models import load_state_dict

    parameter = inspect.signature(load_state_dict).parameters.get("weights_only")
    return parameter is not None and parameter.default is True


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
