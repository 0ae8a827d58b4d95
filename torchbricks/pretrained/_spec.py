"""What a pretrained-weights entry says: the brick it fits, where the file comes from, how to check and read it.

A pack registers entries in the ``weights`` registry kind (entry-point group ``torchbricks.weights``, or
``registrar.add("weights", ...)`` from its hook); each entry point names a function without arguments
that returns a :class:`PretrainedWeights`. Names are ``<brick>.<tag>`` (``resnet50.imagenet1k_v2``),
timm's shape; ``<brick>.default`` means the entry of that brick with ``default=True``.

Example:
    >>> weights = PretrainedWeights(
    ...     brick="resnet18", tag="imagenet1k_v1", sha256="f37072fd",
    ...     sha256_is_prefix=True,
    ...     urls=("https://download.pytorch.org/models/resnet18-f37072fd.pth",),
    ...     format="state_dict", license="BSD-3-Clause", dataset="imagenet-1k",
    ...     preprocessing=Preprocessing(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
    ...                                 input_size=(224, 224), resize_size=256),
    ... )
    >>> weights.name, weights.file_name
    ('resnet18.imagenet1k_v1', 'resnet18-f37072fd.pth')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from torchbricks.errors import InvalidWeightsEntryError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_PACKAGE_FILE = re.compile(r"^[A-Za-z_][\w.]*:(?!/)[^\\:]+$")
_MIN_PREFIX = 8
"""The shortest sha256 prefix an entry may give (torch.hub's file names carry 8 digits)."""

HUB_PUBLISHED_SHA256 = ""
"""The ``sha256`` of a Hub entry whose upstream publishes none (timm's Hub files): the Hugging Face Hub
publishes it, as the LFS oid of the file, and it is looked up when the file is fetched."""

WeightsFormat = Literal["safetensors", "state_dict"]
"""``safetensors``, or a ``torch.save``'d state dict read with ``torch.load(weights_only=True)``."""


@dataclass(frozen=True)
class Preprocessing:
    """How images were prepared when the weights were trained (becomes the model's preprocessor).

    ``input_size`` is ``(height, width)``; ``resize_size`` the shorter side before the centre crop
    (``None``: resize straight to ``input_size``); values are for images scaled to ``[0, 1]``.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: tuple[int, int]
    resize_size: int | None = None
    interpolation: str = "bilinear"


@dataclass(frozen=True)
class HubFile:
    """A file on the Hugging Face Hub, fetched with ``huggingface_hub`` (its cache, its ``HF_HUB_OFFLINE``)."""

    repo_id: str
    filename: str
    revision: str = "main"


@dataclass(frozen=True)
class ReportedMetric:
    """A figure the weights' publisher reports: ``{dataset, split, metric: value}``."""

    dataset: str
    split: str
    metric: str
    value: float


@dataclass(frozen=True)
class PretrainedWeights:
    """One pretrained weights file for one brick, with everything needed to fetch, check and use it.

    Args:
        brick: the registered name of the brick the weights fit (``resnet50``; qualified if ambiguous).
        tag: the weights' tag (``imagenet1k_v2``); the entry's name is ``<brick>.<tag>``.
        kind: the brick's registry kind.
        arguments: arguments the brick must be created with for the weights to fit.
        sha256: the file's sha256 in hex, or its first characters where ``sha256_is_prefix``; ``""``
            (:data:`HUB_PUBLISHED_SHA256`) for a ``hub`` file whose upstream records none: the Hugging Face
            Hub publishes it (the LFS oid), and it is looked up when the file is fetched
            (:attr:`sha256_from_hub`).
        sha256_is_prefix: the upstream publishes only a prefix (torch.hub's file-name convention);
            that prefix is what is checked, and ``weights info`` says so.
        size: the file's size in bytes, where known (checked when given).
        urls: download addresses, tried in order.
        hub: a Hugging Face Hub file, tried after ``urls``.
        package_file: a file shipped inside a package, ``"package:relative/path"``.
        format: the file's format.
        key_mapping: ``(old_prefix, new_prefix)`` pairs applied in order to the file's keys (the first
            that matches wins); ``new_prefix`` ``None`` drops the key (a classifier the brick lacks).
        license: the weights' license (SPDX id where there is one).
        dataset: the training dataset.
        metrics: the figures the publisher reports.
        preprocessing: the preprocessing the weights expect.
        class_names: the classes of the publisher's classifier, where a head may reuse them.
        default: the brick's default weights (``<brick>.default``); one per brick.
        summary: one line for listings.
        source_notes: free text shown by ``weights info`` (where the entry was taken from).
    """

    brick: str
    tag: str
    sha256: str
    kind: str = "backbones"
    arguments: Mapping[str, Any] = field(default_factory=dict)
    sha256_is_prefix: bool = False
    size: int | None = None
    urls: tuple[str, ...] = ()
    hub: HubFile | None = None
    package_file: str | None = None
    format: WeightsFormat = "safetensors"
    key_mapping: tuple[tuple[str, str | None], ...] = ()
    license: str = "unknown"
    dataset: str = "unknown"
    metrics: tuple[ReportedMetric, ...] = ()
    preprocessing: Preprocessing | None = None
    class_names: tuple[str, ...] | None = None
    default: bool = False
    summary: str = ""
    source_notes: str = ""

    def __post_init__(self) -> None:
        """Lists become tuples; an invalid field raises :class:`InvalidWeightsEntryError` naming it."""
        what = f"Pretrained weights '{self.brick}.{self.tag}'"
        for name in ("brick", "tag"):
            value = getattr(self, name)
            bare = value.split(":")[-1] if name == "brick" and isinstance(value, str) else value
            if not isinstance(bare, str) or not _SAFE_NAME.match(bare) or ".." in bare:
                raise InvalidWeightsEntryError(
                    f"{what}: invalid {name} {value!r} (letters, digits, '_', '-', '+' and single dots)"
                )
        sha256 = self.sha256
        if sha256 == "" and isinstance(self.hub, HubFile) and not self.sha256_is_prefix:
            sha256 = HUB_PUBLISHED_SHA256  # the Hub's own hash, looked up when the file is fetched
        elif not isinstance(sha256, str) or not _HEX.match(sha256) or len(sha256) > 64:
            raise InvalidWeightsEntryError(
                f'{what}: invalid sha256 {sha256!r} (hexadecimal digits; "" only for a hub file, whose sha256 '
                f"the Hugging Face Hub publishes)"
            )
        elif len(sha256) < (_MIN_PREFIX if self.sha256_is_prefix else 64):
            needed = (
                f"at least {_MIN_PREFIX} digits" if self.sha256_is_prefix else "64 digits (or sha256_is_prefix=True)"
            )
            raise InvalidWeightsEntryError(f"{what}: sha256 {sha256!r} is too short: {needed}")
        object.__setattr__(self, "sha256", sha256.lower())
        if self.size is not None and (isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0):
            raise InvalidWeightsEntryError(f"{what}: invalid size {self.size!r} (bytes, an integer >= 0, or None)")
        if self.format not in ("safetensors", "state_dict"):
            raise InvalidWeightsEntryError(f"{what}: invalid format {self.format!r} ('safetensors' or 'state_dict')")
        urls = (self.urls,) if isinstance(self.urls, str) else tuple(self.urls)
        if not all(isinstance(url, str) and url.startswith(("https://", "http://")) for url in urls):
            raise InvalidWeightsEntryError(f"{what}: invalid urls {urls!r} (http:// or https:// addresses)")
        object.__setattr__(self, "urls", urls)
        if self.hub is not None and not isinstance(self.hub, HubFile):
            raise InvalidWeightsEntryError(f"{what}: invalid hub {self.hub!r} (a HubFile or None)")
        if self.package_file is not None and (
            not isinstance(self.package_file, str) or not _PACKAGE_FILE.match(self.package_file)
        ):
            raise InvalidWeightsEntryError(
                f"{what}: invalid package_file {self.package_file!r} ('package:relative/path')"
            )
        mapping = tuple(tuple(pair) for pair in self.key_mapping)
        if not all(
            len(pair) == 2 and isinstance(pair[0], str) and (pair[1] is None or isinstance(pair[1], str))
            for pair in mapping
        ):
            raise InvalidWeightsEntryError(
                f"{what}: invalid key_mapping {self.key_mapping!r} ((old_prefix, new_prefix or None) pairs)"
            )
        object.__setattr__(self, "key_mapping", mapping)
        object.__setattr__(self, "metrics", tuple(self.metrics))
        if self.class_names is not None:
            object.__setattr__(self, "class_names", tuple(self.class_names))
        file_name = self.file_name
        if not file_name or file_name in (".", "..") or any(character in file_name for character in "\\/\0:"):
            raise InvalidWeightsEntryError(f"{what}: its file name {file_name!r} cannot be a file in a folder")

    @property
    def sha256_from_hub(self) -> bool:
        """The entry records no sha256: the Hub's (the file's LFS oid) is looked up at fetch time and checked."""
        return self.sha256 == HUB_PUBLISHED_SHA256 and self.hub is not None

    @property
    def name(self) -> str:
        """``<brick>.<tag>``, the entry's registered name."""
        return f"{self.brick.split(':')[-1]}.{self.tag}"

    @property
    def file_name(self) -> str:
        """The file's name in the cache and in mirror folders (the last part of its first source)."""
        if self.urls:
            return self.urls[0].rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
        if self.hub is not None:
            return self.hub.filename.rsplit("/", 1)[-1]
        if self.package_file is not None:
            return self.package_file.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        suffix = ".safetensors" if self.format == "safetensors" else ".pth"
        return f"{self.name}{suffix}"
