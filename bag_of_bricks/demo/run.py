"""``torchbricks demo``: the train run (``torchbricks.train``) with a built-in config on generated shapes.

Tasks (from the registered task factories): multi-label classification (which shapes are in the
image), semantic segmentation (background + 3 shapes) and point detection (shape centres). Training
is a fixed number of seeded steps, so the same command writes the same ``metrics.json``; a slower
machine takes longer and lands the same figures. Besides the train run's outputs (``model/``,
``metrics.json``, ``logs/``, ``checkpoints/``), the demo writes ``pictures/`` (per task: image |
ground truth | prediction, with a legend; and ``training.png``, each task's loss and metrics over
training), the Mermaid graph and an ONNX file checked with onnxruntime.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

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
"""The demo's model config (``model:`` of its train config)."""

TARGETS = {"shapes": ("exact_match", 0.95), "segmentation": ("mean_iou", 0.85), "centres": ("f1", 0.90)}


@dataclass
class DemoSettings:
    """How much to train: a fixed number of seeded ``steps`` (reproducible)."""

    train_images: int = 8_000
    validation_images: int = 1_000
    batch_size: int = 32
    steps: int = 220
    learning_rate: float = 2e-3
    warmup_fraction: float = 0.1
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int | None = None
    metrics_every_n_steps: int = 20

    @classmethod
    def quick(cls) -> DemoSettings:
        """A few seconds of training: checks that everything runs (used by the tests and CI)."""
        return cls(train_images=64, validation_images=32, batch_size=16, steps=4, metrics_every_n_steps=2)

    def train_config(self) -> dict[str, Any]:
        """The train config of this demo run (what ``torchbricks train`` would read)."""
        return {
            "model": copy.deepcopy(DEMO_CONFIG),
            "data": {
                "train": [{"name": "shapes", "count": self.train_images, "seed": self.seed, "augment": True}],
                "validation": [{"name": "shapes", "count": self.validation_images, "seed": self.seed + 1}],
                "batch_size": self.batch_size,
                "validation_batch_size": 100,
                "num_workers": 0,
            },
            "trainer": {
                "max_steps": self.steps,
                "accelerator": "cpu",
                "devices": 1,
                "num_sanity_val_steps": 0,
                "check_val_every_n_epoch": 10_000,  # validated once, after training
                "log_every_n_steps": max(1, self.metrics_every_n_steps // 2),
            },
            "optimizer": {"name": "AdamW", "lr": self.learning_rate, "weight_decay": self.weight_decay},
            "scheduler": {"name": "warmup_cosine", "warmup_fraction": self.warmup_fraction},
            "seed": self.seed,
            "metrics_every_n_steps": self.metrics_every_n_steps,
            "visualizations": 0,
        }


def run_demo(output: str | Path, settings: DemoSettings | None = None, show_progress: bool = True) -> dict[str, Any]:
    """Train (the train run), then write pictures, graph and ONNX; returns ``metrics.json``'s content."""
    from bag_of_bricks.demo.pictures import write_pictures, write_training_plot
    from torchbricks.training import train

    settings = settings or DemoSettings()
    output = Path(output)
    if settings.threads:
        torch.set_num_threads(settings.threads)
    started = time.perf_counter()
    report = train(settings.train_config(), output, progress=show_progress)
    from torchbricks import load_model

    model = load_model(output / "model")
    validation = make_shapes_batch(16, seed=settings.seed + 1)
    write_pictures(model, validation, output / "pictures")
    write_training_plot(output / "logs" / "metrics.csv", output / "pictures" / "training.png")
    write_graph(model, output)
    onnx_difference = write_onnx(model, validation, output / "model.onnx")
    report["_run"].update(
        {
            "total_seconds": round(time.perf_counter() - started, 1),
            "onnx_max_abs_difference": onnx_difference,
            "settings": asdict(settings),
            "threads": torch.get_num_threads(),
        }
    )
    (output / "metrics.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    return report


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
