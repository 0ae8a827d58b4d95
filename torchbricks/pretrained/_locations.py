"""Where pretrained weights files live on disk: the cache, torch hub's checkpoints, mirror folders.

Each place is a folder searched by the entry's name and file name; nothing here reads a file.

- the cache: ``<platformdirs user cache>/torchbricks/weights/<name>/<file>`` (``TORCHBRICKS_CACHE_DIR``
  replaces ``<platformdirs user cache>/torchbricks``);
- torch hub's checkpoints: ``<torch.hub.get_dir()>/checkpoints/<file>``, where torchvision downloads to;
- mirror folders (``TORCHBRICKS_WEIGHTS_MIRROR``, ``os.pathsep``-separated): ``<folder>/<name>/<file>``
  (what ``torchbricks weights mirror`` writes, also the cache's layout) or ``<folder>/<file>``.

Example:
    >>> from torchbricks.pretrained._spec import PretrainedWeights
    >>> weights = PretrainedWeights(brick="tiny", tag="demo", sha256="0" * 64)
    >>> cached_path(weights).relative_to(cache_dir()).as_posix()
    'tiny.demo/tiny.demo.safetensors'
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from torchbricks._environment import CACHE_DIR, OFFLINE, WEIGHTS_MIRROR, flag
from torchbricks.pretrained._spec import PretrainedWeights

HF_HUB_OFFLINE = "HF_HUB_OFFLINE"
"""huggingface_hub's own offline switch: Hub entries use only the Hugging Face cache."""


def cache_dir() -> Path:
    """The folder pretrained weights are downloaded to: ``$TORCHBRICKS_CACHE_DIR/weights``, else the system's
    user cache folder (``platformdirs``) ``torchbricks/weights``."""
    explicit = os.environ.get(CACHE_DIR)
    if explicit:
        return Path(explicit).expanduser() / "weights"
    import platformdirs

    return Path(platformdirs.user_cache_dir("torchbricks", appauthor=False)) / "weights"


def cached_path(weights: PretrainedWeights) -> Path:
    """Where ``weights`` are (or will be) in the cache: ``<cache_dir()>/<name>/<file_name>``."""
    return cache_dir() / weights.name / weights.file_name


def torch_hub_path(weights: PretrainedWeights) -> Path | None:
    """``<torch hub dir>/checkpoints/<file_name>`` for weights with URLs (what torchvision downloads), else ``None``.

    The hub folder is ``torch.hub.get_dir()`` when torch is imported (so ``torch.hub.set_dir`` counts),
    else the same rule read from ``TORCH_HOME`` / ``XDG_CACHE_HOME`` without importing torch.
    """
    if not weights.urls:
        return None
    torch = sys.modules.get("torch")
    hub = getattr(torch, "hub", None) if torch is not None else None
    if hub is not None:
        folder = Path(hub.get_dir())
    else:
        default_home = os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
        folder = Path(os.path.expanduser(os.environ.get("TORCH_HOME", default_home))) / "hub"
    return folder / "checkpoints" / weights.file_name


def mirror_folders() -> list[Path]:
    """The folders named by ``TORCHBRICKS_WEIGHTS_MIRROR`` (``os.pathsep``-separated), in order."""
    value = os.environ.get(WEIGHTS_MIRROR, "")
    return [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]


def mirror_paths(weights: PretrainedWeights, folder: Path) -> list[Path]:
    """The files a mirror folder may hold ``weights`` as: ``<folder>/<name>/<file>``, then ``<folder>/<file>``."""
    return [folder / weights.name / weights.file_name, folder / weights.file_name]


def offline() -> bool:
    """``TORCHBRICKS_OFFLINE`` is set to a true value: no download is tried, no socket opened."""
    return flag(OFFLINE)


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` (as huggingface_hub read it when imported, else the environment) or ``offline()``."""
    hub = sys.modules.get("huggingface_hub.constants")
    hub_flag = bool(getattr(hub, "HF_HUB_OFFLINE", False)) if hub is not None else flag(HF_HUB_OFFLINE)
    return hub_flag or offline()
