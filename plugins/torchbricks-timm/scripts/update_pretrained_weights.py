"""Record timm's pretrained tags as torchbricks weights entries (maintenance script, run by hand).

Reads every pretrained tag of the installed timm (``timm.list_pretrained()``) whose architecture the
pack registers as a backbone (``torchbricks_timm/feature_support.json``) from timm's pretrained
configs, and writes ``torchbricks_timm/pretrained_weights.json``: per architecture its tags in timm's
order (timm's default tag first), each with its source (a Hugging Face Hub repository, or a URL where
timm has only that), license, number of classes, training dataset (timm's ImageNet subset, where timm
infers one) and an index into shared preprocessing blocks (mean, std, input size, resize, interpolation,
from timm's eval transform); the ImageNet-1k class names once. Nothing is downloaded: timm publishes no
hash for its Hub files, so none is recorded for them (see the pack's README).

Run it after upgrading timm, from the pack's folder, with timm installed (a few seconds)::

    python scripts/update_pretrained_weights.py
    python scripts/update_pretrained_weights.py --dry-run
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

PACK_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = PACK_ROOT / "torchbricks_timm" / "pretrained_weights.json"
FEATURE_SUPPORT = PACK_ROOT / "torchbricks_timm" / "feature_support.json"
DATA_FORMAT = 1
HUB_FILENAME = "model.safetensors"
"""timm loads ``model.safetensors`` from a Hub repository first (``pytorch_model.bin`` only when it is missing)."""
TIMM_HUB_ORGANIZATION = "timm/"
HASH_IN_FILE_NAME = re.compile(r"-([a-f0-9]{8,64})\.")
"""torch.hub's convention: ``<name>-<sha256 prefix>.<ext>`` (at least 8 hex digits, so ``-300e.`` is no hash)."""
IMAGENET_1K = "imagenet-1k"
SPDX_LICENSES = {
    "apache-2.0": "Apache-2.0",
    "mit": "MIT",
    "bsd-3-clause": "BSD-3-Clause",
    "cc-by-4.0": "CC-BY-4.0",
    "cc-by-nc-4.0": "CC-BY-NC-4.0",
}
"""timm's license names that are SPDX ids, spelled as SPDX does; timm's other names are kept as they are."""


def preprocessing_of(cfg: dict[str, Any]) -> dict[str, Any]:
    """timm's eval transform as torchbricks ``Preprocessing`` fields, with timm's own crop settings kept.

    ``center`` crops resize the shorter side to ``floor(size / crop_pct)`` and crop; ``squash`` and
    ``border`` (timm's other modes) are recorded as a resize straight to the input size (exact for
    ``squash`` at ``crop_pct`` 1, the usual case) and their timm settings are kept for the notes.
    """
    _, height, width = (int(value) for value in cfg["input_size"])
    crop_pct = float(cfg.get("crop_pct") or 0.875)
    crop_mode = cfg.get("crop_mode") or "center"
    resize_size = math.floor(min(height, width) / crop_pct) if crop_mode == "center" else None
    return {
        "mean": [float(value) for value in cfg["mean"]],
        "std": [float(value) for value in cfg["std"]],
        "input_size": [height, width],
        "resize_size": resize_size,
        "interpolation": cfg.get("interpolation") or "bilinear",
        "crop_pct": crop_pct,
        "crop_mode": crop_mode,
    }


def record_of(name: str, cfg: dict[str, Any], preprocessing: int, dataset: str | None) -> dict[str, Any]:
    """One tag's record: only what differs from the defaults is written (the file stays small)."""
    record: dict[str, Any] = {"tag": cfg["tag"], "preprocessing": preprocessing}
    hub_id = cfg.get("hf_hub_id")
    if hub_id:
        if hub_id != f"{TIMM_HUB_ORGANIZATION}{name}":
            record["hub"] = hub_id
        if cfg.get("hf_hub_filename"):
            record["hub_filename"] = cfg["hf_hub_filename"]
    else:
        record["url"] = cfg["url"]
        match = HASH_IN_FILE_NAME.search(cfg["url"].rsplit("/", 1)[-1])
        if match:
            record["sha256_prefix"] = match.group(1)
    record["num_classes"] = int(cfg.get("num_classes") or 0)
    license_name = cfg.get("license") or "unknown"
    record["license"] = SPDX_LICENSES.get(license_name, license_name)
    if dataset:
        record["dataset"] = dataset
    for key in ("origin_url", "paper_ids", "paper_name", "notes"):
        if cfg.get(key):
            record[key] = cfg[key] if isinstance(cfg[key], str) else ", ".join(map(str, cfg[key]))
    return record


def collect(architectures: set[str]) -> tuple[dict[str, list[dict[str, Any]]], list[dict[str, Any]], list[str]]:
    """Tags per architecture (timm's default first), the shared preprocessing blocks, and tags left out."""
    import timm
    from timm.data import infer_imagenet_subset
    from timm.models import get_arch_pretrained_cfgs, get_pretrained_cfg

    pretrained = set(timm.list_pretrained())
    blocks: list[dict[str, Any]] = []
    block_index: dict[str, int] = {}
    tables: dict[str, list[dict[str, Any]]] = {}
    for architecture in sorted(architectures):
        records = []
        for name, cfg_object in get_arch_pretrained_cfgs(architecture).items():
            if name not in pretrained:
                continue  # a tag without weights (timm lists it, but has nothing to load)
            cfg = cfg_object.to_dict()
            block = preprocessing_of(cfg)
            key = json.dumps(block, sort_keys=True)
            if key not in block_index:
                block_index[key] = len(blocks)
                blocks.append(block)
            records.append(record_of(name, cfg, block_index[key], infer_imagenet_subset(cfg)))
        if records:
            default = get_pretrained_cfg(architecture)
            if default is None or records[0]["tag"] != default.tag:
                raise SystemExit(f"{architecture}: timm's default tag is not its first tag with weights")
            tables[architecture] = records
    left_out = sorted(name for name in pretrained if name.split(".", 1)[0] not in tables)
    return tables, blocks, left_out


def imagenet_1k_class_names() -> list[str]:
    """ImageNet-1k class names in timm's class order: the first lemma of each synset (``tench``)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo(IMAGENET_1K)
    return [info.index_to_description(index).split(",")[0].strip() for index in range(info.num_classes())]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="data file to write")
    parser.add_argument("--dry-run", action="store_true", help="print the counts, write nothing")
    arguments = parser.parse_args(argv)

    import timm

    support = json.loads(FEATURE_SUPPORT.read_text(encoding="utf-8"))
    if support["timm_version"] != timm.__version__:
        print(
            f"warning: feature_support.json records timm {support['timm_version']}, timm {timm.__version__} is "
            "installed: run scripts/update_feature_support.py first",
            flush=True,
        )
    architectures = {*support["architectures"], *support.get("unchecked", {})}
    tables, blocks, left_out = collect(architectures)
    tags = sum(len(records) for records in tables.values())
    print(
        f"timm {timm.__version__}: {tags} pretrained tags of {len(tables)} architectures, "
        f"{len(blocks)} preprocessing blocks; {len(left_out)} tags of architectures the pack does not list",
        flush=True,
    )
    for name in left_out[:20]:
        print(f"  left out {name}")
    if arguments.dry_run:
        return 0
    data = {
        "format": DATA_FORMAT,
        "timm_version": timm.__version__,
        "generated_by": "scripts/update_pretrained_weights.py",
        "hub_organization": TIMM_HUB_ORGANIZATION,
        "hub_filename": HUB_FILENAME,
        "class_names": {IMAGENET_1K: imagenet_1k_class_names()},
        "preprocessing": blocks,
        "architectures": tables,
    }
    text = _format(data)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from update_feature_support import _write_atomically  # the sibling script: temporary file, then rename

    _write_atomically(arguments.output, text)
    print(f"wrote {arguments.output} ({len(text.encode()) / 1024:.0f} KiB)")
    return 0


def _format(data: dict[str, Any]) -> str:
    """JSON with one architecture (or preprocessing block) per line (small, diff-friendly)."""
    lines = ["{"]
    items = list(data.items())
    for position, (key, value) in enumerate(items):
        comma = "," if position < len(items) - 1 else ""
        if isinstance(value, (dict, list)) and value and key != "class_names":
            opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
            lines.append(f"  {json.dumps(key)}: {opening}")
            entries = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
            for inner, (name, record) in enumerate(entries):
                inner_comma = "," if inner < len(entries) - 1 else ""
                prefix = f"{json.dumps(name)}: " if isinstance(value, dict) else ""
                lines.append(f"    {prefix}{json.dumps(record, separators=(',', ':'))}{inner_comma}")
            lines.append(f"  {closing}{comma}")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, separators=(',', ':'))}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
