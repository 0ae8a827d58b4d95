"""Fine-tuning from the demo: a new task reaches its target in fewer steps from the demo's bricks than from scratch.

The demo model (multi-label shapes, segmentation, centres) is trained briefly with the demo's own train
config (``torchbricks.training.train``) — or ``--model`` reuses a saved demo model folder (a demo run's
``model/``). Then a NEW task is trained on new shapes images: **how many shapes** the image holds
(single-label classification, classes ``one``/``two``/``three`` — classes the demo never had), twice,
from the same seed, batches and optimizer:

* **fine-tuned**: the model config has ``weights: {from: <demo model>, bricks: [backbone, neck]}``, so
  the new model starts from the demo's backbone and neck (the new head is fresh);
* **scratch**: the same config without ``weights``.

Each run's held-out accuracy (256 images) is measured every ``--eval-every`` steps; the script prints
both curves, the steps each run needs to reach the target accuracy (``--target``, default 0.70, held at
two evaluations in a row), and their ratio. Target: the fine-tuned run needs fewer steps (PASS). A run
that never reaches it counts as needing more than ``--steps``. One torch thread by default: on a busy
2-core machine more threads oversubscribe it (a run took > 10x longer with two).

Run: ``.venv/bin/python benchmarks/bench_finetune.py [--model demo_output/model] [--steps N] [--target A]
[--quick] [--check]`` (``--quick``: a smoke run of a few steps; its figures mean nothing).
"""

from __future__ import annotations

import copy
import itertools
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from common import Target, argument_parser, console, print_header, print_table, report_targets

COUNT_CLASSES = ["one", "two", "three"]
BATCH_SIZE = 32
TRAIN_SEED, VALIDATION_SEED = 10, 11  # not the demo's seeds (0 and 1): images the demo never saw


def count_data(count: int, seed: int) -> dict[str, torch.Tensor]:
    """Shapes images with the new task's label: how many shapes are drawn (0: one ... 2: three)."""
    from bag_of_bricks.shapes import make_shapes_batch

    batch = make_shapes_batch(count, seed=seed)
    return {"images": batch["images"], "count": (batch["points"][:, :, 2] >= 0).sum(dim=1) - 1}


def train_demo(folder: Path, steps: int, quick: bool = False) -> Path:
    """The demo model after ``steps`` steps of the demo's own train run (``torchbricks train``); its model folder."""
    from bag_of_bricks.demo.run import DEMO_TRAIN_CONFIG, QUICK_OVERRIDES, _quiet_lightning
    from torchbricks.training import train

    overrides = [
        *(QUICK_OVERRIDES if quick else ()),
        f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={steps}",
        "data.validation[0].count=256",
        "visualizations=0",
    ]
    with _quiet_lightning():
        train(DEMO_TRAIN_CONFIG, folder, overrides=overrides, progress=False)
    return folder / "model"


def new_task_config(demo_model: Path | None) -> dict[str, Any]:
    """The demo's preprocessor, backbone and neck with one new task; starting from the demo's bricks if given."""
    from bag_of_bricks.demo.run import DEMO_CONFIG

    config = {
        key: copy.deepcopy(DEMO_CONFIG[key]) for key in ("image", "preprocessor", "backbone", "neck", "input_shape")
    }
    config["tasks"] = {
        "count": {
            "task": "image_classification",
            "feature_kind": "dense",  # the neck's stride-4 map, as the demo's shape tasks read
            "num_classes": len(COUNT_CLASSES),
            "targets": "count",
            "class_names": COUNT_CLASSES,
        }
    }
    if demo_model is not None:
        config["weights"] = {"from": str(demo_model), "bricks": ["backbone", "neck"]}
    return config


def accuracy(model: torch.nn.Module, data: dict[str, torch.Tensor]) -> float:
    """Held-out accuracy of the count task (eval mode, batches of 128)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(data["images"]), 128):
            images = data["images"][start : start + 128].contiguous(memory_format=torch.channels_last)
            predicted = model({"images": images}, groups="MODEL")["count/class_prediction"]
            correct += int((predicted == data["count"][start : start + 128]).sum())
    model.train()
    return correct / len(data["images"])


def train_new_task(
    config: dict[str, Any], train_data: dict, validation: dict, steps: int, every: int, seed: int, lr: float
) -> tuple[list[tuple[int, float]], Any, float]:
    """Train the new task from ``config``; ``([(step, held-out accuracy)], start report, seconds)``."""
    from torchbricks import build_model

    torch.manual_seed(seed)  # the same fresh head (and scratch backbone) in both runs
    model = build_model(config).to(memory_format=torch.channels_last).train()
    report = getattr(model, "start_report", None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    order = torch.randperm(len(train_data["images"]), generator=torch.Generator().manual_seed(seed))
    curve = [(0, accuracy(model, validation))]
    started = time.perf_counter()
    for step in range(1, steps + 1):
        start = ((step - 1) * BATCH_SIZE) % (len(order) - BATCH_SIZE + 1)
        indexes = order[start : start + BATCH_SIZE]
        batch = {
            "images": train_data["images"][indexes].contiguous(memory_format=torch.channels_last),
            "count": train_data["count"][indexes],
        }
        loss = sum(model.extract_losses(model(batch, groups={"MODEL", "LOSS"})).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % every == 0 or step == steps:
            curve.append((step, accuracy(model, validation)))
    return curve, report, time.perf_counter() - started


def steps_to_target(curve: list[tuple[int, float]], target: float) -> int | None:
    """The first evaluated step from which held-out accuracy stays at ``target`` or above for two evaluations in a
    row (one lucky evaluation does not count); ``None``: never.

    Example:
        >>> steps_to_target([(0, 0.3), (10, 0.9), (20, 0.5), (30, 0.85), (40, 0.82)], 0.8)
        30
    """
    return next(
        (step for (step, value), (_, after) in itertools.pairwise(curve) if value >= target and after >= target), None
    )


def main() -> int:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a saved demo model folder (default: train the demo briefly)")
    parser.add_argument("--demo-steps", type=int, default=150, help="demo training steps when --model is not given")
    parser.add_argument("--steps", type=int, default=150, help="training steps of each new-task run")
    parser.add_argument("--eval-every", type=int, default=10, help="held-out accuracy every N steps")
    parser.add_argument(
        "--target", type=float, default=0.70, help="held-out accuracy to reach (two evaluations in a row)"
    )
    parser.add_argument("--train-count", type=int, default=3200, help="new-task training images")
    parser.add_argument("--validation-count", type=int, default=256, help="new-task held-out images")
    parser.add_argument("--lr", type=float, default=5e-4, help="AdamW learning rate of both runs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (default 1: on a shared machine more oversubscribe)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: a few steps; the figures mean nothing")
    args = parser.parse_args()
    if args.quick:
        args.demo_steps, args.steps, args.eval_every = 4, 6, 2
        args.train_count, args.validation_count = 256, 64
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    print_header(__doc__.splitlines()[0], "wall")
    with tempfile.TemporaryDirectory() as folder:
        demo_model = args.model
        demo_seconds = 0.0
        if demo_model is None:
            started = time.perf_counter()
            demo_model = train_demo(Path(folder) / "demo", args.demo_steps, args.quick)
            demo_seconds = time.perf_counter() - started
            console.print(f"demo trained for {args.demo_steps} steps in {demo_seconds:.0f} s → {demo_model}")
        train_data = count_data(args.train_count, TRAIN_SEED)
        validation = count_data(args.validation_count, VALIDATION_SEED)
        majority = float(torch.bincount(validation["count"], minlength=3).max()) / len(validation["count"])
        runs = {}
        for name, source in (("fine-tuned", demo_model), ("scratch", None)):
            curve, report, seconds = train_new_task(
                new_task_config(source), train_data, validation, args.steps, args.eval_every, args.seed, args.lr
            )
            runs[name] = (curve, seconds)
            if report is not None:
                console.print(report.summary())
    steps = {name: steps_to_target(curve, args.target) for name, (curve, _) in runs.items()}
    print_table(
        f"Held-out accuracy of the new task (how many shapes: {'/'.join(COUNT_CLASSES)}; majority class "
        f"{majority:.3f})",
        ["step", *runs],
        [
            (step, *(f"{runs[name][0][index][1]:.3f}" for name in runs))
            for index, (step, _) in enumerate(runs["fine-tuned"][0])
        ],
    )
    never = f"> {args.steps} (not reached)"
    print_table(
        f"Steps to reach held-out accuracy {args.target:.2f}",
        ["run", "steps", "final accuracy", "seconds"],
        [
            (name, steps[name] if steps[name] is not None else never, f"{curve[-1][1]:.3f}", f"{seconds:.0f}")
            for name, (curve, seconds) in runs.items()
        ],
    )
    tuned, scratch = steps["fine-tuned"], steps["scratch"]
    if tuned is None:
        ratio, passed = "fine-tuning never reached the target", False
    elif scratch is None:
        ratio, passed = f"scratch / fine-tuned > {args.steps / tuned:.1f}", True
    else:
        ratio, passed = f"scratch / fine-tuned = {scratch / tuned:.1f} ({scratch} / {tuned} steps)", tuned < scratch
    measured = f"fine-tuned {tuned if tuned is not None else never} steps, scratch {scratch or never}; {ratio}"
    return report_targets(
        [
            Target(
                "fine-tuning from the demo needs fewer steps",
                passed,
                measured,
                f"fewer steps than scratch to {args.target:.2f}",
            )
        ],
        check=args.check,
    )


if __name__ == "__main__":
    sys.exit(main())
