"""``torchbricks demo``: the standard pack's command, added to the command line like any pack's command.

Registered in ``pyproject.toml`` under ``[project.entry-points."torchbricks.commands"]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torchbricks.cli import Command
from torchbricks.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options."""
    parser.add_argument("--output", default="demo_output", metavar="DIR", help="output folder (default: demo_output)")
    parser.add_argument("--quick", action="store_true", help="a few seconds of training: checks that everything runs")
    parser.add_argument(
        "--steps", type=positive(int), help="train this many seeded steps (default: 400; same steps, same figures)"
    )
    parser.add_argument(
        "--threads",
        type=positive(int),
        help="torch threads (default: every core, idle threads sleeping; the count prints in one line)",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value of the demo's train config by its dotted path (as torchbricks train --set)",
    )
    parser.add_argument(
        "--print-config",
        action="store_true",
        help="print the demo's train config (YAML; `torchbricks train` runs it from a file) and exit",
    )


def positive(kind: type) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` above zero (argparse turns the ValueError into a usage error)."""

    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise ValueError(text)
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def run(arguments: argparse.Namespace) -> int:
    """Train, evaluate and write the demo's output folder; print the metrics against their targets."""
    from bag_of_bricks.demo.run import DEMO_TRAIN_CONFIG, TARGETS, run_demo

    overrides = [*arguments.overrides, *([f"trainer.max_steps={arguments.steps}"] if arguments.steps else [])]
    overrides += [f"threads={arguments.threads}"] if arguments.threads else []
    if arguments.print_config:
        print(config_text(DEMO_TRAIN_CONFIG, overrides), end="")
        return 0
    output = Path(arguments.output)
    blocking = next((parent for parent in (output, *output.parents) if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        raise ConfigError(f"Cannot write the demo's outputs to '{output}': '{blocking}' is a file, not a folder")
    report = run_demo(output, overrides, quick=arguments.quick, show_progress=sys.stderr.isatty())
    for task, (metric, target) in TARGETS.items():
        value = report[task][metric]
        if arguments.quick:  # a few steps only check that everything runs; the targets are for the full demo
            print(f"{task:>14} {metric:<12} {value:.3f}  (quick run: the full demo's target is {target:.2f})")
            continue
        mark = "ok" if value >= target else "below target"
        print(f"{task:>14} {metric:<12} {value:.3f}  (target {target:.2f}: {mark})")
    run_info = report["_run"]
    print(
        f"Trained {run_info['steps']} steps in {run_info['train_seconds']} s; ONNX checked in onnxruntime "
        f"(max |difference| {run_info['onnx_max_abs_difference']:.2e}); outputs in {arguments.output}/"
    )
    return 0


def config_text(config: dict[str, Any], overrides: list[str]) -> str:
    """The config with ``overrides`` applied, as YAML (JSON when PyYAML is not installed)."""
    from torchbricks.training import apply_overrides

    config = apply_overrides(config, overrides)
    try:
        import yaml
    except ImportError:
        return json.dumps(config, indent=2) + "\n"
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=None)


demo_command = Command(
    help="train a three-task model on generated shapes (CPU, reproducible)",
    add_arguments=add_arguments,
    run=run,
)
