"""Pretrained weights named in a model config: checked when resolved, their preprocessing, their provenance.

A part's ``weights`` argument that names no file — a tag of the part's brick (``imagenet1k_v2``,
``default``) or a full name (``resnet50.imagenet1k_v2``) — names registered pretrained weights
(:mod:`torchbricks.pretrained`); the part's factory loads them. Here the assembler

* checks, when a config is resolved, that the weights exist and fit the part (brick, kind, the
  arguments the weights need) — nothing is downloaded then;
* gives the model the weights' preprocessing when the config sets no preprocessor (``normalize``
  with their mean and std; the resolved config keeps it, so a saved model needs no weights entry);
* records, when the model is built, which verified file each part started from:
  ``config["pretrained"] = {"backbone": {"name": "torchbricks:resnet18.imagenet1k_v1", "sha256": ...}}``
  (a local weights file: its path and sha256) — provenance only, ``load_model`` never reads it.

Example:
    >>> names_a_file("imagenet1k_v2"), names_a_file("resnet50.imagenet1k_v2"), names_a_file("runs/backbone.pth")
    (False, False, True)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from torchbricks._arguments import parameter_names
from torchbricks.assembly._checksums import file_sha256
from torchbricks.assembly._parts import Part
from torchbricks.errors import RegistryError, WeightsError
from torchbricks.registry import canonical_pack_name

WEIGHTS_ARGUMENT = "weights"
"""The part argument that names a weights file or registered pretrained weights."""
WEIGHTS_FILE_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".ckpt")
"""Suffixes that make a ``weights`` string a file path rather than a tag or a weights name."""
PRETRAINED_KEY = "pretrained"
"""The config key :func:`build_model` records provenance under (part path → name and sha256)."""


def names_a_file(value: str | Path) -> bool:
    """Whether a ``weights`` value is a file path (a folder in it, a weights suffix, or an existing file)."""
    if isinstance(value, Path):
        return True
    return "/" in value or "\\" in value or value.endswith(WEIGHTS_FILE_SUFFIXES) or Path(value).is_file()


def pretrained_of(brick: str, value: Any) -> Any:
    """The registered :class:`~torchbricks.pretrained.PretrainedWeights` a ``weights`` value names, or ``None``.

    ``None`` for no value and for a file; a name with a dot (``resnet50.imagenet1k_v2``) is looked up as
    it is, a tag among the weights of ``brick`` — qualified (``torchbricks-timm:resnet50``), the tag is
    first looked for among the weights its own pack registers, so ``default`` is that pack's default.
    Raises :class:`~torchbricks.errors.UnknownWeightsError`.
    """
    if not isinstance(value, str) or names_a_file(value):
        return None
    from torchbricks.errors import UnknownWeightsError
    from torchbricks.pretrained import find_weights

    if "." in value or ":" in value:
        return find_weights(value)
    if ":" in brick:
        try:
            return find_weights((brick, value))
        except UnknownWeightsError:
            pass  # weights another pack registers for this brick
    return find_weights((_bare(brick), value))


def check_pretrained(part: Part, problems: list[str]) -> Any:
    """The weights a resolved part names (``None`` if none); a problem for each way they do not fit it."""
    names = parameter_names(part.factory)
    value = part.arguments.get(WEIGHTS_ARGUMENT)
    if value is None or names is None or (WEIGHTS_ARGUMENT not in names[0] and not names[2]):
        return None
    where = f"{part.path}.{WEIGHTS_ARGUMENT}"
    try:
        weights = pretrained_of(part.entry.qualified_name, value)
    except RegistryError as error:
        problems.append(f"{where}: {error}")
        return None
    if weights is None:
        return None
    pack = weights.brick.partition(":")[0] if ":" in weights.brick else None
    same_pack = pack is None or canonical_pack_name(pack) == canonical_pack_name(part.entry.pack)
    if _bare(weights.brick) != part.entry.name or not same_pack or weights.kind != part.kind:
        problems.append(
            f"{where}: '{weights.name}' are weights for the {weights.kind} '{weights.brick}', not for "
            f"'{part.entry.name}'; `torchbricks weights list '{part.entry.name}.*'` lists its weights"
        )
        return None
    for key, needed in weights.arguments.items():
        given = part.arguments.get(key, part.resolved().get(key))
        if given != needed:
            problems.append(f"{part.path}.{key}: the weights '{weights.name}' need {key}={needed!r}, got {given!r}")
    return weights


def weights_preprocessor(weights: Any) -> dict[str, Any] | None:
    """``normalize`` with the weights' mean and std (``None`` when the weights say nothing of preprocessing)."""
    preprocessing = weights.preprocessing if weights is not None else None
    if preprocessing is None:
        return None
    return {"name": "normalize", "mean": list(preprocessing.mean), "std": list(preprocessing.std)}


def pretrained_provenance(config: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """Fetch (cache, mirror, then network unless offline) the weights each part names; their name and sha256.

    A part's local weights file is recorded by its path. The sha256 is the whole file's, computed here
    (torchvision publishes only a prefix).
    """
    from torchbricks.pretrained import fetch_weights

    provenance: dict[str, dict[str, str]] = {}
    for path, part in configured_parts(config):
        value = part.get(WEIGHTS_ARGUMENT)
        if isinstance(value, (str, Path)) and names_a_file(value):
            file = Path(value)
            if file.is_file():
                provenance[path] = {"name": str(value), "sha256": file_sha256(file)}
            continue
        brick = part.get("task" if path.startswith("tasks.") else "name")
        weights = pretrained_of(str(brick), value)
        if weights is None:
            continue
        file = fetch_weights(weights)
        provenance[path] = {"name": _qualified_name(weights), "sha256": file_sha256(file)}
    return provenance


def configured_parts(config: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """``(path, part)`` of every part of a config given as a mapping: the named parts, then each task."""
    for key in ("preprocessor", "backbone", "neck", "loss_weighting"):
        if isinstance(config.get(key), Mapping):
            yield key, config[key]
    tasks = config.get("tasks")
    if isinstance(tasks, Mapping):
        for name, task in tasks.items():
            if isinstance(task, Mapping):
                yield f"tasks.{name}", task


def _bare(name: str) -> str:
    return name.rpartition(":")[2]


def _qualified_name(weights: Any) -> str:
    """``pack:<brick>.<tag>`` of registered weights."""
    from torchbricks import registry

    try:
        return registry.get_entry("weights", weights.name).qualified_name
    except (RegistryError, WeightsError):
        return weights.name
