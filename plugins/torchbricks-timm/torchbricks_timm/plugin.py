"""The torchbricks plugin: every timm architecture that supports ``features_only`` as a backbone.

Registered under the entry-point group ``torchbricks`` (``timm = "torchbricks_timm.plugin"``).
Each architecture is the backbone ``torchbricks-timm:<architecture>`` (e.g.
``torchbricks-timm:resnet18``), built by ``create_timm_backbone(<architecture>, ...)``.

Each pretrained tag timm has for those architectures is a ``weights`` entry ``<architecture>.<tag>``
(``torchbricks-timm:resnet50.a1_in1k``), from the shipped table of :mod:`torchbricks_timm.weights`;
a backbone's ``weights`` argument takes its tag.

The hook is cheap and imports neither torch nor timm. When the installed timm is the version
recorded in the shipped data file (:mod:`torchbricks_timm.support`), it registers from that file,
with each backbone's default feature interface. Otherwise it reads the installed timm's
architectures from its source (``@register_model`` functions; ``timm.list_models()`` only if that
looks wrong) and registers every one except those the data file records as unsupported:
architectures newer than the file are registered too, and building one that turns out not to
support ``features_only`` raises an error naming it. Nothing is built here.

Example:
    >>> from torchbricks.registry import BrickRegistrar
    >>> registrar = BrickRegistrar(pack="torchbricks-timm", version="0", plugin="torchbricks-timm:timm")
    >>> torchbricks_register_bricks(registrar)
    >>> entry = next(entry for entry in registrar.entries if entry.name == "resnet18")
    >>> entry.qualified_name, entry.target, entry.interface.strides
    ('torchbricks-timm:resnet18', 'torchbricks_timm.architectures:resnet18', (2, 4, 8, 16, 32))
    >>> weights = next(entry for entry in registrar.entries if entry.name == "resnet18.a1_in1k")
    >>> weights.kind, weights.target
    ('weights', 'torchbricks_timm.weights:resnet18__a1_in1k')
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from torchbricks.features import FeatureSpec
from torchbricks.registry import hookimpl
from torchbricks_timm.support import (
    FeatureSupport,
    feature_names,
    installed_timm_version,
    load_feature_support,
    scan_timm_architectures,
)
from torchbricks_timm.weights import WEIGHTS_MODULE, function_name, load_weights_table, summary_of

if TYPE_CHECKING:
    from torchbricks.registry import BrickRegistrar

FACTORY_MODULE = "torchbricks_timm.architectures"
"""Each backbone's factory is ``torchbricks_timm.architectures:<architecture>``."""

SIGNATURE = (
    "(pretrained: bool = False, out_indices: Sequence[int] | None = None, in_chans: int = 3, "
    "weights: str | Path | None = None, **timm_kwargs: Any) -> TimmBackbone"
)
"""The signature of every factory (``create_timm_backbone`` with the architecture bound)."""

WEIGHTS_SIGNATURE = "() -> PretrainedWeights"


@hookimpl
def torchbricks_register_bricks(registrar: BrickRegistrar) -> None:
    """Register one backbone per timm architecture that supports ``features_only``, and its pretrained tags."""
    support = load_feature_support()
    installed = installed_timm_version()
    if installed is None or installed == support.timm_version:
        # timm not installed: list what the data file knows; building says to install timm.
        summaries = {name: record.get("summary", "") for name, record in support.architectures.items()}
        summaries.update(support.unchecked)
        interfaces = {name: _interface(support, name) for name in support.architectures}
    else:
        summaries = _installed_architectures(support)
        interfaces = {}
    for name in sorted(summaries):
        registrar.add(
            "backbones",
            name,
            f"{FACTORY_MODULE}:{name}",
            summary=summaries[name] or f"timm {name}",
            interface=interfaces.get(name),
            signature=SIGNATURE,
            requires=("timm",),
        )
    _register_weights(registrar, summaries)


def _register_weights(registrar: BrickRegistrar, architectures: Iterable[str]) -> None:
    """One ``weights`` entry per pretrained tag of the registered architectures, from the shipped table."""
    table = load_weights_table()
    for architecture in sorted(architectures):
        for position, record in enumerate(table.architectures.get(architecture, ())):
            tag = record["tag"]
            registrar.add(
                "weights",
                f"{architecture}.{tag}",
                f"{WEIGHTS_MODULE}:{function_name(architecture, tag)}",
                summary=summary_of(architecture, record, position == 0),
                signature=WEIGHTS_SIGNATURE,
            )


def _interface(support: FeatureSupport, name: str) -> FeatureSpec | None:
    record = support.architectures[name]
    try:
        strides = tuple(int(reduction) for reduction in record["reductions"])
        return FeatureSpec(feature_names(strides), tuple(int(channel) for channel in record["channels"]), strides)
    except (KeyError, TypeError, ValueError):
        return None


def _installed_architectures(support: FeatureSupport) -> dict[str, str]:
    """Architecture → summary of the installed timm (another version than the data file's), minus unsupported ones.

    Read from timm's source when that looks right (it agrees with most of the data file), else from
    ``timm.list_models()``, which imports timm (and torch).
    """
    scanned = scan_timm_architectures()
    known = support.known
    if not scanned or (known and len(known.intersection(scanned)) < len(known) // 2):
        scanned = _ask_timm()
    return {name: summary for name, summary in scanned.items() if name not in support.unsupported}


def _ask_timm() -> dict[str, str]:
    import timm

    return {name: _docstring_summary(timm.models.model_entrypoint(name)) for name in timm.list_models()}


def _docstring_summary(function: Any) -> str:
    doc = inspect.getdoc(function) or ""
    lines = doc.strip().splitlines()
    return lines[0].strip() if lines else ""
