"""``torchbricks train CONFIG [--output DIR] [--set key=value ...] [--resume] [--threads N]``: the train run.

Config problems are listed with their paths before anything runs; see ``docs/training.md``. A progress bar
counts the steps on a terminal; when stderr is not one (a log file), a line every few steps replaces it.
Lightning's start-up chatter and its known deprecation noise are left out, as in ``torchbricks demo``.
"""

from __future__ import annotations

import argparse
import json


def add_train_command(commands: argparse._SubParsersAction) -> None:
    """Register ``train`` on the ``torchbricks`` parser."""
    train = commands.add_parser(
        "train",
        help="train a model from a train config (model, data, trainer, optimizer); needs torchbricks[train]",
        description="Train with Lightning from one YAML/JSON config; writes model/, metrics.json, logs/.",
    )
    train.add_argument("config", help="train config file (.json, .yaml, .yml)")
    train.add_argument("--output", default="train_output", metavar="DIR", help="output folder (default: train_output)")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by its dotted path (trainer.max_steps=100, data.train.0.count=64); repeatable",
    )
    train.add_argument("--resume", action="store_true", help="continue from DIR/checkpoints/last.ckpt")
    train.add_argument(
        "--check",
        action="store_true",
        help="only check the config (datasets and model built, nothing trained or written) and print it resolved",
    )
    train.add_argument(
        "--threads",
        type=_positive_int,
        help="torch threads (default: the config's threads: auto picks every core, idle threads sleeping)",
    )
    train.set_defaults(handler=run_train)


def run_train(arguments: argparse.Namespace) -> int:
    """Validate the config, train, and print the validation metrics."""
    import sys

    from torchbricks.training import check_training, is_main_process, quiet_lightning, train

    overrides = [*arguments.overrides, *([f"threads={arguments.threads}"] if arguments.threads else [])]
    with quiet_lightning():
        if arguments.check:
            print(json.dumps(check_training(arguments.config, overrides), indent=2, default=str))
            return 0
        report = train(
            arguments.config,
            arguments.output,
            overrides=overrides,
            resume=arguments.resume,
            progress=True if sys.stderr.isatty() else "lines",
        )
    if not is_main_process():  # under DDP every process trains; one prints
        return 0
    for task, metrics in report.items():
        if task.startswith("_"):
            continue
        print(f"{task:>16} " + "  ".join(f"{name} {value:.4f}" for name, value in metrics.items()))
    print(f"Trained {trained_summary(report['_run'])}; outputs in {arguments.output}/")
    return 0


def trained_summary(run: dict) -> str:
    """``400 steps in 75.2 s (2 threads, 0.18 s per step)``, with the first step apart when it compiled.

    Example:
        >>> trained_summary({"steps": 3, "train_seconds": 9.1, "threads": 1, "first_step_seconds": 8.2,
        ...                  "step_seconds": 0.3, "compiled": True})
        '3 steps in 9.1 s (1 thread; first step 8.2 s with compiling, then 0.3 s per step)'
    """
    details = [f"{run['threads']} thread{'s' * (run['threads'] != 1)}"] if "threads" in run else []
    if "step_seconds" in run:
        if run.get("compiled"):
            first = f"first step {run['first_step_seconds']} s with compiling"
            details.append(f"{first}, then {run['step_seconds']} s per step")
        else:
            details.append(f"{run['step_seconds']} s per step")
    return f"{run['steps']} steps in {run['train_seconds']} s" + (f" ({'; '.join(details)})" if details else "")


def _positive_int(text: str) -> int:
    """An argparse type: an integer above zero (argparse turns the ValueError into a usage error)."""
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return value


_positive_int.__name__ = "positive int"  # argparse's message: "invalid positive int value: '0'"
