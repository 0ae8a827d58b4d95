"""Every timm architecture as an importable backbone factory: ``architectures.<name>``.

The registry names each timm backbone's factory ``torchbricks_timm.architectures:<name>``; the
attribute is made on first access (``functools.partial(create_timm_backbone, name)`` with
``describe_features()``), so this module holds no list and imports torch only when used. Names are
the architectures of the shipped data file, else asked of timm.

Example:
    >>> from torchbricks_timm import architectures
    >>> architectures.resnet18.func.__name__, architectures.resnet18.args
    ('create_timm_backbone', ('resnet18',))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def __getattr__(name: str) -> Callable[..., Any]:
    if not name.startswith("_") and name.isidentifier() and _is_architecture(name):
        from torchbricks_timm.backbone import backbone_factory

        return backbone_factory(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} (not a timm architecture)")


def _is_architecture(name: str) -> bool:
    from torchbricks_timm.support import installed_timm_version, load_feature_support

    support = load_feature_support()
    if name in support.known and installed_timm_version() in (support.timm_version, None):
        return True
    try:
        import timm
    except ImportError:
        return name in support.known
    return bool(timm.is_model(name))
