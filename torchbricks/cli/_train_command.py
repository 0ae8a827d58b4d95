"""``torchbricks train CONFIG [--output DIR] [--set key=value ...] [--resume]``: the train run from the shell.

Config problems are listed with their paths before anything runs; see ``docs/training.md``.
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
        help="override a config value by its dotted path (e.g. trainer.max_steps=100); repeatable",
    )
    train.add_argument("--resume", action="store_true", help="continue from DIR/checkpoints/last.ckpt")
    train.add_argument("--check", action="store_true", help="only validate the config and print it resolved")
    train.set_defaults(handler=run_train)


def run_train(arguments: argparse.Namespace) -> int:
    """Validate the config, train, and print the validation metrics."""
    import sys

    from torchbricks.training import is_main_process, load_train_config, train

    if arguments.check:
        print(json.dumps(load_train_config(arguments.config, arguments.overrides), indent=2, default=str))
        return 0
    report = train(
        arguments.config,
        arguments.output,
        overrides=arguments.overrides,
        resume=arguments.resume,
        progress=sys.stderr.isatty(),
    )
    if not is_main_process():  # under DDP every process trains; one prints
        return 0
    for task, metrics in report.items():
        if task.startswith("_"):
            continue
        print(f"{task:>16} " + "  ".join(f"{name} {value:.4f}" for name, value in metrics.items()))
    run = report["_run"]
    print(f"Trained {run['steps']} steps in {run['train_seconds']} s; outputs in {arguments.output}/")
    return 0
