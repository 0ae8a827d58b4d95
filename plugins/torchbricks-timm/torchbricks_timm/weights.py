"""timm's pretrained tags as torchbricks ``weights`` entries, read from the data file shipped with the pack.

``scripts/update_pretrained_weights.py`` reads timm's pretrained configs once and writes
:data:`DATA_FILE`: for each architecture the pack registers, its tags in timm's order (timm's default
first), each with its source, license, number of classes, dataset and preprocessing. The plugin hook
registers one entry per tag, ``<architecture>.<tag>`` (``resnet50.a1_in1k``), whose function is
``torchbricks_timm.weights:<architecture>__<tag>``; it builds the :class:`PretrainedWeights` from the
table when asked. Nothing here imports torch or timm.

Sources: timm loads most tags from the Hugging Face Hub (``timm/<architecture>.<tag>``, file
``model.safetensors``), fetched with ``huggingface_hub`` (its cache, ``HF_HUB_OFFLINE``); a few only
from a URL. timm publishes no sha256 for its Hub files, so those entries have ``sha256 == ""``
(:data:`UNKNOWN_SHA256`): the Hub publishes it (the LFS oid), and torchbricks looks it up when the file is
fetched and checks the file against it (see :mod:`torchbricks.pretrained._hub_sha256`). A URL whose file
name carries torch.hub's hash prefix (``-f009139b.pth``) gives that prefix.

Example:
    >>> weights = timm_weights("gcvit_xxtiny", "in1k")  # one of the few tags timm loads from a URL
    >>> weights.name, weights.brick, weights.default, weights.sha256, weights.sha256_is_prefix
    ('gcvit_xxtiny.in1k', 'torchbricks-timm:gcvit_xxtiny', True, 'd1d86009', True)
    >>> weights.preprocessing.input_size, weights.preprocessing.resize_size, weights.preprocessing.interpolation
    ((224, 224), 256, 'bicubic')
    >>> weights.license, weights.dataset, len(weights.class_names), weights.class_names[0]
    ('Apache-2.0', 'imagenet-1k', 1000, 'tench')
    >>> tags_of("resnet18")[:3]
    ['a1_in1k', 'a2_in1k', 'a3_in1k']
    >>> entry_function("resnet18", "a1_in1k").__name__
    'resnet18__a1_in1k'
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torchbricks.pretrained import HubFile, PretrainedWeights

DATA_FILE = Path(__file__).with_name("pretrained_weights.json")
"""The shipped table of timm's pretrained tags (see the module docstring)."""

DATA_FORMAT = 1
PACK = "torchbricks-timm"
WEIGHTS_MODULE = "torchbricks_timm.weights"
"""Each entry's function is ``torchbricks_timm.weights:<architecture>__<tag>``."""
SEPARATOR = "__"
"""Between architecture and tag in a function name (neither contains it; a tag may start with a digit)."""
_NOTE_FIELDS = (("origin_url", "Origin"), ("paper_name", "Paper"), ("paper_ids", "Paper ids"), ("notes", "Notes"))
UNKNOWN_SHA256 = ""
"""The sha256 of an entry whose upstream publishes none (timm's Hugging Face Hub files: the Hub publishes it)."""


@dataclass(frozen=True)
class WeightsTable:
    """The content of :data:`DATA_FILE`.

    Attributes:
        timm_version: the timm version whose pretrained configs were read.
        hub_organization: the Hub organisation of a tag's default repository (``timm/<architecture>.<tag>``).
        hub_filename: the file timm loads from a Hub repository.
        class_names: dataset → class names in the classifier's order (ImageNet-1k).
        preprocessing: the shared preprocessing blocks tags point to by index.
        architectures: architecture → its tags' records, timm's default tag first.
    """

    timm_version: str = ""
    hub_organization: str = "timm/"
    hub_filename: str = "model.safetensors"
    class_names: dict[str, list[str]] = field(default_factory=dict)
    preprocessing: list[dict[str, Any]] = field(default_factory=list)
    architectures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def record(self, architecture: str, tag: str) -> tuple[int, dict[str, Any]] | None:
        """``(position, record)`` of a tag (position 0 is timm's default), or ``None``."""
        for position, record in enumerate(self.architectures.get(architecture, ())):
            if record.get("tag") == tag:
                return position, record
        return None


@functools.cache
def load_weights_table(path: Path = DATA_FILE) -> WeightsTable:
    """Read the data file; an empty table when it is missing or unreadable (then no weights are registered)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return WeightsTable()
    if not isinstance(data, dict) or data.get("format") != DATA_FORMAT:
        return WeightsTable()
    return WeightsTable(
        timm_version=str(data.get("timm_version", "")),
        hub_organization=str(data.get("hub_organization", "timm/")),
        hub_filename=str(data.get("hub_filename", "model.safetensors")),
        class_names=dict(data.get("class_names", {})),
        preprocessing=list(data.get("preprocessing", [])),
        architectures=dict(data.get("architectures", {})),
    )


def tags_of(architecture: str) -> list[str]:
    """The architecture's pretrained tags, timm's default first (empty when it has none)."""
    return [record["tag"] for record in load_weights_table().architectures.get(architecture, ())]


def function_name(architecture: str, tag: str) -> str:
    """The attribute of this module that returns the tag's entry: ``<architecture>__<tag>``."""
    return f"{architecture}{SEPARATOR}{tag}"


def entry_function(architecture: str, tag: str) -> Callable[[], PretrainedWeights]:
    """A function without arguments returning the tag's :class:`PretrainedWeights` (what the registry calls)."""
    if load_weights_table().record(architecture, tag) is None:
        raise AttributeError(f"timm has no pretrained tag '{architecture}.{tag}' in {DATA_FILE.name}")
    function = functools.partial(timm_weights, architecture, tag)
    functools.update_wrapper(function, timm_weights)
    function.__name__ = function.__qualname__ = function_name(architecture, tag)  # type: ignore[attr-defined]
    return function


def timm_weights(architecture: str, tag: str) -> PretrainedWeights:
    """The :class:`PretrainedWeights` of timm's ``<architecture>.<tag>`` from the shipped table.

    The sha256 is the table's, else (a Hub file) :data:`UNKNOWN_SHA256`: the Hub's, looked up at fetch time.
    Building an entry needs neither the network nor the Hugging Face cache.

    Raises:
        KeyError: the table has no such tag.
        InvalidWeightsEntryError: the table's record is not a valid entry (a URL file without any hash).
    """
    from torchbricks.pretrained import HubFile, Preprocessing, PretrainedWeights

    table = load_weights_table()
    found = table.record(architecture, tag)
    if found is None:
        raise KeyError(f"timm has no pretrained tag '{architecture}.{tag}' in {DATA_FILE.name}")
    position, record = found
    block = table.preprocessing[int(record["preprocessing"])]
    url = record.get("url")
    hub = None
    if url is None:
        hub = HubFile(
            repo_id=record.get("hub", f"{table.hub_organization}{architecture}.{tag}"),
            filename=record.get("hub_filename", table.hub_filename),
            revision=record.get("revision", "main"),
        )
    sha256 = record.get("sha256") or record.get("sha256_prefix") or UNKNOWN_SHA256
    if not sha256 and hub is None:
        from torchbricks.errors import InvalidWeightsEntryError

        raise InvalidWeightsEntryError(
            f"Pretrained weights '{architecture}.{tag}': timm loads them from {url}, for which no hash is "
            f"published, so torchbricks has nothing to check the file against and does not use it; load them "
            f"with timm itself (timm.create_model('{architecture}.{tag}', pretrained=True))"
        )
    num_classes = int(record.get("num_classes", 0))
    dataset = str(record.get("dataset", "unknown"))
    class_names = table.class_names.get(dataset)
    file_name = hub.filename if hub is not None else str(url)
    return PretrainedWeights(
        brick=f"{PACK}:{architecture}",
        tag=tag,
        kind="backbones",
        sha256=sha256,
        sha256_is_prefix="sha256" not in record and "sha256_prefix" in record,
        size=record.get("size"),
        urls=(str(url),) if url is not None else (),
        hub=hub,
        format="safetensors" if file_name.endswith(".safetensors") else "state_dict",
        license=str(record.get("license", "unknown")),
        dataset=dataset,
        preprocessing=Preprocessing(
            mean=tuple(float(value) for value in block["mean"]),
            std=tuple(float(value) for value in block["std"]),
            input_size=(int(block["input_size"][0]), int(block["input_size"][1])),
            resize_size=None if block.get("resize_size") is None else int(block["resize_size"]),
            interpolation=str(block.get("interpolation", "bilinear")),
        ),
        class_names=tuple(class_names) if class_names and len(class_names) == num_classes else None,
        default=position == 0,
        summary=summary_of(architecture, record, position == 0),
        source_notes=_source_notes(table, architecture, record, block, hub),
    )


def summary_of(architecture: str, record: dict[str, Any], default: bool) -> str:
    """One line for listings: ``timm resnet50.a1_in1k: imagenet-1k, 1000 classes, Apache-2.0 (timm's default)``."""
    num_classes = int(record.get("num_classes", 0))
    classes = f"{num_classes} classes" if num_classes else "no classifier"
    parts = [record.get("dataset", ""), classes, record.get("license", "")]
    text = f"timm {architecture}.{record['tag']}: " + ", ".join(part for part in parts if part)
    return text + (" (timm's default)" if default else "")


def _source_notes(
    table: WeightsTable,
    architecture: str,
    record: dict[str, Any],
    block: dict[str, Any],
    hub: HubFile | None,
) -> str:
    name = f"{architecture}.{record['tag']}"
    notes = [f"From timm {table.timm_version}'s pretrained config '{name}'."]
    if hub is not None:
        notes.append(
            f"timm loads it from the Hugging Face Hub repository {hub.repo_id} ({hub.filename}, revision "
            f"{hub.revision}), fetched with huggingface_hub (its cache, HF_HUB_OFFLINE)."
        )
        if "sha256" in record:
            notes.append("The sha256 and size are the Hub's own (the file's etag), recorded with the table.")
        else:
            notes.append(
                "timm publishes no sha256 for its Hub files, so this entry records none: the Hub's (the file's LFS "
                "oid) is looked up when it is fetched (the Hugging Face cache's blob name, a mirror's .sha256 file, "
                "else one HEAD request to the Hub) and the file is checked against it."
            )
        if not hub.repo_id.startswith(table.hub_organization):
            notes.append(
                f"The repository is not timm's own: timm tries {table.hub_filename} there, then pytorch_model.bin."
            )
    elif "sha256_prefix" in record:
        notes.append("timm loads it from the URL; the file name carries its sha256 prefix (torch.hub's convention).")
    else:
        notes.append("timm loads it from the URL; no hash is published for it, so this entry records none.")
    if block.get("crop_mode", "center") != "center":
        notes.append(f"timm's eval transform: crop_pct {block.get('crop_pct')}, crop_mode {block.get('crop_mode')}.")
    notes.append(f"{int(record.get('num_classes', 0))} classes in the publisher's classifier (not part of a backbone).")
    for key, label in _NOTE_FIELDS:
        if record.get(key):
            notes.append(f"{label}: {record[key]}.")
    return " ".join(notes)


def __getattr__(name: str) -> Callable[[], PretrainedWeights]:
    architecture, separator, tag = name.partition(SEPARATOR)
    if separator and architecture and tag and not name.startswith("_"):
        return entry_function(architecture, tag)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} (not a timm pretrained tag)")
