"""Weights on the Hugging Face Hub, through ``huggingface_hub`` (imported only here, only when needed).

Its cache is used as it lays it out (``models--org--name/snapshots/<commit>/<file>``, ``refs/<revision>``;
``HF_HOME`` / ``HF_HUB_CACHE`` move it), so a file timm or transformers downloaded is found without a
second download. Looking in the cache never opens a socket; downloading, and asking the Hub for a file's
sha256 (:func:`published_sha256`, one HEAD request), honour ``HF_HUB_OFFLINE``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torchbricks.errors import MissingDependencyError
from torchbricks.pretrained._spec import HubFile

INSTALL_HINT = 'pip install "torchbricks[hub]"'


def hub_module(what: str) -> Any:
    """``huggingface_hub``, or :class:`MissingDependencyError` saying what needs it and how to install it."""
    try:
        import huggingface_hub
    except ImportError as error:
        raise MissingDependencyError(
            f"{what} come from the Hugging Face Hub, which needs the module 'huggingface_hub'; "
            f"install it with: {INSTALL_HINT}"
        ) from error
    return huggingface_hub


def hub_installed() -> bool:
    """Whether ``huggingface_hub`` can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("huggingface_hub") is not None


def hub_cache_folder() -> str:
    """The Hugging Face cache folder huggingface_hub uses (imports it)."""
    return str(hub_module("Hub weights").constants.HF_HUB_CACHE)


def hub_cached(hub: HubFile) -> Path | None:
    """The file in the Hugging Face cache (no network), or ``None`` when it is not there or huggingface_hub is
    not installed."""
    if not hub_installed():
        return None
    huggingface_hub = hub_module("Hub weights")
    found = huggingface_hub.try_to_load_from_cache(hub.repo_id, hub.filename, revision=hub.revision)
    return Path(found) if isinstance(found, str) else None


def hub_download(hub: HubFile, what: str, *, progress: bool) -> Path:
    """``hf_hub_download`` of the file (its cache first); errors become one line naming the repository."""
    huggingface_hub = hub_module(what)
    utils = huggingface_hub.utils
    were_disabled = utils.are_progress_bars_disabled()
    if not progress:
        utils.disable_progress_bars()
    try:
        return Path(huggingface_hub.hf_hub_download(hub.repo_id, hub.filename, revision=hub.revision))
    finally:
        if not progress and not were_disabled:
            utils.enable_progress_bars()


def blob_name(cached: Path) -> str:
    """The name of the blob a Hugging Face cache snapshot file links to (``snapshots/<commit>/<file>`` →
    ``../../blobs/<name>``): the file's etag, which is its sha256 for an LFS file and a git sha1 (40 hex
    digits) for a small file kept in git. A cache without links (copied files) gives the file's own name."""
    return Path(os.path.realpath(cached)).name


def published_sha256(hub: HubFile, what: str) -> tuple[str, int | None]:
    """``(etag, size)`` the Hub announces for the file: one HEAD request (``get_hf_file_metadata``), no download.

    The etag of an LFS file is its sha256 (the LFS oid); a file kept in git has its git sha1 instead.
    huggingface_hub's errors (no connection, no such repository or file) pass through.
    """
    huggingface_hub = hub_module(what)
    url = huggingface_hub.hf_hub_url(hub.repo_id, hub.filename, revision=hub.revision)
    metadata = huggingface_hub.get_hf_file_metadata(url)
    return str(metadata.etag or "").strip('"').lower(), metadata.size
