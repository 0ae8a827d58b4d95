"""The expected sha256 of a Hub entry that records none (``sha256=""``): the Hub publishes it, as the LFS oid.

Looked up when the file is fetched, never when the entry is built (listing needs neither network nor cache),
from the first of:

1. the Hugging Face cache: huggingface_hub names an LFS file's blob after its etag, the file's sha256
   (``models--org--name/blobs/<sha256>``, linked from ``snapshots/<commit>/<file>``). A small file kept in
   git has a blob named by its git sha1 (40 hex digits), which is not a sha256 and is not used;
2. a mirror folder's ``<file>.sha256`` beside the file (written by ``torchbricks weights mirror``): a mirror
   folder is trusted as the user's own carry;
3. the Hub itself, unless ``TORCHBRICKS_OFFLINE`` or ``HF_HUB_OFFLINE``: one HEAD request
   (``get_hf_file_metadata``), whose etag is the sha256 of an LFS file.

Local sources come first, so a file already on disk is used without a socket. The file is then hashed in full
and compared with it as for any entry.

Example:
    >>> from torchbricks.pretrained._spec import HubFile, PretrainedWeights
    >>> weights = PretrainedWeights(brick="tiny", tag="hubbed", sha256="", hub=HubFile("org/tiny", "model.safetensors"))
    >>> weights.sha256_from_hub, is_sha256("ab" * 32), is_sha256("ab" * 20)
    (True, True, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from torchbricks._environment import OFFLINE, WEIGHTS_MIRROR
from torchbricks.pretrained import _hub
from torchbricks.pretrained._checks import is_regular_file
from torchbricks.pretrained._locations import HF_HUB_OFFLINE, hub_offline, mirror_folders, mirror_paths, offline
from torchbricks.pretrained._sidecar import SUFFIX, read_sidecar
from torchbricks.pretrained._spec import HubFile, PretrainedWeights

_SHA256 = re.compile(r"[0-9a-f]{64}")
_GIT_SHA1 = re.compile(r"[0-9a-f]{40}")


def is_sha256(text: str) -> bool:
    """Whether ``text`` is a whole sha256 in lowercase hex."""
    return _SHA256.fullmatch(text) is not None


@dataclass
class HubSha256:
    """The outcome of the look-up: the sha256 and where it came from, or the places looked in and what failed."""

    sha256: str | None = None
    origin: str = ""
    size: int | None = None
    looked: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def where(hub: HubFile) -> str:
    """``org/name/file@revision``, how messages name a Hub file."""
    return f"{hub.repo_id}/{hub.filename}@{hub.revision}"


def cached_blob_sha256(hub: HubFile) -> tuple[Path | None, str | None, str]:
    """``(cached file, sha256, problem)`` from the Hugging Face cache, without a socket.

    ``cached file`` is ``None`` when the file is not cached (or huggingface_hub is not installed); ``sha256``
    is its blob's name when that is a sha256, else ``None`` and ``problem`` says why it cannot be one.
    """
    cached = _hub.hub_cached(hub)
    if cached is None:
        return None, None, ""
    name = _hub.blob_name(cached).lower()
    if is_sha256(name):
        return cached, name, ""
    if _GIT_SHA1.fullmatch(name):
        return cached, None, f"its blob {name} is named by a git sha1 (a file kept in git, not LFS), not a sha256"
    return cached, None, f"it is not linked to a blob named by its sha256 ({name})"


def resolve_hub_sha256(weights: PretrainedWeights) -> HubSha256:
    """The sha256 the Hub publishes for ``weights.hub``'s file (see the module docstring)."""
    assert weights.hub is not None
    hub = weights.hub
    result = HubSha256()
    if _hub.hub_installed():
        cached, sha256, problem = cached_blob_sha256(hub)
        if sha256 is not None:
            result.sha256, result.origin = sha256, f"the name of its blob in the Hugging Face cache ({cached})"
            return result
        if cached is None:
            result.looked.append(f"the Hugging Face cache {_hub.hub_cache_folder()} ({where(hub)})")
        else:
            result.looked.append(f"the Hugging Face cache file {cached} ({problem})")
    else:
        result.looked.append(f"not the Hugging Face cache ({_hub.INSTALL_HINT} to use it)")
    if _from_mirrors(weights, result):
        return result
    _from_the_hub(weights, result)
    return result


def _from_mirrors(weights: PretrainedWeights, result: HubSha256) -> bool:
    folders = mirror_folders()
    if not folders:
        result.looked.append(f"no mirror folder ({WEIGHTS_MIRROR} is not set)")
    for folder in folders:
        for path in mirror_paths(weights, folder):
            if not is_regular_file(path):
                result.looked.append(f"the mirror folder file {path}")
                continue
            sha256 = read_sidecar(path)
            if sha256 is not None:
                result.sha256, result.origin = sha256, f"the mirror's {path.name}{SUFFIX} beside {path}"
                return True
            result.looked.append(
                f"the mirror folder file {path} (no {path.name}{SUFFIX} beside it to check it against)"
            )
    return False


def _from_the_hub(weights: PretrainedWeights, result: HubSha256) -> None:
    assert weights.hub is not None
    hub = weights.hub
    if offline() or hub_offline():
        setting = OFFLINE if offline() else HF_HUB_OFFLINE
        result.failures.append(
            f"the entry records no sha256 and {setting}=1 is set, so the Hugging Face Hub was not asked for the "
            f"sha256 of {where(hub)}"
        )
        return
    try:
        etag, size = _hub.published_sha256(hub, f"Pretrained weights '{weights.name}'")
    except (ImportError, KeyboardInterrupt):
        raise
    except Exception as error:  # huggingface_hub's errors: no connection, no such repository or file, ...
        message = " | ".join(line.strip() for line in str(error).splitlines() if line.strip())
        result.failures.append(
            f"asking the Hugging Face Hub for the sha256 of {where(hub)} failed: {type(error).__name__}: {message}"
        )
        return
    if not is_sha256(etag):
        result.failures.append(
            f"the Hugging Face Hub's etag of {where(hub)} is {etag or 'missing'}, not a sha256 (a file kept in git "
            f"rather than LFS has none), so there is nothing to check the file against"
        )
        return
    result.sha256, result.size, result.origin = etag, size, f"the Hugging Face Hub's etag of {where(hub)}"
