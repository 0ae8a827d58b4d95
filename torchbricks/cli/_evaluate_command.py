"""``torchbricks evaluate MODEL --data CONFIG``: the model's metrics on labelled data, per-class tables, pictures."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from torchbricks.cli._train_command import _positive_int


def add_evaluate_command(commands: argparse._SubParsersAction) -> None:
    """Register ``evaluate`` on the ``torchbricks`` parser."""
    evaluate = commands.add_parser(
        "evaluate",
        help="measure a saved model on labelled data: metrics.json, per-class tables, confusion matrices, PR curves",
        description=(
            "Run a saved model's metric bricks over the datasets of a data config (a dataset, a list of them, or a "
            "train config: its validation datasets), as training's validation does; write metrics.json (the train "
            "run's format), evaluation.json and per task a confusion matrix or precision-recall curve (JSON + PNG)."
        ),
    )
    evaluate.add_argument("model", help="model folder (from torchbricks train, demo or save_model)")
    evaluate.add_argument("--data", required=True, metavar="CONFIG", help="data config (.yaml/.json) or a dataset name")
    evaluate.add_argument(
        "--split", default="validation", choices=("validation", "train"), help="a train config's datasets to use"
    )
    evaluate.add_argument(
        "--output", default="evaluation_output", metavar="DIR", help="output folder (default: evaluation_output)"
    )
    evaluate.add_argument("--batch-size", type=_positive_int, default=32, metavar="N", help="images per batch")
    evaluate.add_argument("--num-workers", type=int, default=0, metavar="N", help="DataLoader worker processes")
    evaluate.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    evaluate.add_argument("--threads", type=_positive_int, help="torch threads (default: torch's choice)")
    evaluate.set_defaults(handler=run_evaluate)


def run_evaluate(arguments: argparse.Namespace) -> int:
    """Evaluate, write the files, print the metrics and each task's per-class table."""
    import sys

    import torch

    from torchbricks.cli._output import print_table
    from torchbricks.evaluation import evaluate

    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    result = evaluate(
        arguments.model,
        arguments.data,
        split=arguments.split,
        batch_size=arguments.batch_size,
        num_workers=arguments.num_workers,
        device=arguments.device,
        output=arguments.output,
    )
    tables = [(f"Metrics on {result.samples} samples", ["task", "metric", "value"], metric_rows(result.metrics))]
    for task, found in result.tasks.items():
        columns, rows = per_class_rows(found)
        if rows:
            tables.append((f"{task} ({found.kind.replace('_', ' ')}) per class", columns, rows))
    for title, columns, rows in tables:
        if not sys.stdout.isatty():  # plain tables have no title line of their own
            print(f"# {title}")
        print_table(title, columns, rows)
    print(f"Wrote {len(result.files)} files to {arguments.output}/")
    return 0


def per_class_rows(found: Any) -> tuple[list[str], list[list[str]]]:
    """The per-class table of a task as columns and text rows (for the command's summary)."""
    if not found.per_class:
        return [], []
    columns = list(found.per_class[0])
    rows = [[_cell(row[column]) for column in columns] for row in found.per_class]
    return columns, rows


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def metric_rows(metrics: Mapping[str, Mapping[str, float]]) -> list[Sequence[str]]:
    """``[task, metric, value]`` rows of ``metrics.json``'s content."""
    return [[task, name, f"{value:.4f}"] for task, values in metrics.items() for name, value in sorted(values.items())]
