"""Entry-point registries of bricks: backbones, necks, heads, losses, metrics, visualizers,
preprocessors and tasks.

A pip-installed brick pack contributes bricks through entry points (``torchbricks.<kind>``) or a
pluggy plugin (``torchbricks``); your own code through :func:`register`. Importing this package
imports neither torch nor any pack.

Example:
    >>> from torchbricks import registry
    >>> "backbones" in registry.KINDS
    True
"""

from torchbricks.registry.entries import LOCAL_PACK, BrickEntry, FeatureSpec, PackStatus, declare_features
from torchbricks.registry.hookspecs import hookimpl
from torchbricks.registry.kinds import KINDS, normalize_kind
from torchbricks.registry.registrar import BrickRegistrar
from torchbricks.registry.registry import (
    argument_problems,
    check,
    check_arguments,
    create,
    get,
    get_entry,
    list_bricks,
    load_entry,
    plugins,
    register,
    reload,
    unregister,
)

__all__ = [
    "KINDS",
    "LOCAL_PACK",
    "BrickEntry",
    "BrickRegistrar",
    "FeatureSpec",
    "PackStatus",
    "argument_problems",
    "check",
    "check_arguments",
    "create",
    "declare_features",
    "get",
    "get_entry",
    "hookimpl",
    "list_bricks",
    "load_entry",
    "normalize_kind",
    "plugins",
    "register",
    "reload",
    "unregister",
]
