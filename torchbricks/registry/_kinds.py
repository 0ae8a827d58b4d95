"""Registry kinds and their entry-point groups.

Example:
    >>> normalize_kind("backbone")
    'backbones'
    >>> entry_point_group("heads")
    'torchbricks.heads'
"""

from __future__ import annotations

from torchbricks.errors import UnknownKindError
from torchbricks.suggestions import did_you_mean

KINDS: tuple[str, ...] = (
    "backbones",
    "necks",
    "heads",
    "losses",
    "metrics",
    "visualizers",
    "preprocessors",
    "tasks",
    "datasets",
    "weights",
)
"""Every registry kind, in display order. ``weights`` entries are pretrained weights, not bricks."""

WEIGHTS = "weights"
"""The kind of pretrained-weights entries: a function without arguments returning a ``PretrainedWeights``."""

BRICK_KINDS: tuple[str, ...] = tuple(kind for kind in KINDS if kind != WEIGHTS)
"""The kinds whose entries build bricks (``create`` refuses the others)."""

PLUGIN_GROUP = "torchbricks"
"""Entry-point group of pluggy plugins (modules or objects with ``torchbricks_*`` hook implementations)."""

OPTIONAL_EXTRAS_GROUP = "torchbricks.optional_extras"
"""Entry-point group where a pack names its optional extras (``fancy = "acme_bricks"``: the name is the extra).

A brick whose entry point needs such an extra (``"acme_bricks.fancy:head [fancy]"``) is skipped by
``torchbricks packs --check`` when a module it needs is missing, instead of being reported.
"""

_SINGULAR = {kind[:-1] if kind.endswith("s") else kind: kind for kind in KINDS} | {"loss": "losses", "neck": "necks"}


def normalize_kind(kind: str) -> str:
    """The registry kind for ``kind``, accepting singular forms (``backbone`` → ``backbones``)."""
    if kind in KINDS:
        return kind
    plural = _SINGULAR.get(kind)
    if plural is not None:
        return plural
    raise UnknownKindError(f"Unknown brick kind '{kind}'.{did_you_mean(kind, KINDS)} Kinds: {', '.join(KINDS)}")


def entry_point_group(kind: str) -> str:
    """The entry-point group that registers bricks of ``kind`` (``torchbricks.<kind>``)."""
    return f"{PLUGIN_GROUP}.{normalize_kind(kind)}"


def canonical_pack_name(name: str) -> str:
    """Distribution names compare case-insensitively with ``-``, ``_`` and ``.`` alike (PEP 503).

    Example:
        >>> canonical_pack_name("TorchBricks_Timm")
        'torchbricks-timm'
    """
    return "-".join(part for part in name.lower().replace("_", "-").replace(".", "-").split("-") if part)
