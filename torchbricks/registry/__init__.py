"""Entry-point registries of bricks: backbones, necks, heads, losses, metrics, visualizers,
preprocessors, tasks and datasets; and of pretrained weights (kind ``weights``, see
:mod:`torchbricks.pretrained`), which are listed like bricks but never built as one.

A pip-installed brick pack contributes bricks through entry points (``torchbricks.<kind>``) or a
pluggy hook (entry-point group ``torchbricks``); your own code through :func:`register`. Importing
this package imports neither torch nor any pack.

Example:
    >>> from torchbricks import registry
    >>> "backbones" in registry.KINDS
    True
    >>> registry.get_entry("backbones", "resnet18").qualified_name
    'torchbricks:resnet18'

    A pack that registers bricks dynamically marks its hook with ``hookimpl``:

    >>> @registry.hookimpl
    ... def torchbricks_register_bricks(registrar):
    ...     registrar.add("heads", "my_head", factory=lambda: None, summary="My head")
    >>> callable(torchbricks_register_bricks)
    True
"""

from __future__ import annotations

from torchbricks.registry._api import (
    CORE_PACK,
    check,
    create,
    get,
    get_entry,
    list_bricks,
    load_entry,
    packs,
    register,
    reload,
    resolution,
    strict_mode,
    unregister,
)
from torchbricks.registry._entries import LOCAL_PACK, BrickEntry, PackStatus
from torchbricks.registry._hookspecs import hookimpl
from torchbricks.registry._kinds import (
    BRICK_KINDS,
    KINDS,
    OPTIONAL_EXTRAS_GROUP,
    PLUGIN_GROUP,
    WEIGHTS,
    canonical_pack_name,
    entry_point_group,
    normalize_kind,
)
from torchbricks.registry._registrar import BrickRegistrar, signature_text

__all__ = [
    "BRICK_KINDS",
    "CORE_PACK",
    "KINDS",
    "LOCAL_PACK",
    "OPTIONAL_EXTRAS_GROUP",
    "PLUGIN_GROUP",
    "WEIGHTS",
    "BrickEntry",
    "BrickRegistrar",
    "PackStatus",
    "canonical_pack_name",
    "check",
    "create",
    "entry_point_group",
    "get",
    "get_entry",
    "hookimpl",
    "list_bricks",
    "load_entry",
    "normalize_kind",
    "packs",
    "register",
    "reload",
    "resolution",
    "signature_text",
    "strict_mode",
    "unregister",
]
