"""The registered pretrained weights: list them, find one by name, tag or ``<brick>.default``.

Entries live in the registry kind ``weights``; each one's function is called on first use (importing
its pack's module) and the :class:`PretrainedWeights` it returns is checked: a failure, another type, or
a name that is not the registered one raises :class:`InvalidWeightsEntryError` naming the entry.

Example:
    >>> from torchbricks import registry
    >>> weights = PretrainedWeights(brick="doc_net", tag="toy", sha256="ab" * 32, default=True)
    >>> _ = registry.register("weights", "doc_net.toy", lambda: weights)
    >>> find_weights("doc_net", "default").name
    'doc_net.toy'
    >>> find_weights("doc_net.toi")
    Traceback (most recent call last):
    ...
    torchbricks.errors.UnknownWeightsError: No pretrained weights named 'doc_net.toi'. Did you mean 'doc_net.toy'? \
Tags of doc_net: toy (default). See `torchbricks weights list`.
    >>> registry.unregister("weights", "doc_net.toy")
"""

from __future__ import annotations

import contextlib
import threading

from torchbricks import registry
from torchbricks.errors import (
    AmbiguousBrickNameError,
    InvalidWeightsEntryError,
    RegistryError,
    UnknownBrickError,
    UnknownWeightsError,
)
from torchbricks.pretrained._spec import PretrainedWeights
from torchbricks.suggestions import close_matches

DEFAULT_TAG = "default"
"""``<brick>.default`` names the entry of that brick marked ``default=True``."""

_LOADED: dict[int, tuple[registry.BrickEntry, PretrainedWeights]] = {}
_LOCK = threading.Lock()


def weights_of(entry: registry.BrickEntry) -> PretrainedWeights:
    """The :class:`PretrainedWeights` a ``weights`` registry entry returns (called once per entry), checked.

    Raises :class:`~torchbricks.errors.PluginLoadError` / ``MissingDependencyError`` when the entry's
    module cannot be imported, :class:`InvalidWeightsEntryError` when it returns anything else.
    """
    with _LOCK:
        known = _LOADED.get(id(entry))
        if known is not None and known[0] is entry:
            return known[1]
    what = f"weights '{entry.qualified_name}' ({entry.target})"
    function = registry.load_entry(entry)
    if isinstance(function, PretrainedWeights):
        weights = function
    else:
        try:
            weights = function()
        except InvalidWeightsEntryError as error:
            raise InvalidWeightsEntryError(f"{what}: {error}") from error
        except Exception as error:
            raise InvalidWeightsEntryError(f"{what} failed: {type(error).__name__}: {error}") from error
    if not isinstance(weights, PretrainedWeights):
        raise InvalidWeightsEntryError(
            f"{what} returned {type(weights).__name__}, not a torchbricks.pretrained.PretrainedWeights"
        )
    if weights.name != entry.name:
        raise InvalidWeightsEntryError(
            f"{what} is registered as '{entry.name}' but describes '{weights.name}' (register it as <brick>.<tag>)"
        )
    with _LOCK:
        _LOADED[id(entry)] = (entry, weights)
    return weights


def qualified_name(weights: PretrainedWeights) -> str:
    """``pack:<brick>.<tag>`` of registered weights (the pack that registers them), else ``weights.name``."""
    try:
        for entry in registry.list_bricks(registry.WEIGHTS, weights.name):
            if weights_of(entry) is weights:
                return entry.qualified_name
    except RegistryError:
        pass
    return weights.name


def weights_entries(pattern: str | None = None) -> list[registry.BrickEntry]:
    """The registry entries of kind ``weights`` whose name (or ``pack:name``) matches the glob ``pattern``."""
    return registry.list_bricks(registry.WEIGHTS, pattern or "*")


def list_weights(pattern: str | None = None) -> list[PretrainedWeights]:
    """Registered pretrained weights whose name matches the glob ``pattern`` (``resnet*``), sorted by name.

    Entries that fail to load are left out (``torchbricks weights list`` and ``torchbricks packs`` name them).

    Example:
        >>> from torchbricks import registry
        >>> _ = registry.register("weights", "doc_list.a", lambda: PretrainedWeights("doc_list", "a", "cd" * 32))
        >>> [weights.name for weights in list_weights("doc_list.*")]
        ['doc_list.a']
        >>> registry.unregister("weights", "doc_list.a")
    """
    found = []
    for entry in weights_entries(pattern):
        try:
            found.append(weights_of(entry))
        except RegistryError:
            continue
    return found


def split_name(name: str) -> tuple[str, str]:
    """``(brick, tag)`` of ``<brick>.<tag>`` (the tag follows the last dot); the brick keeps a ``pack:``.

    Example:
        >>> split_name("torchbricks:resnet50.imagenet1k_v2")
        ('torchbricks:resnet50', 'imagenet1k_v2')
    """
    brick, dot, tag = name.rpartition(".")
    if not dot or not brick or not tag:
        return name, ""
    return brick, tag


def find_weights(name_or_brick: str | tuple[str, str] | PretrainedWeights, tag: str | None = None) -> PretrainedWeights:
    """The registered weights named ``"<brick>.<tag>"`` (or ``"pack:<brick>.<tag>"``), or ``(brick, tag)``.

    The tag ``default`` means the brick's entry marked ``default=True`` (the core pack's when several packs
    have one). Unknown names raise :class:`UnknownWeightsError` with close matches and the brick's tags.
    """
    if isinstance(name_or_brick, PretrainedWeights):
        return name_or_brick
    if isinstance(name_or_brick, tuple):
        if len(name_or_brick) != 2 or tag is not None:
            raise TypeError(f"find_weights takes (brick, tag), got {name_or_brick!r}")
        name_or_brick, tag = name_or_brick
    if not isinstance(name_or_brick, str) or (tag is not None and not isinstance(tag, str)):
        raise TypeError(f"find_weights takes a name such as 'resnet50.imagenet1k_v2', got {name_or_brick!r}")
    name = f"{name_or_brick}.{tag}" if tag else name_or_brick
    brick, tag = split_name(name)
    try:
        return weights_of(registry.get_entry(registry.WEIGHTS, name))
    except UnknownBrickError:
        if tag != DEFAULT_TAG:
            raise _unknown(name, brick) from None
    return _default_of(name, brick)


def _default_of(name: str, brick: str) -> PretrainedWeights:
    pack, _, bare = brick.rpartition(":")
    defaults: list[tuple[registry.BrickEntry, PretrainedWeights]] = []
    for entry in _entries_of_brick(bare, pack):
        try:
            weights = weights_of(entry)
        except RegistryError:
            continue
        if weights.default:
            defaults.append((entry, weights))
    if not defaults:
        raise _unknown(name, brick)
    if len(defaults) > 1:
        core = [item for item in defaults if item[0].pack_key == registry.CORE_PACK]
        if len(core) != 1:
            options = ", ".join(f"'{entry.qualified_name}'" for entry, _ in defaults)
            raise AmbiguousBrickNameError(
                f"Several entries are the default weights of '{brick}': {options}; name one of them"
            )
        defaults = core
    return defaults[0][1]


def _entries_of_brick(bare: str, pack: str) -> list[registry.BrickEntry]:
    pack_key = registry.canonical_pack_name(pack) if pack else None
    return [
        entry
        for entry in weights_entries()
        if split_name(entry.name)[0] == bare and (pack_key is None or entry.pack_key == pack_key)
    ]


def _unknown(name: str, brick: str) -> UnknownWeightsError:
    entries = weights_entries()
    names = sorted({entry.name for entry in entries} | {entry.qualified_name for entry in entries if ":" in name})
    matches = close_matches(name, names)
    hint = " Did you mean " + " or ".join(repr(match) for match in matches) + "?" if matches else ""
    bare = brick.rpartition(":")[2]
    tags = _tags(_entries_of_brick(bare, brick.rpartition(":")[0]))
    if tags:
        known = f" Tags of {bare}: {', '.join(tags)}."
    else:
        known = f" No weights are registered for a brick named '{bare}'."
    return UnknownWeightsError(f"No pretrained weights named '{name}'.{hint}{known} See `torchbricks weights list`.")


def _tags(entries: list[registry.BrickEntry]) -> list[str]:
    tags = []
    for entry in entries:
        tag = split_name(entry.name)[1]
        default = False
        with contextlib.suppress(RegistryError):
            default = weights_of(entry).default
        tags.append(f"{tag} (default)" if default else tag)
    return sorted(dict.fromkeys(tags))
