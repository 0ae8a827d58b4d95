"""Start a new model from the bricks of a saved model folder: ``weights: {from: run/model, bricks: [backbone]}``.

The model-level ``weights`` key of a config names a folder written by ``save_model`` (a train run's
``model/``, the demo's) and, optionally, which bricks to take: brick paths or their first part
(``backbone``, ``neck``, a task name such as ``shapes``; default: every brick). After the new model is
assembled, each selected brick whose saved tensors fit it (same names and shapes) starts from them;
the others keep their fresh initialisation. The :class:`StartReport` says what was **taken**, what is
**new** (not selected, or no file in the folder) and what **did not fit** (the brick and the
tensors), and which saved bricks the new model has no place for; bricks that did not fit also warn
(:class:`~torchbricks.errors.BrickWeightsWarning`). This is how the demo model is fine-tuned to a new
task: take its backbone (and neck), give it new tasks.

Example:
    >>> import tempfile
    >>> from torchbricks import build_model, save_model
    >>> tasks = {"kind": {"task": "image_classification", "num_classes": 2}}
    >>> folder = save_model(build_model({"backbone": {"name": "resnet18", "levels": [5]}, "tasks": tasks}),
    ...                     tempfile.mkdtemp() + "/model")
    >>> config = {"backbone": {"name": "resnet18", "levels": [5]},
    ...           "tasks": {"other": {"task": "image_classification", "num_classes": 5}},
    ...           "weights": {"from": str(folder), "bricks": ["backbone"]}}
    >>> report = build_model(config).start_report
    >>> report.taken, report.new
    (('backbone',), ('other/head',))
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from torchbricks.assembly._checksums import file_sha256
from torchbricks.errors import BrickWeightsWarning, WeightsMismatchError
from torchbricks.names import PATH_SEPARATOR
from torchbricks.suggestions import did_you_mean

FROM_KEY, BRICKS_KEY = "from", "bricks"
WEIGHTS_FOLDER = "weights"
_LOGGER = logging.getLogger("torchbricks.assembly")


@dataclass(frozen=True)
class StartReport:
    """What a new model took from a saved model folder (brick paths, in the new model's order).

    ``build_model`` with ``weights: {from: FOLDER, bricks: [...]}`` puts it on the model as ``start_report``.

    Example:
        >>> report = StartReport(Path("run/model"), taken=("backbone",), new=("count",))
        >>> print(report.summary())
        Started from 'run/model': took 1 brick(s): backbone
          new (fresh weights): count
    """

    source: Path
    taken: tuple[str, ...] = ()
    new: tuple[str, ...] = ()
    did_not_fit: Mapping[str, str] = field(default_factory=dict)
    """Brick path → why its saved tensors were not used (missing/unexpected keys, other shapes)."""
    unused: tuple[str, ...] = ()
    """Selected bricks saved in the folder that the new model has no brick for."""
    sha256: Mapping[str, str] = field(default_factory=dict)
    """Brick path → the sha256 of the file each taken brick was read from."""

    def summary(self) -> str:
        """A few lines for a log or a terminal."""
        lines = [f"Started from '{self.source}': took {len(self.taken)} brick(s): {', '.join(self.taken) or '-'}"]
        lines.append(f"  new (fresh weights): {', '.join(self.new) or '-'}")
        lines.extend(f"  did not fit, fresh weights: {path}: {why}" for path, why in self.did_not_fit.items())
        if self.unused:
            lines.append(f"  saved but not in the new model: {', '.join(self.unused)}")
        return "\n".join(lines)


def check_start_from(value: Any, roots: list[str], problems: list[str]) -> None:
    """Problems of a config's ``weights: {from: ..., bricks: [...]}`` (``roots``: the model's top-level bricks)."""
    if value is None:
        return
    if not isinstance(value, Mapping) or not isinstance(value.get(FROM_KEY), str):
        problems.append(
            f"weights: must be {{from: <saved model folder>, bricks: [backbone, ...]}} (bricks optional), got {value!r}"
        )
        return
    for key in value:
        if key not in (FROM_KEY, BRICKS_KEY):
            problems.append(f"weights.{key}: unknown key.{did_you_mean(str(key), [FROM_KEY, BRICKS_KEY])}")
    folder = Path(value[FROM_KEY])
    if not (folder / "config.json").is_file() or not (folder / WEIGHTS_FOLDER).is_dir():
        problems.append(f"weights.from: '{folder}' is not a saved model folder (config.json and {WEIGHTS_FOLDER}/)")
    bricks = value.get(BRICKS_KEY)
    if bricks is None:
        return
    if not isinstance(bricks, list) or not bricks or not all(isinstance(brick, str) for brick in bricks):
        problems.append(f"weights.bricks: must be a non-empty list of brick paths (e.g. [backbone]), got {bricks!r}")
        return
    for brick in bricks:
        root = brick.split(PATH_SEPARATOR, 1)[0]
        if root not in roots:
            problems.append(f"weights.bricks: '{brick}' is no brick of the new model.{did_you_mean(root, roots)}")


def start_from_folder(model: Any, value: Mapping[str, Any]) -> StartReport:
    """Load the selected bricks of the saved folder ``value["from"]`` that fit ``model``; report what happened.

    Every file is read and checked before any weight changes. Raises
    :class:`~torchbricks.errors.WeightsMismatchError` when ``bricks`` were named and none of them could be
    taken (nothing would start from the folder).
    """
    from torchbricks.weights import LEGACY_WEIGHTS_SUFFIX, WEIGHTS_SUFFIX, _check_fits, _read_weights, _weight_file

    folder = Path(value[FROM_KEY])
    weights_folder = folder / WEIGHTS_FOLDER
    selected = value.get(BRICKS_KEY)
    taken: dict[str, tuple[Any, dict[str, torch.Tensor], str]] = {}
    new: list[str] = []
    did_not_fit: dict[str, str] = {}
    seen: set[str] = set()
    for path, brick in model.named_bricks():
        if not brick.state_dict():
            continue
        seen.add(path)
        file = _weight_file(weights_folder, path)
        if not _is_selected(path, selected) or file.suffix == LEGACY_WEIGHTS_SUFFIX or not file.is_file():
            new.append(path)
            continue
        loaded = _read_weights(file, path)
        try:
            _check_fits(loaded, brick.state_dict(), path, file)
        except WeightsMismatchError as error:
            did_not_fit[path] = _first_problems(str(error).split(": ", 1)[-1])
            continue
        taken[path] = (brick, loaded, file_sha256(file))
    unused = tuple(
        path
        for path in (_brick_path(file, weights_folder) for file in sorted(weights_folder.rglob(f"*{WEIGHTS_SUFFIX}")))
        if path not in seen and _is_selected(path, selected)
    )
    if selected and not taken:
        raise WeightsMismatchError(
            f"Nothing of the saved model '{folder}' fits the new model's bricks {selected}: "
            + ("; ".join(f"{path}: {why}" for path, why in did_not_fit.items()) or "no saved brick has their names")
        )
    for brick, loaded, _ in taken.values():
        brick.load_state_dict(loaded, strict=True)
    report = StartReport(
        source=folder,
        taken=tuple(taken),
        new=tuple(new),
        did_not_fit=did_not_fit,
        unused=unused,
        sha256={path: digest for path, (_, _, digest) in taken.items()},
    )
    if did_not_fit:
        warnings.warn(
            f"Bricks saved in '{folder}' that do not fit the new model start from fresh weights: "
            + "; ".join(f"{path}: {why}" for path, why in did_not_fit.items()),
            BrickWeightsWarning,
            stacklevel=3,
        )
    _LOGGER.info(report.summary())
    return report


def start_provenance(report: StartReport) -> dict[str, dict[str, str]]:
    """``config["pretrained"]`` entries of the bricks taken: the file each was read from and its sha256."""
    return {
        path: {"name": str(report.source / WEIGHTS_FOLDER / f"{path}.safetensors"), "sha256": digest}
        for path, digest in report.sha256.items()
    }


def _first_problems(problems: str, shown: int = 3) -> str:
    """The first few of ``_check_fits``'s ``; ``-separated problems, and how many more there are."""
    parts = problems.split("; ")
    return "; ".join(parts[:shown]) + (f"; and {len(parts) - shown} more" if len(parts) > shown else "")


def _is_selected(path: str, selected: list[str] | None) -> bool:
    return selected is None or any(path == brick or path.startswith(brick + PATH_SEPARATOR) for brick in selected)


def _brick_path(file: Path, folder: Path) -> str:
    return file.relative_to(folder).as_posix().removesuffix(".safetensors")
