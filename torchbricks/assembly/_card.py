"""The model card: ``README.md`` of a model folder, in the Hugging Face layout.

YAML front matter that tools read — ``library_name: torchbricks``, ``tags`` (torchbricks, the task kinds,
the backbone), ``datasets``, ``model-index`` with one entry per task and its metrics (from the train run's
``metrics.json``, or the one ``torchbricks evaluate`` wrote) — and a body a person reads: tasks and classes,
the input contract and preprocessing, the metrics, how it was trained (data, steps, seed, optimizer),
parameters, GMACs (``torch.utils.flop_counter`` on one image of the recorded size; a MAC is half a FLOP), the
latency measured on the machine that saved it (batch 1, the median of a few runs), the Mermaid graph of
the inference bricks, and how to load it and predict.

:func:`save_model` writes the card; ``torchbricks card MODEL`` writes it again (after ``metrics.json``
changed, or with ``--metrics`` from ``torchbricks evaluate``). Writing a card never fails a save: a part
that cannot be computed (GMACs of a model ``FlopCounterMode`` cannot trace, say) is left out with a note.
Everything but the latency line is the same for the same model, metrics and run.

Example:
    >>> from torchbricks import build_model
    >>> model = build_model({"backbone": {"name": "resnet18", "levels": [5]}, "input_shape": [3, 32, 32],
    ...                      "tasks": {"kind": {"task": "image_classification", "num_classes": 2,
    ...                                         "class_names": ["cat", "dog"]}}})
    >>> card = model_card(model.config, model, measure=False)
    >>> card.splitlines()[:2]
    ['---', 'library_name: torchbricks']
    >>> "| kind | image classification | cat, dog |" in card
    True
"""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from torchbricks._files import atomic_write_bytes

CARD_FILE = "README.md"
LATENCY_RUNS = 5
LATENCY_BUDGET_S = 0.5
"""After 3 runs, no more are started once this many seconds are spent (a large model on a slow CPU)."""
HF_TASK_TYPES = {
    "image_classification": "image-classification",
    "multilabel_classification": "image-classification",
    "semantic_segmentation": "image-segmentation",
    "object_detection": "object-detection",
    "point_detection": "keypoint-detection",
}
"""Each standard task's Hugging Face task type (``model-index`` and ``tags``); other tasks are ``other``."""
LATENCY_LABEL = "Latency (batch 1"
"""How the one measured line of the body starts (a test compares cards modulo that line)."""


@dataclass
class CardSources:
    """What a card says beyond the model: metrics, the data they were measured on, the train run.

    ``metrics``: ``{"task": {"metric": value}}`` (``metrics.json``); ``metrics_data``: the dataset specs the
    metrics come from; ``train``: the run's resolved train config; ``run``: its ``run.json`` (steps, seed).
    """

    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    metrics_data: list[dict[str, Any]] = field(default_factory=list)
    metrics_source: str = ""
    train: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    run_folder: Path | None = None


def card_sources(run: str | Path | None = None, metrics: str | Path | None = None) -> CardSources:
    """Read a train run's folder (``config.json``, ``metrics.json``, ``run.json``) and/or a ``metrics.json``.

    ``metrics`` (a file ``torchbricks evaluate`` wrote, with its ``evaluation.json`` beside it) replaces the
    run's metrics. Files that are missing or unreadable are left out.
    """
    sources = CardSources()
    if run is not None:
        run = Path(run)
        sources.run_folder = run
        train = _read_json(run / "config.json")
        if isinstance(train, dict) and isinstance(train.get("data"), dict):
            sources.train = train
            sources.metrics_data = _specs(train["data"].get("validation"))
            sources.metrics_source = "the train run's validation data"
        run_info = _read_json(run / "run.json")
        sources.run = run_info if isinstance(run_info, dict) else {}
        sources.metrics = _metrics(_read_json(run / "metrics.json"))
    if metrics is not None:
        metrics = Path(metrics)
        sources.metrics = _metrics(_read_json(metrics))
        evaluation = _read_json(metrics.parent / "evaluation.json")
        data = evaluation.get("data") if isinstance(evaluation, dict) else None
        sources.metrics_data = _specs(data)
        sources.metrics_source = "`torchbricks evaluate`"
    return sources


def run_folder_of(model_folder: str | Path) -> Path | None:
    """The train run a model folder belongs to (``run/model`` → ``run``), or ``None``.

    A train run's folder holds its train ``config.json`` (with ``model`` and ``data``) beside ``model/``.
    """
    parent = Path(model_folder).absolute().parent
    train = _read_json(parent / "config.json")
    if isinstance(train, dict) and {"model", "data"} <= set(train) and Path(model_folder).name == "model":
        return parent
    return None


def write_card(
    folder: str | Path,
    model: Any = None,
    config: Mapping[str, Any] | None = None,
    sources: CardSources | None = None,
    measure: bool = True,
    target: str | Path | None = None,
) -> Path:
    """Write the card of the model in ``folder`` to ``folder/README.md`` (or ``target``); returns the path.

    ``config`` defaults to the model's; ``model`` may be ``None`` (then parameters, GMACs, latency and the
    graph are left out).
    """
    config = dict(config if config is not None else getattr(model, "config", {}) or {})
    text = model_card(config, model, sources=sources, measure=measure)
    path = Path(target) if target is not None else Path(folder) / CARD_FILE
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def model_card(
    config: Mapping[str, Any], model: Any = None, sources: CardSources | None = None, measure: bool = True
) -> str:
    """The card's Markdown text (front matter and body); see the module docstring."""
    sources = sources or CardSources()
    tasks = _tasks(config)
    name = model_name(config)
    front = front_matter(config, sources, name)
    body = [f"# {name}", "", _summary(config, tasks), ""]
    body += _tasks_section(config, tasks)
    body += _input_section(config)
    body += _metrics_section(sources, tasks)
    body += _training_section(sources)
    body += _size_section(config, model, measure)
    body += _pretrained_section(config)
    body += _graph_section(model)
    body += _use_section(config)
    return "---\n" + yaml_text(front) + "---\n\n" + "\n".join(body).rstrip("\n") + "\n"


def model_name(config: Mapping[str, Any]) -> str:
    """``<backbone>: <task>, <task>`` — the card's title and ``model-index`` name."""
    backbone = _bare(_part_name(config.get("backbone"))) or "model"
    return f"{backbone}: {', '.join(_tasks(config)) or 'no tasks'}"


def front_matter(config: Mapping[str, Any], sources: CardSources, name: str) -> dict[str, Any]:
    """The YAML front matter as data (``library_name``, ``tags``, ``datasets``, ``model-index``)."""
    tasks = _tasks(config)
    backbone = _bare(_part_name(config.get("backbone")))
    kinds = sorted({HF_TASK_TYPES.get(kind, "other") for kind in tasks.values()})
    tags = ["torchbricks", *kinds, *sorted({kind for kind in tasks.values()})]
    if backbone:
        tags.append(backbone)
    datasets = sorted({_dataset_name(spec) for spec in [*_train_specs(sources), *sources.metrics_data]})
    front: dict[str, Any] = {"library_name": "torchbricks", "tags": list(dict.fromkeys(tags))}
    if datasets:
        front["datasets"] = datasets
    results = []
    metric_data = sources.metrics_data[0] if sources.metrics_data else None
    for task, kind in tasks.items():
        metrics = sources.metrics.get(task)
        if not metrics:
            continue
        result: dict[str, Any] = {"task": {"type": HF_TASK_TYPES.get(kind, "other"), "name": f"{task} ({kind})"}}
        if metric_data is not None:
            result["dataset"] = {"name": _dataset_name(metric_data), "type": _bare(str(metric_data.get("name")))}
        result["metrics"] = [
            {"type": metric, "value": value, "name": f"{task} {metric}"} for metric, value in sorted(metrics.items())
        ]
        results.append(result)
    if results:
        front["model-index"] = [{"name": name, "results": results}]
    return front


def yaml_text(data: Any, indent: int = 0) -> str:
    """Block-style YAML of dicts, lists and scalars (plain words as they are, other scalars as JSON, which YAML reads).

    Example:
        >>> print(yaml_text({"tags": ["a", "b c"], "model-index": [{"name": "m", "value": 0.5}]}), end="")
        tags:
          - a
          - "b c"
        model-index:
          - name: m
            value: 0.5
    """
    pad = " " * indent
    lines = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(value, Mapping | list) and value:
                lines.append(f"{pad}{key}:\n{yaml_text(value, indent + 2)}")
            else:
                lines.append(f"{pad}{key}: {_scalar(value)}\n")
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, Mapping) and item:
                lines.append(f"{pad}- {yaml_text(item, indent + 2)[indent + 2 :]}")
            elif isinstance(item, list) and item:
                lines.append(f"{pad}-\n{yaml_text(item, indent + 2)}")
            else:
                lines.append(f"{pad}- {_scalar(item)}\n")
    else:
        lines.append(f"{pad}{_scalar(data)}\n")
    return "".join(lines)


def _scalar(value: Any) -> str:
    if isinstance(value, Mapping | list):
        return "{}" if isinstance(value, Mapping) else "[]"
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    if isinstance(value, str) and _PLAIN.fullmatch(value) and value.lower() not in _YAML_WORDS:
        return value
    return json.dumps(value, ensure_ascii=False)


_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}


# --- the body's sections -------------------------------------------------------------------------------------


def _summary(config: Mapping[str, Any], tasks: Mapping[str, str]) -> str:
    backbone = _bare(_part_name(config.get("backbone"))) or "?"
    neck = _bare(_part_name(config.get("neck")))
    kinds = ", ".join(f"{task} ({kind.replace('_', ' ')})" for task, kind in tasks.items())
    parts = f"backbone {backbone}" + (f", neck {neck}" if neck else "")
    return f"A torchbricks model ({parts}) with {len(tasks)} task{'s' if len(tasks) != 1 else ''}: {kinds}."


def _tasks_section(config: Mapping[str, Any], tasks: Mapping[str, str]) -> list[str]:
    lines = ["## Tasks and classes", "", "| Task | Kind | Classes |", "| --- | --- | --- |"]
    for task, kind in tasks.items():
        lines.append(f"| {task} | {kind.replace('_', ' ')} | {_escape(_classes(config, task))} |")
    return [*lines, ""]


def _tasks(config: Mapping[str, Any]) -> dict[str, str]:
    """Task name → the bare task factory name (``image_classification``), sorted by task name (as config.json)."""
    tasks = config.get("tasks")
    if not isinstance(tasks, Mapping):
        return {}
    found = {str(task): _bare(str(spec.get("task", "?"))) for task, spec in tasks.items() if isinstance(spec, Mapping)}
    return dict(sorted(found.items()))


def _classes(config: Mapping[str, Any], task: str) -> str:
    """A task's class names as text (its ``class_names``, else how many classes it has)."""
    spec = config["tasks"][task]
    names, count = spec.get("class_names"), spec.get("num_classes")
    if isinstance(names, list | tuple) and names:
        return ", ".join(str(name) for name in names)
    if isinstance(count, int):
        return f"{count} classes (indices 0–{count - 1}; no names recorded)"
    return "-"


def _input_section(config: Mapping[str, Any]) -> list[str]:
    contract = config.get("input") if isinstance(config.get("input"), Mapping) else {}
    shape = config.get("input_shape") or [3, "H", "W"]
    channels = contract.get("channels", shape[0])
    low, high = contract.get("value_range", [0.0, 1.0])
    lines = [
        "## Input",
        "",
        f"- Images `[batch, {channels}, height, width]`, {contract.get('dtype', 'float32')} in [{low:g}, {high:g}] "
        "(the PyTorch model also takes uint8 in [0, 255]), under the input name "
        f"`{config.get('image', 'images')}`.",
    ]
    size = contract.get("size")
    if size:
        policy = contract.get("resize", "stretch")
        how = (
            "other sizes are resized to it without keeping the aspect ratio (`stretch`)"
            if policy == "stretch"
            else "images were used at their own size (`none`)"
        )
        lines.append(f"- Trained on {size[0]} × {size[1]} images; {how}.")
    else:
        lines.append(
            f"- Training image size not recorded (saved outside a train run); its config's example input is "
            f"{shape[1]} × {shape[2]}."
        )
    preprocessor = config.get("preprocessor")
    if isinstance(preprocessor, Mapping):
        arguments = ", ".join(f"{key} {_short(value)}" for key, value in preprocessor.items() if key != "name")
        lines.append(
            f"- Preprocessing (inside the model): {_bare(str(preprocessor.get('name')))}"
            + (f" ({arguments})" if arguments else "")
            + "."
        )
    return [*lines, ""]


def _metrics_section(sources: CardSources, tasks: Mapping[str, str]) -> list[str]:
    lines = ["## Metrics", ""]
    if not sources.metrics:
        return [*lines, "No metrics recorded (`torchbricks evaluate MODEL --data DATA` measures them).", ""]
    data = "; ".join(_dataset_label(spec) for spec in sources.metrics_data) or "data not recorded"
    lines += [f"On {data} ({sources.metrics_source or 'metrics.json'}):", ""]
    lines += ["| Task | Metric | Value |", "| --- | --- | --- |"]
    for task, metrics in sorted(sources.metrics.items()):
        for metric, value in sorted(metrics.items()):
            lines.append(f"| {task} | {metric} | {value:.4f} |")
    return [*lines, ""]


def _training_section(sources: CardSources) -> list[str]:
    lines = ["## Training", ""]
    train = sources.train
    if not train:
        return [*lines, "Not recorded: the model was saved outside a train run.", ""]
    data = train.get("data", {})
    rows = [
        ("Steps", str(sources.run.get("steps", train.get("trainer", {}).get("max_steps", "?")))),
        ("Seed", str(sources.run.get("seed", train.get("seed", "?")))),
        ("Training data", "; ".join(_dataset_label(spec) for spec in _specs(data.get("train"))) or "-"),
        ("Validation data", "; ".join(_dataset_label(spec) for spec in _specs(data.get("validation"))) or "-"),
        ("Batch size", str(data.get("batch_size", "?"))),
        ("Optimizer", _named(train.get("optimizer"))),
        ("Scheduler", _named(train.get("scheduler"))),
    ]
    lines += ["| | |", "| --- | --- |"]
    lines += [f"| {key} | {_escape(value)} |" for key, value in rows]
    lines += ["", "`torchbricks train config.json` (the run's `config.json`) trains it again, step for step."]
    return [*lines, ""]


def _size_section(config: Mapping[str, Any], model: Any, measure: bool) -> list[str]:
    lines = ["## Size and speed", ""]
    if model is None:
        return [*lines, "Not computed (the card was written without the model).", ""]
    size = _measured_size(config)
    rows = [("Parameters", f"{sum(parameter.numel() for parameter in model.parameters()):,}")]
    notes = []
    warm = False
    try:
        rows.append((f"GMACs (batch 1, {size[0]} × {size[1]} × {size[2]})", f"{gmacs(model, config, size):.3f}"))
        warm = True
    except Exception as error:
        notes.append(f"GMACs not computed: {type(error).__name__}: {_first_line(error)}.")
    if measure:
        try:
            milliseconds, runs, where = latency_ms(model, config, size, warm=warm)
            rows.append(
                (
                    f"{LATENCY_LABEL}, median of {runs} runs; measured on the saving machine: {where})",
                    f"{milliseconds:.1f} ms",
                )
            )
        except Exception as error:
            notes.append(f"Latency not measured: {type(error).__name__}: {_first_line(error)}.")
    lines += ["| | |", "| --- | --- |", *(f"| {key} | {value} |" for key, value in rows)]
    if notes:
        lines += ["", *notes]
    return [*lines, ""]


def _pretrained_section(config: Mapping[str, Any]) -> list[str]:
    pretrained = config.get("pretrained")
    if not isinstance(pretrained, Mapping) or not pretrained:
        return []
    lines = ["## Pretrained weights", "", "| Part | Weights | sha256 |", "| --- | --- | --- |"]
    for part, entry in sorted(pretrained.items()):
        entry = entry if isinstance(entry, Mapping) else {}
        lines.append(f"| {part} | {entry.get('name', '?')} | `{str(entry.get('sha256', '?'))[:16]}…` |")
    return [*lines, ""]


def _graph_section(model: Any) -> list[str]:
    if model is None:
        return []
    try:
        from torchbricks.graph import to_mermaid
        from torchbricks.groups import Stage

        graph = to_mermaid(model, groups=Stage.INFERENCE, add_legends=False)
    except Exception as error:
        return ["## Graph", "", f"Not drawn: {type(error).__name__}: {_first_line(error)}.", ""]
    return ["## Graph", "", "The inference bricks:", "", "```mermaid", graph.rstrip("\n"), "```", ""]


def _use_section(config: Mapping[str, Any]) -> list[str]:
    image = config.get("image", "images")
    contract = config.get("input") if isinstance(config.get("input"), Mapping) else {}
    shape = config.get("input_shape") or [3, 224, 224]
    size = contract.get("size") or shape[1:]
    tasks = list(_tasks(config))
    first = tasks[0] if tasks else "task"
    return [
        "## Use it",
        "",
        "<!-- no-test: needs this model folder -->",
        "```python",
        "import torch",
        "from torchbricks import load_model",
        "",
        'model = load_model("path/to/this/folder")  # checks the weights against checksums.sha256',
        f"images = torch.rand(1, {shape[0]}, {size[0]}, {size[1]})  # float in [0, 1], or uint8 in [0, 255]",
        "with torch.inference_mode():",
        f'    outputs = model({{"{image}": images}}, groups="inference")',
        f'print(sorted(name for name in outputs if name.startswith("{first}/")))',
        "```",
        "",
        "From the command line (predictions with class names, one JSON line per image):",
        "",
        "<!-- no-test: needs this model folder -->",
        "```bash",
        "torchbricks predict path/to/this/folder images/ --output predictions/",
        "torchbricks evaluate path/to/this/folder --data data.yaml --output evaluation/",
        "torchbricks verify path/to/this/folder",
        "```",
        "",
        "The folder: `config.json` (the model, its classes and input contract), `weights/` (safetensors), "
        "this `README.md` and `checksums.sha256` (the sha256 of every file).",
        "",
        "<!-- generated: written by torchbricks (save_model, `torchbricks card`); edits are overwritten -->",
    ]


# --- measured figures ------------------------------------------------------------------------------------------


def _measured_size(config: Mapping[str, Any]) -> tuple[int, int, int]:
    contract = config.get("input") if isinstance(config.get("input"), Mapping) else {}
    shape = list(config.get("input_shape") or [3, 224, 224])
    size = contract.get("size") or shape[1:]
    return int(contract.get("channels", shape[0])), int(size[0]), int(size[1])


def _example(model: Any, config: Mapping[str, Any], size: Sequence[int]) -> dict[str, torch.Tensor]:
    parameter = next(iter(model.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    generator = torch.Generator().manual_seed(0)
    return {config.get("image", "images"): torch.rand(1, *size, generator=generator).to(device)}


def gmacs(model: Any, config: Mapping[str, Any], size: Sequence[int]) -> float:
    """Multiply-accumulates (in billions) of one forward of the inference bricks on one image of ``size``."""
    from torch.utils.flop_counter import FlopCounterMode

    from torchbricks.export import eval_mode
    from torchbricks.groups import Stage

    example = _example(model, config, size)
    counter = FlopCounterMode(display=False)
    with eval_mode(model), torch.inference_mode(), counter:
        model(example, groups=Stage.INFERENCE)
    return counter.get_total_flops() / 2 / 1e9


def latency_ms(
    model: Any, config: Mapping[str, Any], size: Sequence[int], warm: bool = False
) -> tuple[float, int, str]:
    """The median of up to :data:`LATENCY_RUNS` timed forwards (batch 1), how many ran, and where.

    One untimed warm-up forward runs first unless ``warm`` (the GMACs count just ran one).
    """
    from torchbricks.export import eval_mode
    from torchbricks.groups import Stage

    example = _example(model, config, size)
    device = next(iter(example.values())).device
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    with eval_mode(model), torch.inference_mode():
        if not warm:
            model(example, groups=Stage.INFERENCE)
        for _ in range(LATENCY_RUNS):
            if len(times) >= 3 and sum(times) > LATENCY_BUDGET_S:
                break
            synchronize()
            started = time.perf_counter()
            model(example, groups=Stage.INFERENCE)
            synchronize()
            times.append(time.perf_counter() - started)
    where = f"{device.type}, {torch.get_num_threads()} threads" if device.type == "cpu" else str(device)
    return statistics.median(times) * 1000, len(times), where


# --- small helpers ---------------------------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() and not path.is_symlink() else None
    except (OSError, ValueError, RecursionError):
        return None


def _metrics(found: Any) -> dict[str, dict[str, float]]:
    """``metrics.json``'s ``{"task": {"metric": value}}``; anything else in it is left out."""
    if not isinstance(found, Mapping):
        return {}
    metrics = {}
    for task, values in found.items():
        if isinstance(values, Mapping) and not str(task).startswith("_"):
            numbers = {str(key): float(value) for key, value in values.items() if isinstance(value, int | float)}
            if numbers:
                metrics[str(task)] = numbers
    return metrics


def _specs(specs: Any) -> list[dict[str, Any]]:
    if specs is None:
        return []
    specs = specs if isinstance(specs, list) else [specs]
    return [{"name": spec} if isinstance(spec, str) else dict(spec) for spec in specs if isinstance(spec, str | dict)]


def _train_specs(sources: CardSources) -> list[dict[str, Any]]:
    data = sources.train.get("data", {}) if isinstance(sources.train, Mapping) else {}
    return _specs(data.get("train")) + _specs(data.get("validation"))


def _dataset_name(spec: Mapping[str, Any]) -> str:
    """A dataset's name for ``datasets``: the folder or file it reads, else its registered name."""
    for key in ("root", "annotations", "csv_file"):
        value = spec.get(key)
        if isinstance(value, str) and value:
            return Path(value).stem if key != "root" else Path(value).name
    return _bare(str(spec.get("name", "?")))


def _dataset_label(spec: Mapping[str, Any]) -> str:
    arguments = ", ".join(
        f"{key} {_short(value)}"
        for key, value in spec.items()
        if key not in ("name", "root", "annotations", "csv_file")
    )
    name = _bare(str(spec.get("name", "?")))
    source = _dataset_name(spec)
    label = name if source == name else f"{name} '{source}'"
    return f"{label} ({arguments})" if arguments else label


def _named(spec: Any) -> str:
    if not isinstance(spec, Mapping):
        return "-" if spec is None else str(spec)
    arguments = ", ".join(f"{key} {_short(value)}" for key, value in spec.items() if key != "name")
    return f"{spec.get('name', '?')}" + (f" ({arguments})" if arguments else "")


def _part_name(part: Any) -> str:
    if isinstance(part, Mapping):
        return str(part.get("name", ""))
    return part if isinstance(part, str) else ""


def _bare(name: str) -> str:
    """``torchbricks:resnet18`` → ``resnet18``."""
    return name.rsplit(":", 1)[-1]


def _short(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple) and all(isinstance(item, int | float) for item in value):
        return "[" + ", ".join(_short(item) for item in value) + "]"
    return json.dumps(value) if not isinstance(value, str) else value


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [""])[0][:200]
