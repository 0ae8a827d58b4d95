"""``torchbricks demo``: a ``torchbricks train`` run with a built-in config on generated shapes, then pictures.

Tasks (from the registered task factories): multi-label classification (which shapes are in the
image), semantic segmentation (background + 3 shapes) and point detection (shape centres). Training
is the train run (:func:`torchbricks.training.train`, Lightning) with :data:`DEMO_TRAIN_CONFIG`: a
fixed number of seeded steps, so the same command writes the same ``metrics.json`` on any machine (a
busier one takes longer). On top of the train run's outputs (``model/``, ``metrics.json``, ``run.json``,
``logs/``, ``checkpoints/``, ``visualizations/``, ``config.json``) the demo writes ``pictures/`` (per
task a grid of image | ground truth | prediction with a legend, and ``training.png``: each task's
loss and metrics over the steps), the Mermaid graph and an ONNX file checked with onnxruntime.

Example:
    The built-in config is a train config like any other (``torchbricks demo --print-config``):

    >>> from torchbricks.training import load_train_config
    >>> settings = load_train_config(DEMO_TRAIN_CONFIG, QUICK_OVERRIDES)
    >>> settings["trainer"]["max_steps"], [spec["name"] for spec in settings["data"]["train"]]
    (4, ['shapes'])
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from bag_of_bricks.demo.pictures import write_pictures, write_training_plot
from bag_of_bricks.shapes import CLASS_NAMES, SHAPE_NAMES

DEMO_CONFIG: dict[str, Any] = {
    "image": "images",
    "preprocessor": {"name": "normalize", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
    # strides 8 and 16 of a 64x64 image are enough for shapes of radius 6-14; stride 32 (2x2) adds cost, not accuracy
    "backbone": {"name": "resnet18", "levels": [2, 3]},
    "neck": {"name": "upsampling", "out_channels": 64},
    "tasks": {
        "shapes": {
            "task": "multilabel_classification",
            "feature_kind": "dense",  # presence of small shapes: max-pool the stride-4 features
            "num_classes": len(SHAPE_NAMES),
            "targets": "shape_present",
            "class_names": list(SHAPE_NAMES),
        },
        "segmentation": {
            "task": "semantic_segmentation",
            "num_classes": len(CLASS_NAMES),
            "targets": "segmentation",
            "class_names": list(CLASS_NAMES),
        },
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
"""The demo's model config (what ``torchbricks build`` takes)."""

DEMO_TRAIN_CONFIG: dict[str, Any] = {
    "model": DEMO_CONFIG,
    "data": {
        "train": [{"name": "shapes", "count": 8000, "seed": 0, "augment": True}],
        "validation": [{"name": "shapes", "count": 1000, "seed": 1}],
        "batch_size": 32,
        "num_workers": 0,  # the images are generated in memory: worker processes would only add start-up time
    },
    "trainer": {
        "max_steps": 400,
        "accelerator": "cpu",
        "devices": 1,
        "num_sanity_val_steps": 0,
        "check_val_every_n_epoch": None,
        "val_check_interval": 200,
        "log_every_n_steps": 10,
    },
    "optimizer": {"name": "AdamW", "lr": 2e-3, "weight_decay": 1e-4},
    "scheduler": {"name": "warmup_cosine", "warmup_fraction": 0.1},
    "seed": 0,
    "train_groups": ["MODEL", "LOSS", "METRIC"],
    "metrics_every_n_steps": 25,
    "channels_last": True,
    "visualizations": 8,
}
"""The demo's train config: ``torchbricks train`` gives the same run from this config in a file."""

QUICK_OVERRIDES = (
    "trainer.max_steps=4",
    "trainer.val_check_interval=2",
    "trainer.log_every_n_steps=1",
    "metrics_every_n_steps=2",
    "data.train[0].count=256",
    "data.validation[0].count=64",
)
"""``--quick``: a few seconds of training that check everything runs (the tests and CI use it)."""

TARGETS = {"shapes": ("exact_match", 0.95), "segmentation": ("mean_iou", 0.85), "centres": ("f1", 0.90)}
PICTURE_COUNT = 4


def run_demo(
    output: str | Path, overrides: Iterable[str] = (), quick: bool = False, show_progress: bool = True
) -> dict[str, Any]:
    """Train (the train run), then write pictures, graph and ONNX; returns the train run's report.

    ``overrides`` are ``--set`` style ``key=value`` strings applied to :data:`DEMO_TRAIN_CONFIG`
    (after :data:`QUICK_OVERRIDES` when ``quick``). The report adds ``onnx_max_abs_difference`` and
    ``total_seconds`` to ``_run`` (and to ``run.json``); ``metrics.json`` holds only the metrics.
    """
    from torchbricks import load_model
    from torchbricks.training import train

    output = Path(output)
    started = time.perf_counter()
    overrides = [*(QUICK_OVERRIDES if quick else ()), *overrides]
    with _quiet_lightning():
        report = train(DEMO_TRAIN_CONFIG, output, overrides=overrides, progress=show_progress, show_threads=True)
    model = load_model(output / "model")
    settings = json.loads((output / "config.json").read_text())
    validation = _validation_images(settings["data"]["validation"][0], PICTURE_COUNT)
    write_pictures(model, validation, output / "pictures", count=PICTURE_COUNT)
    write_training_plot(output / "logs" / "metrics.csv", output / "pictures" / "training.png")
    write_graph(model, output)
    report["_run"]["onnx_max_abs_difference"] = write_onnx(model, validation, output / "model.onnx")
    report["_run"]["total_seconds"] = round(time.perf_counter() - started, 1)
    (output / "run.json").write_text(json.dumps(report["_run"], indent=2, sort_keys=True))
    return report


def _validation_images(spec: dict[str, Any], count: int) -> dict[str, torch.Tensor]:
    """The first ``count`` validation samples as one batch (generated again from the dataset spec)."""
    from bag_of_bricks.datasets import shapes

    arguments = {key: value for key, value in spec.items() if key != "name"}
    data = shapes(**arguments)
    return {name: torch.stack([data[index][name] for index in range(count)]) for name in data.names}


LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric")


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Lightning's start-up chatter (accelerator lines, tips) off while the demo trains; warnings stay."""
    import torchbricks.training

    torchbricks.training.LightningBrickCollection  # noqa: B018 - imports Lightning, which sets its loggers' levels
    levels = {name: logging.getLogger(name).level for name in LIGHTNING_LOGGERS}
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")  # inside Lightning
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


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
    differences = onnx_max_abs_differences(path, model, {"images": data["images"][:4]})
    return max(differences.values())
