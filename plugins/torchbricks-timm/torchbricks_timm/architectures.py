"""Every timm architecture as an importable backbone factory: ``architectures.<name>``.

The registry names each timm backbone's factory ``torchbricks_timm.architectures:<name>``; the
attribute is made on first access (``functools.partial(create_timm_backbone, name)`` with
``describe_features()``), so this module holds no list and imports torch only when used.

Example:
    >>> from torchbricks_timm import architectures
    >>> architectures.resnet18.func.__name__, architectures.resnet18.args
    ('create_timm_backbone', ('resnet18',))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def __getattr__(name: str) -> Callable[..., Any]:
    if name.startswith("_") or not name.isidentifier():
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from torchbricks_timm.backbone import backbone_factory

    return backbone_factory(name)
