"""The demo's targets: held-out metrics of the three-task model after at most 3 minutes of CPU training.

Runs ``torchbricks demo`` with its default settings (or ``--steps``) into a temporary folder and
reports each task's held-out metric against its target, the training time against the 3-minute
budget, and, for scale, the same metrics of the untrained model (the baseline of this run).

Targets (held-out split, 2 CPU cores): multi-label exact match ≥ 0.95, mean IoU (background + 3
shapes) ≥ 0.85, point-detection F1 ≥ 0.90 (class must match, within 4 px); training ≤ 180 s.

Run: ``.venv/bin/python benchmarks/bench_demo.py [--check] [--steps N] [--threads N]``
"""

from __future__ import annotations

import sys
import tempfile
import warnings

from common import Target, argument_parser, console, print_table, report_targets

TRAINING_BUDGET_SECONDS = 180.0


def main() -> int:
    """Run the demo once; return the exit code."""
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="a fixed number of training steps (default: the time budget)")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    from bag_of_bricks.demo.run import DEMO_CONFIG, TARGETS, DemoSettings, evaluate, run_demo
    from bag_of_bricks.demo.shapes import make_shapes_batch
    from torchbricks.assembly import build_model

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
        f"Held-out metrics after {run['train_steps']} steps of batch {settings.batch_size}",
        ["task", "metric", "trained", "target", "untrained (baseline)"],
        rows,
    )
    console.print(
        f"training {run['train_seconds']} s, data generation {run['data_seconds']} s, whole demo "
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
