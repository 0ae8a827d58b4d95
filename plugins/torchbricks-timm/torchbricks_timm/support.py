"""Which timm architectures support ``features_only``, read from the data file shipped with the pack.

timm does not record ``features_only`` support in its registry: a model without it only fails when
built. ``scripts/update_feature_support.py`` builds every architecture once, on the ``meta`` device
(no memory, no compute), and writes :data:`DATA_FILE`: the timm version it checked, the supported
architectures with their summary and default feature interface, and the unsupported ones with the
error they raised. Nothing here imports torch or timm.

Example:
    >>> feature_names((4, 8, 16, 32))
    ('c2', 'c3', 'c4', 'c5')
    >>> feature_names((16, 16, 16))
    ('c4_0', 'c4_1', 'c4_2')
    >>> feature_names((12, 17))
    ('s12', 's17')
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).with_name("feature_support.json")
"""The shipped record of which architectures support ``features_only`` (see the module docstring)."""

DATA_FORMAT = 1


@dataclass(frozen=True)
class FeatureSupport:
    """The content of :data:`DATA_FILE`.

    Attributes:
        timm_version: the timm version the architectures were checked with.
        architectures: supported architecture → ``{"summary", "channels", "reductions", "input_size",
            "num_params"}`` of its default ``features_only`` model.
        unsupported: architecture → the error it raised when built with ``features_only=True``.
        unchecked: architecture → summary, for those the check did not finish in time (registered anyway).
    """

    timm_version: str = ""
    architectures: dict[str, dict[str, Any]] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)
    unchecked: dict[str, str] = field(default_factory=dict)

    @property
    def known(self) -> set[str]:
        """Every architecture of :attr:`timm_version`."""
        return {*self.architectures, *self.unsupported, *self.unchecked}


@functools.cache
def load_feature_support(path: Path = DATA_FILE) -> FeatureSupport:
    """Read the data file; an empty record when it is missing or unreadable (then timm is asked)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return FeatureSupport()
    if not isinstance(data, dict) or data.get("format") != DATA_FORMAT:
        return FeatureSupport()
    return FeatureSupport(
        timm_version=str(data.get("timm_version", "")),
        architectures=dict(data.get("architectures", {})),
        unsupported=dict(data.get("unsupported", {})),
        unchecked=dict(data.get("unchecked", {})),
    )


def installed_timm_version() -> str | None:
    """The installed timm version from its distribution metadata (timm is not imported), or ``None``."""
    try:
        return metadata.version("timm")
    except metadata.PackageNotFoundError:
        return None


_REGISTERED_MODEL = re.compile(r"^@register_model\b[^\n]*\n(?:@[^\n]*\n)*def[ \t]+(\w+)", re.MULTILINE)
"""``@register_model`` (maybe with more decorators) on ``def <architecture>``."""

_DOCSTRING_FIRST_LINE = re.compile(
    r"[ \t]*\((?:[^()]|\([^()]*\))*\)[^:\n]*:[ \t]*(?:#[^\n]*)?\n"  # (arguments) -> annotation:  # comment
    r"[ \t]+[rRuU]?(?:\"\"\"|\'\'\')[ \t]*\n?[ \t]*([^\n]*)"  # the docstring's first line
)


def scan_timm_architectures() -> dict[str, str] | None:
    """The installed timm's architectures and docstring summaries, read from its source (timm is not imported).

    timm registers every architecture with ``@register_model`` on a module-level function of
    ``timm/models/*.py``; importing timm to ask ``timm.list_models()`` costs seconds (it imports torch
    and torchvision), reading those files a tenth of a second. ``None`` when timm is not installed or
    no architecture is found (then ask timm itself).
    """
    try:
        spec = importlib.util.find_spec("timm")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    architectures: dict[str, str] = {}
    for location in spec.submodule_search_locations:
        for path in sorted(Path(location, "models").glob("*.py")):
            try:
                source = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                return None
            if "@register_model" not in source:
                continue
            for match in _REGISTERED_MODEL.finditer(source):
                docstring = _DOCSTRING_FIRST_LINE.match(source, match.end())
                architectures[match.group(1)] = docstring.group(1).strip().strip("\"'").strip() if docstring else ""
    return architectures or None


def feature_names(strides: Sequence[int]) -> tuple[str, ...]:
    """Feature names from strides: ``c{log2 stride}`` (``s{stride}`` when not a power of two).

    A name shared by several features (e.g. the last blocks of a ViT, all at stride 16) gets the
    suffix ``_0``, ``_1``, ... in output order.
    """
    bases = [f"c{stride.bit_length() - 1}" if _power_of_two(stride) else f"s{stride}" for stride in strides]
    counts = Counter(bases)
    seen: Counter[str] = Counter()
    names = []
    for base in bases:
        if counts[base] > 1:
            names.append(f"{base}_{seen[base]}")
            seen[base] += 1
        else:
            names.append(base)
    return tuple(names)


def _power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0
