"""JSON-ready descriptions of registered weights: what ``torchbricks weights list`` and ``info`` show.

Example:
    >>> from torchbricks.pretrained import PretrainedWeights
    >>> weights = PretrainedWeights(brick="tiny", tag="demo", sha256="0" * 64, urls=("https://example.com/t.pt",))
    >>> details = describe_weights(weights)
    >>> details["name"], details["file_name"], details["cached"]
    ('tiny.demo', 't.pt', False)
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from torchbricks.errors import RegistryError
from torchbricks.pretrained._catalog import qualified_name, weights_entries, weights_of
from torchbricks.pretrained._fetch import cached_file
from torchbricks.pretrained._locations import cached_path, mirror_folders, torch_hub_path
from torchbricks.pretrained._spec import PretrainedWeights


def describe_weights(weights: PretrainedWeights) -> dict[str, Any]:
    """Every field of ``weights``, with its names, file name, where it is cached and whether it is there."""
    details = asdict(weights)
    details["arguments"] = dict(weights.arguments)
    details["name"] = weights.name
    details["qualified_name"] = qualified_name(weights)
    details["file_name"] = weights.file_name
    details["sha256_from_hub"] = weights.sha256_from_hub
    details["cache_path"] = str(cached_path(weights))
    details["cached"] = cached_file(weights) is not None
    hub_checkpoint = torch_hub_path(weights)
    details["torch_hub_path"] = str(hub_checkpoint) if hub_checkpoint is not None else None
    details["mirror_folders"] = [str(folder) for folder in mirror_folders()]
    return details


def registered_weights(pattern: str | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Descriptions of the registered weights matching the glob ``pattern`` (with ``pack``), and one message
    per entry that failed to load (the others are still described).

    Example:
        >>> described, failures = registered_weights("no-such-weights*")
        >>> described, failures
        ([], [])
    """
    described, failures = [], []
    for entry in weights_entries(pattern):
        try:
            weights = weights_of(entry)
        except RegistryError as failure:
            failures.append(str(failure))
            continue
        described.append({**describe_weights(weights), "pack": entry.pack, "qualified_name": entry.qualified_name})
    return described, failures
