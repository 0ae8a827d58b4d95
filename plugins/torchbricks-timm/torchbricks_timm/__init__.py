"""torchbricks-timm: every timm architecture that supports ``features_only`` as a torchbricks backbone.

Installing the pack registers the backbones ``torchbricks-timm:<architecture>`` through the
``torchbricks`` plugin hook (see :mod:`torchbricks_timm.plugin`). Importing this package imports
neither torch nor timm; :func:`create_timm_backbone` and :class:`TimmBackbone` are loaded on first use.

Example:
    >>> from torchbricks import registry
    >>> backbone = registry.create("backbones", "torchbricks-timm:resnet18", out_indices=(4,))
    >>> backbone.feature_spec
    FeatureSpec(names=('c5',), channels=(512,), strides=(32,))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY_ATTRIBUTES = {
    "FeaturesOnlyNotSupportedError": "torchbricks_timm.backbone",
    "TimmBackbone": "torchbricks_timm.backbone",
    "create_timm_backbone": "torchbricks_timm.backbone",
    "describe_timm_features": "torchbricks_timm.backbone",
}

if TYPE_CHECKING:
    from torchbricks_timm.backbone import (
        FeaturesOnlyNotSupportedError,
        TimmBackbone,
        create_timm_backbone,
        describe_timm_features,
    )


def __getattr__(name: str) -> Any:
    module_name = _LAZY_ATTRIBUTES.get(name)
    if module_name is None:
        raise AttributeError(f"module 'torchbricks_timm' has no attribute '{name}'")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


__all__ = [
    "FeaturesOnlyNotSupportedError",
    "TimmBackbone",
    "__version__",
    "create_timm_backbone",
    "describe_timm_features",
]
