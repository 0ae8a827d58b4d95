"""The demo's targets: held-out metrics of the three-task model after at most 3 minutes of CPU training.

Runs ``torchbricks demo`` with its default settings (or ``--steps``) into a temporary folder and
reports each task's held-out metric against its target, the training time against the 3-minute
budget, and, for scale, the same metrics of the untrained model (the baseline of this run).

Targets (held-out split, 2 CPU cores): multi-label exact match ≥ 0.95, mean IoU (background + 3
shapes) ≥ 0.85, point-detection F1 ≥ 0.90 (class must match, within 4 px); training ≤ 150 s.

Run: ``.venv/bin/python benchmarks/bench_demo.py [--check] [--steps N] [--threads N]``
"""

from __future__ import annotations

import sys
import tempfile
import warnings

import torch
from common import Target, argument_parser, console, print_table, report_targets

TRAINING_BUDGET_SECONDS = 150.0


def main() -> int:
    """Run the demo once; return the exit code."""
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="training steps (default: the demo's)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from bag_of_bricks.demo.run import DEMO_CONFIG, TARGETS, DemoSettings, run_demo
    from bag_of_bricks.demo.shapes import make_shapes_batch
    from torchbricks.assembly import build_model
    from torchbricks.training import flatten_metrics
    from torchbricks.training._module import task_metrics

    def evaluate(model, data, batch_size):
        model.eval()
        with torch.no_grad():
            for start in range(0, len(data["images"]), batch_size):
                model({name: value[start : start + batch_size] for name, value in data.items()}, groups="validation")
        nested: dict = {}
        for key, value in flatten_metrics(task_metrics(model, reset=True)).items():
            task, _, metric = key.rpartition("/")
            nested.setdefault(task, {})[metric] = value
        return nested

    settings = DemoSettings()
    if args.steps:
        settings.steps = args.steps
    if args.threads:
        settings.threads = args.threads
    untrained = evaluate(build_model(DEMO_CONFIG), make_shapes_batch(256, seed=settings.seed + 1), 64)
    with tempfile.TemporaryDirectory() as folder:
        report = run_demo(folder, settings, show_progress=False)
    run = report["_run"]
    rows: list[list[str]] = []
    targets = []
    for task, (metric, target) in TARGETS.items():
        value = report[task][metric]
        rows.append([task, metric, f"{value:.4f}", f"≥ {target:.2f}", f"{untrained[task][metric]:.4f}"])
        targets.append(Target(f"{task} {metric}", value >= target, f"{value:.4f}", f"≥ {target:.2f}"))
    print_table(
        f"Held-out metrics after {run['steps']} steps of batch {settings.batch_size}",
        ["task", "metric", "trained", "target", "untrained (baseline)"],
        rows,
    )
    console.print(
        f"training {run['train_seconds']} s ({run['steps'] / max(run['train_seconds'], 1e-9):.2f} steps/s), whole demo "
        f"{run['total_seconds']} s; ONNX vs PyTorch max |difference| {run['onnx_max_abs_difference']:.2e}"
    )
    targets.append(
        Target(
            "training time",
            run["train_seconds"] <= TRAINING_BUDGET_SECONDS,
            f"{run['train_seconds']} s",
            f"≤ {TRAINING_BUDGET_SECONDS:.0f} s",
        )
    )
    return report_targets(targets, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
