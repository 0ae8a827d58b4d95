"""``evaluate``: a model's metric bricks over labelled datasets, as a train run's validation computes them.

The datasets are batched as in training (:func:`~torchbricks.training.combine`, the same placeholders and
``labelled`` masks), the model runs its ``VALIDATION`` groups, and the metrics are summarised, flattened and
rounded by the train run's own functions, so ``metrics.json`` has the train run's format and keys — and, on
the train run's validation data, its values. Per task, the accumulators of
:mod:`torchbricks.evaluation._analysis` add per-class tables, confusion matrices and precision-recall curves.

Output folder::

    metrics.json            {"task": {"metric": value}}, as a train run writes it
    evaluation.json         the data, the number of samples, and per task its kind and per-class table
    <task>/confusion_matrix.json, .png   classification and segmentation
    <task>/label_counts.json, .png       multi-label classification (a 2 × 2 matrix per label)
    <task>/pr_curve.json, .png           point and box detection
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from torchbricks._files import atomic_write_bytes
from torchbricks.errors import DatasetConfigError
from torchbricks.evaluation._analysis import task_analysis

PICTURES = {"confusion": "confusion_matrix", "multilabel": "label_counts", "detection": "pr_curve"}


@dataclass
class TaskEvaluation:
    """One task's per-class table and its analysis (the document its JSON file holds)."""

    kind: str
    per_class: list[dict[str, Any]]
    analysis: Any = None


@dataclass
class Evaluation:
    """What :func:`evaluate` measured: ``metrics`` as ``metrics.json`` holds them, and per task its tables."""

    metrics: dict[str, dict[str, float]]
    samples: int
    tasks: dict[str, TaskEvaluation] = field(default_factory=dict)
    data: list[dict[str, Any]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def evaluate(
    model: Any,
    data: Any,
    *,
    split: str = "validation",
    batch_size: int = 32,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    output: str | Path | None = None,
) -> Evaluation:
    """Run ``model`` (a model or a model folder) over ``data`` (a data config or built datasets); see the module.

    ``data`` is a data config (a dataset spec, a list of them, a train config or its ``data`` section, or a
    JSON/YAML file of one; ``split`` picks a train config's datasets), or a list of built datasets. With
    ``output`` the files above are written there.

    Example:
        >>> from torchbricks import build_model
        >>> model = build_model({"backbone": {"name": "resnet18", "levels": [4]}, "input_shape": [3, 32, 32],
        ...     "tasks": {"shape": {"task": "multilabel_classification", "num_classes": 3,
        ...                         "targets": "shape_present"}}})
        >>> result = evaluate(model, {"name": "shapes", "count": 4, "image_size": 32}, batch_size=2)
        >>> sorted(result.metrics["shape"]), result.samples
        (['exact_match', 'f1'], 4)
        >>> sum(row["support"] for row in result.tasks["shape"].per_class) <= 3 * 4
        True
    """
    from torch.utils.data import DataLoader

    from torchbricks.evaluation._data import check_classes, evaluation_datasets, resolved_specs
    from torchbricks.groups import Stage
    from torchbricks.training._data import Collate, combine, merged_class_names, placeholders

    if isinstance(model, str | Path):
        from torchbricks.assembly import load_model

        model = load_model(model)
    config = getattr(model, "config", None) or {}
    built = isinstance(data, list) and data and not all(isinstance(item, str | Mapping) for item in data)
    datasets = list(data) if built else evaluation_datasets(data, split)
    specs = [] if built else resolved_specs(data, split)
    check_classes(config, datasets)
    filled = placeholders(datasets)
    combined = combine(datasets)
    _check_inputs(model, combined, filled)
    loader = DataLoader(
        combined, batch_size=batch_size, shuffle=False, num_workers=num_workers, collate_fn=Collate(filled)
    )
    analyses = _analyses(model, config, merged_class_names(datasets))
    device = torch.device(device)
    flags = [(module, module.training) for module in model.modules()]
    model.to(device).eval()
    model.reset_metrics()
    try:
        with torch.inference_mode():
            for batch in loader:
                batch = {
                    name: value.to(device) if isinstance(value, torch.Tensor) else value
                    for name, value in batch.items()
                }
                outputs = model(batch, groups=Stage.VALIDATION)
                for analysis, prediction, target in analyses.values():
                    analysis.update(outputs[prediction], outputs[target])
        metrics = _metrics(model)
    finally:
        for module, training in flags:
            module.training = training
    tasks = {
        task: TaskEvaluation(_kind(config, task), analysis.per_class(), analysis)
        for task, (analysis, _, _) in analyses.items()
    }
    result = Evaluation(metrics, len(combined), tasks, specs)
    if output is not None:
        result.files = write_evaluation(result, Path(output))
    return result


def _metrics(model: Any) -> dict[str, dict[str, float]]:
    """The validation metrics as a train run writes them (summarised, flattened, ``val/`` keys nested, rounded)."""
    from torchbricks.training._module import flatten_metrics, task_metrics
    from torchbricks.training._run import nested_metrics

    summary = task_metrics(model, reset=True)
    return nested_metrics({f"val/{name}": value for name, value in flatten_metrics(summary).items()})


def _check_inputs(model: Any, dataset: Any, filled: Mapping[str, torch.Tensor]) -> None:
    """Every name the validation groups read must come from the data; else name the tasks that read it."""
    from torchbricks.groups import Stage
    from torchbricks.training._data import dataset_names, labelled_name

    given = set(dataset_names(dataset)) | {labelled_name(name) for name in filled}
    missing = [name for name in model.required_inputs(Stage.VALIDATION) if name not in given]
    if not missing:
        return
    readers = {
        name: sorted(
            {
                node.collection_path[0]
                for node in model.nodes(Stage.VALIDATION)
                if name in node.inputs and node.collection_path
            }
        )
        for name in missing
    }
    described = "; ".join(f"'{name}' (read by task {', '.join(readers[name]) or '?'})" for name in missing)
    raise DatasetConfigError(
        f"The data gives no {described}; it gives {', '.join(sorted(given))}. Evaluate on data labelled for every "
        "task (several datasets, each labelled for some tasks, work for a model trained that way)"
    )


def _analyses(
    model: Any, config: Mapping[str, Any], data_names: Mapping[str, list[str]]
) -> dict[str, tuple[Any, str, str]]:
    """Per task with a known kind: its accumulator and the names its metric brick reads (prediction, target).

    A task without ``class_names`` takes the data's names of its targets (when their number fits), else indices.
    """
    found: dict[str, tuple[Any, str, str]] = {}
    graph = getattr(model, "graph", None)
    for node in getattr(graph, "metric_nodes", ()):
        if not node.collection_path or len(node.inputs) < 2:
            continue
        task = node.collection_path[0]
        if task in found or task not in config.get("tasks", {}):
            continue
        metric = next((value for value in node.brick.metrics.values() if _has_threshold(value)), None)
        analysis = task_analysis(_kind(config, task), _class_names(config, task, data_names), metric)
        if analysis is not None:
            found[task] = (analysis, node.inputs[0], node.inputs[1])
    return found


def _has_threshold(metric: Any) -> bool:
    return hasattr(metric, "max_distance") or hasattr(metric, "iou_threshold")


def _kind(config: Mapping[str, Any], task: str) -> str:
    return str(config["tasks"][task].get("task", "?")).rsplit(":", 1)[-1]


def _class_names(config: Mapping[str, Any], task: str, data_names: Mapping[str, list[str]]) -> list[str]:
    spec = config["tasks"][task]
    count = int(spec.get("num_classes") or 0)
    names = spec.get("class_names") or data_names.get(str(spec.get("targets")))
    if names and len(names) == count:
        return [str(name) for name in names]
    return [str(index) for index in range(count)]


def file_stem(task: str) -> str:
    """A task name as a folder name (anything but letters, digits, ``.``, ``-`` and ``_`` becomes ``_``).

    Example:
        >>> file_stem("detect/boxes")
        'detect_boxes'
    """
    return re.sub(r"[^\w.-]", "_", task) or "_"


def write_evaluation(result: Evaluation, output: Path) -> list[Path]:
    """Write ``metrics.json``, ``evaluation.json`` and each task's JSON and PNG into ``output``; returns the files."""
    from torchbricks.evaluation._pictures import confusion_picture, counts_picture, pr_curve_picture

    output.mkdir(parents=True, exist_ok=True)
    written = [_write_json(output / "metrics.json", result.metrics)]
    summary = {
        "data": result.data,
        "samples": result.samples,
        "tasks": {task: {"kind": found.kind, "per_class": found.per_class} for task, found in result.tasks.items()},
    }
    for task, found in result.tasks.items():
        analysis = found.analysis
        document = analysis.document()
        stem = PICTURES[analysis.kind]
        folder = output / file_stem(task)
        written.append(_write_json(folder / f"{stem}.json", document))
        if analysis.kind == "confusion":
            picture = confusion_picture(document["matrix"], document["classes"], task)
        elif analysis.kind == "multilabel":
            picture = counts_picture(document["matrices"], task)
        else:
            picture = pr_curve_picture(document["classes"], task)
        written.append(_write_png(folder / f"{stem}.png", picture))
        summary["tasks"][task]["files"] = [f"{file_stem(task)}/{stem}.json", f"{file_stem(task)}/{stem}.png"]
    written.insert(1, _write_json(output / "evaluation.json", summary))
    return written


def _write_json(path: Path, content: Any) -> Path:
    """Indented, key-sorted JSON written atomically by the train run's writer (``metrics.json`` byte for byte)."""
    from torchbricks.training._run_folder import write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, content, sort_keys=True)
    return path


def _write_png(path: Path, picture: Any) -> Path:
    import io

    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
    return path
