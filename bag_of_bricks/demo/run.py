"""``torchbricks demo``: train a three-task model on generated shapes, evaluate it and write its outputs.

Tasks (from the registered task factories): multi-label classification (which shapes are in the
image), semantic segmentation (background + 3 shapes) and point detection (shape centres). Everything
runs on the CPU with generated data; the output folder gets the saved model, ``pictures/`` (per task a
grid of image | ground truth | prediction with a legend, and ``training.png``: each task's loss over the
steps, from ``training.csv``), the per-brick visualizations, the Mermaid graph, an ONNX file checked
with onnxruntime, and ``metrics.json``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from bag_of_bricks.demo.pictures import write_pictures, write_training_plot
from bag_of_bricks.demo.shapes import CLASS_NAMES, SHAPE_NAMES, make_shapes_batch

DEMO_CONFIG: dict[str, Any] = {
    "image": "images",
    "preprocessor": {"name": "normalize", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
    "backbone": {"name": "resnet18", "levels": [2, 3, 4]},
    "neck": {"name": "upsampling", "out_channels": 64},
    "tasks": {
        "shapes": {
            "task": "multilabel_classification",
            "feature_kind": "dense",  # presence of small shapes: max-pool the stride-4 features
            "num_classes": len(SHAPE_NAMES),
            "targets": "shape_present",
            "class_names": list(SHAPE_NAMES),
        },
        "segmentation": {"task": "semantic_segmentation", "num_classes": len(CLASS_NAMES), "targets": "segmentation"},
        "centres": {
            "task": "point_detection",
            "num_classes": len(SHAPE_NAMES),
            "targets": "points",
            "class_names": list(SHAPE_NAMES),
        },
    },
    "loss_weighting": {"name": "uncertainty_weighting"},
    "input_shape": [3, 64, 64],
}

TARGETS = {"shapes": ("exact_match", 0.95), "segmentation": ("mean_iou", 0.85), "centres": ("f1", 0.90)}


@dataclass
class DemoSettings:
    """How much to train.

    By default training runs a fixed number of seeded ``steps``, with the learning-rate schedule over
    the steps: the same command gives the same model and the same ``metrics.json`` on any machine (a
    busier one takes longer). ``train_seconds`` trains for a time budget instead (the schedule over that
    time), which is faster to bound but lands different figures on a machine of another speed.
    """

    train_images: int = 8_000
    validation_images: int = 1_000
    batch_size: int = 32
    train_seconds: float | None = None
    steps: int | None = 400
    learning_rate: float = 2e-3
    warmup_fraction: float = 0.1
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int | None = None

    @classmethod
    def quick(cls) -> DemoSettings:
        """A few seconds of training: checks that everything runs (used by the tests and CI)."""
        return cls(train_images=256, validation_images=64, batch_size=32, steps=4)

    def learning_rate_at(self, progress: float) -> float:
        """Linear warm-up, then cosine decay to zero; ``progress`` runs from 0 to 1."""
        if progress < self.warmup_fraction:
            return self.learning_rate * progress / self.warmup_fraction
        decay = (progress - self.warmup_fraction) / (1 - self.warmup_fraction)
        return self.learning_rate * 0.5 * (1 + math.cos(math.pi * min(decay, 1.0)))


def run_demo(output: str | Path, settings: DemoSettings | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Train, evaluate and write the output folder; returns ``metrics.json``'s content."""
    from torchbricks import build_model, save_model

    settings = settings or DemoSettings()
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    started = time.perf_counter()
    train_data = make_shapes_batch(settings.train_images, seed=settings.seed)
    validation_data = make_shapes_batch(settings.validation_images, seed=settings.seed + 1)
    model = build_model(DEMO_CONFIG)
    generated = time.perf_counter()
    history: list[dict[str, float]] = []
    train_seconds, steps = train(model, train_data, settings, show_progress, history)
    metrics = evaluate(model, validation_data, settings.batch_size)
    save_model(model, output / "model", exist_ok=True)
    write_visualizations(model, validation_data, output / "visualizations")
    write_history(history, output / "training.csv")
    write_pictures(model, validation_data, output / "pictures")
    write_training_plot(output / "training.csv", output / "pictures" / "training.png")
    write_graph(model, output)
    onnx_difference = write_onnx(model, validation_data, output / "model.onnx")
    report = {
        **metrics,
        "_run": {
            "train_seconds": round(train_seconds, 1),
            "train_steps": steps,
            "data_seconds": round(generated - started, 1),
            "total_seconds": round(time.perf_counter() - started, 1),
            "onnx_max_abs_difference": onnx_difference,
            "settings": asdict(settings),
        },
    }
    (output / "metrics.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    return report


def batches(
    data: dict[str, torch.Tensor], batch_size: int, generator: torch.Generator
) -> Iterator[dict[str, torch.Tensor]]:
    """Endless shuffled batches with random flips and 90° rotations (labels transformed to match)."""
    count = len(data["images"])
    while True:
        order = torch.randperm(count, generator=generator)
        for start in range(0, count - batch_size + 1, batch_size):
            batch = {name: value[order[start : start + batch_size]] for name, value in data.items()}
            yield augment(batch, int(torch.randint(0, 8, (1,), generator=generator)))


def augment(batch: dict[str, torch.Tensor], variant: int) -> dict[str, torch.Tensor]:
    """One of the 8 flips/rotations of the square images, applied to images, masks and points alike."""
    images, masks, points = batch["images"], batch["segmentation"], batch["points"].clone()
    size = images.shape[-1]
    valid = points[..., 2] >= 0
    if variant & 1:  # horizontal flip
        images, masks = images.flip(-1), masks.flip(-1)
        points[..., 0] = torch.where(valid, size - points[..., 0], points[..., 0])
    if variant & 2:  # vertical flip
        images, masks = images.flip(-2), masks.flip(-2)
        points[..., 1] = torch.where(valid, size - points[..., 1], points[..., 1])
    if variant & 4:  # transpose (swap x and y)
        images, masks = images.transpose(-1, -2), masks.transpose(-1, -2)
        points[..., [0, 1]] = points[..., [1, 0]]
    return {**batch, "images": images.contiguous(), "segmentation": masks.contiguous(), "points": points}


def train(
    model: torch.nn.Module,
    data: dict[str, torch.Tensor],
    settings: DemoSettings,
    show_progress: bool,
    history: list[dict[str, float]] | None = None,
) -> tuple[float, int]:
    """AdamW with warm-up and cosine decay over the steps (or the time budget); returns (seconds, steps).

    ``history`` (when given) receives one row per step: ``step``, ``train/loss`` and each task's loss.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0, weight_decay=settings.weight_decay)
    generator = torch.Generator().manual_seed(settings.seed)
    stream = batches(data, settings.batch_size, generator)
    model.train()
    started = time.perf_counter()
    total = settings.steps if settings.steps is not None else settings.train_seconds
    if total is None:
        raise ValueError("DemoSettings needs steps or train_seconds")
    unit = "steps" if settings.steps is not None else "s"
    columns = (
        TextColumn("training"),
        BarColumn(),
        TextColumn(
            "{task.fields[done]}/{task.total:.0f} {task.fields[unit]} · step {task.fields[step]} · loss "
            "{task.fields[loss]}"
        ),
        TimeElapsedColumn(),
    )
    step = 0
    with Progress(*columns, disable=not show_progress) as progress:
        task = progress.add_task("train", total=total, done=0, unit=unit, step=0, loss="-")
        while True:
            done = step if settings.steps is not None else time.perf_counter() - started
            if done >= total:
                break
            for group in optimizer.param_groups:
                group["lr"] = settings.learning_rate_at(done / total)
            named_outputs = model(next(stream), groups={"MODEL", "LOSS"})  # metrics are measured after training
            loss = sum(model.extract_losses(named_outputs).values())
            if not math.isfinite(loss.item()):
                raise FloatingPointError(f"The training loss became {loss.item()} at step {step}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if history is not None:
                losses = {name: value for name, value in named_outputs.items() if _is_task_loss(name)}
                row = {"step": float(step), "train/loss": loss.item()}
                row.update({f"train/{name}": value.item() for name, value in losses.items()})
                history.append(row)
            step += 1
            shown = step if settings.steps is not None else round(time.perf_counter() - started)
            progress.update(task, completed=shown, done=shown, step=step, loss=f"{loss.item():.3f}")
    model.reset_metrics()
    return time.perf_counter() - started, step


def _is_task_loss(name: str) -> bool:
    return name.count("/") == 1 and name.endswith("/loss")


def write_history(history: list[dict[str, float]], path: Path) -> Path:
    """The per-step training losses as CSV (``step,train/loss,train/<task>/loss,...``)."""
    import csv

    columns = sorted({name for row in history for name in row}, key=lambda name: (name != "step", name))
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history)
    return path


def evaluate(model: torch.nn.Module, data: dict[str, torch.Tensor], batch_size: int) -> dict[str, dict[str, float]]:
    """Held-out metrics per task: ``{"task": {"metric": value}}``."""
    model.eval()
    model.reset_metrics()
    count = len(data["images"])
    with torch.no_grad():
        for start in range(0, count, batch_size):
            model({name: value[start : start + batch_size] for name, value in data.items()}, groups="test")
    metrics: dict[str, dict[str, float]] = {}
    for key, value in model.summarize(reset=True).items():
        task, _, metric = key.partition("/")
        metrics.setdefault(task, {})[metric] = round(float(value), 4)
    return metrics


def write_visualizations(
    model: torch.nn.Module, data: dict[str, torch.Tensor], folder: Path, count: int = 8
) -> list[Path]:
    """PNG per task of the first ``count`` held-out images, predictions drawn by the tasks' visualizers."""
    folder.mkdir(parents=True, exist_ok=True)
    model.eval()
    with torch.no_grad():
        outputs = model({"images": data["images"][:count]}, groups={"MODEL", "VISUALIZATION"})
    written = []
    for name, pictures in outputs.items():
        if not name.endswith("/visualization"):
            continue
        from PIL import Image

        width, height = pictures[0].size
        sheet = Image.new("RGB", (width * len(pictures), height))
        for index, picture in enumerate(pictures):
            sheet.paste(picture, (index * width, 0))
        sheet = sheet.resize((sheet.width * 4, sheet.height * 4), Image.NEAREST)
        path = folder / f"{name.split('/')[0]}.png"
        sheet.save(path)
        written.append(path)
    return written


def write_graph(model: torch.nn.Module, folder: Path) -> Path:
    """The model's Mermaid graph as a Markdown file."""
    from torchbricks import to_mermaid

    path = folder / "graph.md"
    path.write_text("```mermaid\n" + to_mermaid(model) + "```\n")
    return path


def write_onnx(model: torch.nn.Module, data: dict[str, torch.Tensor], path: Path) -> float:
    """Export the inference graph to ONNX and return the largest difference to PyTorch in onnxruntime."""
    from torchbricks import export_bricks_as_onnx, onnx_max_abs_differences

    example = {"images": data["images"][:2]}
    export_bricks_as_onnx(path, model, example, dynamic_batch_size=True)
    differences = onnx_max_abs_differences(path, model, {"images": data["images"][:5]})
    return max(differences.values())
