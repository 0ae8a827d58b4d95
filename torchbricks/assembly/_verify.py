"""Check a saved model folder: every file against ``checksums.sha256``, the model loads and runs, ONNX agrees.

What ``torchbricks verify MODEL`` runs. Each file that changed or is missing is named; files the checksums
do not cover (added after the save, like the ``model.onnx`` that ``predict --onnx`` keeps) are reported as
not covered — a failure only with ``strict``. Then the model is loaded, one forward runs on a random image
of the recorded size (the outputs must be finite), and each ``*.onnx`` file in the folder is run in
onnxruntime on the same image and compared with PyTorch.

Example:
    >>> import tempfile
    >>> from torchbricks import build_model, save_model
    >>> model = build_model({"backbone": {"name": "resnet18", "levels": [5]}, "input_shape": [3, 32, 32],
    ...                      "tasks": {"kind": {"task": "image_classification", "num_classes": 2}}})
    >>> folder = save_model(model, tempfile.mkdtemp() + "/model", card=False)
    >>> report = verify_model(folder)
    >>> report.ok, report.problems
    (True, [])
    >>> with open(folder / "weights" / "kind" / "head.safetensors", "r+b") as handle:
    ...     _ = handle.seek(-1, 2)
    ...     _ = handle.write(b"?")
    >>> verify_model(folder).problems[0]
    'weights/kind/head.safetensors: changed (its sha256 differs from checksums.sha256)'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from torchbricks.assembly._checksums import CHECKSUMS_FILE, compare_checksums
from torchbricks.errors import TorchBricksError

ONNX_TOLERANCE = 1e-3
"""The largest |onnxruntime − PyTorch| difference an output may have."""


@dataclass
class VerifyReport:
    """What :func:`verify_model` found: ``problems`` (each fails the check) and ``notes`` (what passed).

    Example:
        >>> report = verify_model("no/such/model")
        >>> report.ok, report.problems
        (False, ['no/such/model: no such folder'])
    """

    folder: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether nothing failed."""
        return not self.problems


def verify_model(folder: str | Path, strict: bool = False, onnx: bool = True) -> VerifyReport:
    """Re-hash every file, load the model, run one forward and compare ONNX files; see the module docstring."""
    folder = Path(folder)
    report = VerifyReport(folder)
    if not folder.is_dir():
        report.problems.append(f"{folder}: no such folder")
        return report
    _check_files(folder, strict, report)
    model = _load(folder, report)
    if model is None:
        return report
    example = _example_input(model.config)
    _check_forward(model, example, report)
    if onnx:
        for path in sorted(folder.glob("*.onnx")):
            _check_onnx(path, model, example, report)
    return report


def _check_files(folder: Path, strict: bool, report: VerifyReport) -> None:
    try:
        checked = compare_checksums(folder)
    except TorchBricksError as error:
        report.problems.append(f"{CHECKSUMS_FILE}: {error} (re-save the model to write it)")
        return
    report.problems += checked.problems(strict=strict)
    if not strict:
        report.notes += [
            f"{name}: not covered by {CHECKSUMS_FILE} (added after the save)" for name in checked.not_covered
        ]
    if checked.ok:
        report.notes.append(f"{checked.checked} files match {CHECKSUMS_FILE}")


def _load(folder: Path, report: VerifyReport) -> Any:
    from torchbricks.assembly._model_folder import load_model

    try:
        model = load_model(folder, verify=False)  # the files were hashed above
    except (TorchBricksError, OSError, ValueError, RuntimeError) as error:
        report.problems.append(f"load_model: {type(error).__name__}: {error}")
        return None
    report.notes.append("load_model: ok")
    return model


def _example_input(config: dict[str, Any]) -> dict[str, torch.Tensor]:
    contract = config.get("input") if isinstance(config.get("input"), dict) else {}
    shape = list(config.get("input_shape") or [3, 224, 224])
    size = contract.get("size") or shape[1:]
    channels = int(contract.get("channels", shape[0]))
    images = torch.rand(1, channels, int(size[0]), int(size[1]), generator=torch.Generator().manual_seed(0))
    return {config.get("image", "images"): images}


def _check_forward(model: Any, example: dict[str, torch.Tensor], report: VerifyReport) -> None:
    from torchbricks.groups import Stage

    shape = "×".join(str(size) for size in next(iter(example.values())).shape[1:])
    try:
        with torch.inference_mode():
            outputs = model(example, groups=Stage.INFERENCE)
    except Exception as error:
        report.problems.append(f"forward on a {shape} image: {type(error).__name__}: {error}")
        return
    bad = [
        name
        for name, value in outputs.items()
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all())
    ]
    if bad:
        report.problems.append(f"forward on a {shape} image: NaN or infinite values in {', '.join(sorted(bad))}")
    else:
        report.notes.append(f"forward on a {shape} image: ok ({len(outputs)} named outputs, all finite)")


def _check_onnx(path: Path, model: Any, example: dict[str, torch.Tensor], report: VerifyReport) -> None:
    from torchbricks.export import onnx_max_abs_differences

    try:
        differences = onnx_max_abs_differences(path, model, example)
    except Exception as error:
        report.problems.append(f"{path.name}: onnxruntime could not run it: {type(error).__name__}: {error}")
        return
    worst = max(differences.values(), default=0.0)
    off = sorted(name for name, value in differences.items() if not value <= ONNX_TOLERANCE or math.isnan(value))
    if off:
        report.problems.append(
            f"{path.name}: onnxruntime differs from PyTorch by up to {worst:.2e} (> {ONNX_TOLERANCE:g}) "
            f"in {', '.join(off)}; export it again"
        )
    else:
        report.notes.append(f"{path.name}: onnxruntime vs PyTorch max |difference| {worst:.2e}")
