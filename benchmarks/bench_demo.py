"""The demo's targets: held-out metrics of the three-task model after 400 seeded steps, within 150 s of training.

Runs ``torchbricks demo`` (a ``torchbricks train`` run with the built-in config) into a temporary
folder and reports each task's held-out metric against its target, the training time against the
150-second budget and, for scale, the same metrics of the untrained model (the baseline of this run).
``--twice`` runs the demo a second time and checks that it writes the same ``metrics.json``.

Targets (held-out split, 2 quiet CPU cores): multi-label exact match ≥ 0.95, mean IoU (background +
3 shapes) ≥ 0.85, point-detection F1 ≥ 0.90 (class must match, within 4 px); training ≤ 150 s.

Run: ``.venv/bin/python benchmarks/bench_demo.py [--check] [--twice] [--steps N] [--threads N]``
"""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path

import torch
from common import Target, argument_parser, console, print_table, report_targets

TRAINING_BUDGET_SECONDS = 150.0


def untrained_metrics(count: int = 256) -> dict[str, dict[str, float]]:
    """The metrics of the demo's model before training, on the demo's validation images."""
    from bag_of_bricks.demo.run import DEMO_CONFIG
    from bag_of_bricks.shapes import make_shapes_batch
    from torchbricks.assembly import build_model

    torch.manual_seed(0)
    model = build_model(DEMO_CONFIG).eval()
    data = make_shapes_batch(count, seed=1)
    with torch.no_grad():
        for start in range(0, count, 64):
            model({name: value[start : start + 64] for name, value in data.items()}, groups="validation")
    metrics: dict[str, dict[str, float]] = {}
    for key, value in model.summarize(reset=True).items():
        task, _, metric = key.partition("/")
        metrics.setdefault(task, {})[metric] = float(value)
    return metrics


def main() -> int:
    """Run the demo once (or twice); return the exit code."""
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="training steps (default: the demo's 400)")
    parser.add_argument("--threads", type=int, help="torch threads (default: the thread policy's choice)")
    parser.add_argument("--twice", action="store_true", help="run twice and compare the metrics.json files")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from bag_of_bricks.demo.run import TARGETS, run_demo

    overrides = [f"trainer.max_steps={args.steps}"] if args.steps else []
    if args.threads:
        overrides.append(f"threads={args.threads}")  # train() applies its thread policy; the key overrides it
    untrained = untrained_metrics()
    reports, files = [], []
    with tempfile.TemporaryDirectory() as folder:
        for run_index in range(2 if args.twice else 1):
            output = Path(folder) / f"run{run_index}"
            reports.append(run_demo(output, overrides, show_progress=False))
            files.append((output / "metrics.json").read_bytes())
    report = reports[0]
    run = report["_run"]
    rows: list[list[str]] = []
    targets = []
    for task, (metric, target) in TARGETS.items():
        value = report[task][metric]
        rows.append([task, metric, f"{value:.4f}", f"≥ {target:.2f}", f"{untrained[task][metric]:.4f}"])
        targets.append(Target(f"{task} {metric}", value >= target, f"{value:.4f}", f"≥ {target:.2f}"))
    print_table(
        f"Held-out metrics after {run['steps']} steps",
        ["task", "metric", "trained", "target", "untrained (baseline)"],
        rows,
    )
    seconds = ", ".join(f"{item['_run']['train_seconds']} s" for item in reports)
    console.print(
        f"training {seconds}; whole demo {run['total_seconds']} s; "
        f"ONNX vs PyTorch max |difference| {run['onnx_max_abs_difference']:.2e}"
    )
    slowest = max(item["_run"]["train_seconds"] for item in reports)
    targets.append(
        Target(
            "training time", slowest <= TRAINING_BUDGET_SECONDS, f"{slowest} s", f"≤ {TRAINING_BUDGET_SECONDS:.0f} s"
        )
    )
    if args.twice:
        targets.append(Target("the same metrics.json twice", files[0] == files[1], str(files[0] == files[1]), "True"))
    return report_targets(targets, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
