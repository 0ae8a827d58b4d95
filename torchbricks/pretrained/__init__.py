"""Pretrained weights: registered entries, a verified download cache, mirror folders for offline sites.

A pack registers entries in the registry kind ``weights`` (entry-point group ``torchbricks.weights``);
each describes one file for one brick (:class:`PretrainedWeights`: sources, sha256, format, key mapping,
license, dataset, metrics, preprocessing, class names). :func:`fetch_weights` finds a verified local
file, looking in this order and using the network only when needed: an explicit file, a file shipped in
a package, the cache (:func:`cache_dir`, ``TORCHBRICKS_CACHE_DIR``), torch hub's checkpoints folder
(files torchvision downloaded), the Hugging Face cache, mirror folders (``TORCHBRICKS_WEIGHTS_MIRROR``),
then the entry's URLs and Hugging Face Hub file, unless ``TORCHBRICKS_OFFLINE=1``. Importing this
package imports neither torch nor huggingface_hub.

Example:
    >>> import hashlib, os, tempfile
    >>> from pathlib import Path
    >>> import torch
    >>> from safetensors.torch import save_file
    >>> from torchbricks import registry
    >>> mirror = Path(tempfile.mkdtemp())
    >>> save_file({"linear.weight": torch.ones(2, 2)}, mirror / "tiny-demo.safetensors")
    >>> digest = hashlib.sha256((mirror / "tiny-demo.safetensors").read_bytes()).hexdigest()
    >>> weights = PretrainedWeights(brick="tiny", tag="demo", sha256=digest,
    ...                             urls=("https://example.com/tiny-demo.safetensors",),
    ...                             key_mapping=(("linear.", "proj."),))
    >>> _ = registry.register("weights", weights.name, lambda: weights)
    >>> os.environ["TORCHBRICKS_WEIGHTS_MIRROR"] = str(mirror)
    >>> path = fetch_weights("tiny.demo")
    >>> path.parent == mirror, list(read_state_dict(weights, path))
    (True, ['proj.weight'])
    >>> del os.environ["TORCHBRICKS_WEIGHTS_MIRROR"]
    >>> registry.unregister("weights", weights.name)
"""

from __future__ import annotations

from torchbricks.pretrained._catalog import find_weights, list_weights
from torchbricks.pretrained._checks import FileCheck
from torchbricks.pretrained._describe import describe_weights, registered_weights
from torchbricks.pretrained._fetch import cached_file, fetch_weights, mirror_weights, verify_cached
from torchbricks.pretrained._locations import cache_dir, cached_path, mirror_folders
from torchbricks.pretrained._read import map_keys, read_state_dict
from torchbricks.pretrained._spec import HubFile, Preprocessing, PretrainedWeights, ReportedMetric, WeightsFormat

__all__ = [
    "FileCheck",
    "HubFile",
    "Preprocessing",
    "PretrainedWeights",
    "ReportedMetric",
    "WeightsFormat",
    "cache_dir",
    "cached_file",
    "cached_path",
    "describe_weights",
    "fetch_weights",
    "find_weights",
    "list_weights",
    "map_keys",
    "mirror_folders",
    "mirror_weights",
    "read_state_dict",
    "registered_weights",
    "verify_cached",
]
