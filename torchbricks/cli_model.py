"""``torchbricks build`` and ``torchbricks demo``: the model-building commands of the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_model_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``build`` and ``demo`` on the ``torchbricks`` parser."""
    build = commands.add_parser("build", help="build a model from a config (JSON/YAML) and optionally export/save it")
    build.add_argument("config", help="config file (.json, .yaml, .yml)")
    build.add_argument("--graph", action="store_true", help="print the model's Mermaid graph")
    build.add_argument("--export", metavar="MODEL.onnx", help="export the inference graph to ONNX (checked)")
    build.add_argument("--save", metavar="DIR", help="save the model folder (config + weights)")

    demo = commands.add_parser("demo", help="train a three-task model on generated shapes (CPU, ~3 min)")
    demo.add_argument("--output", default="demo_output", metavar="DIR", help="output folder (default: demo_output)")
    demo.add_argument("--quick", action="store_true", help="a few seconds of training: checks that everything runs")
    demo.add_argument("--steps", type=int, help="train a fixed number of steps (default: for --train-seconds)")
    demo.add_argument("--train-seconds", type=float, help="training time budget in seconds (default: 165)")
    demo.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")


def run_build(arguments: argparse.Namespace) -> int:
    """Build (validating the config first), print a summary, and export/save when asked."""
    import torch

    from torchbricks.model_config import build_model
    from torchbricks.model_folder import save_model

    model = build_model(Path(arguments.config))
    config = model.config
    parameters = sum(parameter.numel() for parameter in model.parameters())
    bricks = len(list(model.named_bricks()))
    print(f"Built {bricks} bricks, {parameters:,} parameters, tasks: {', '.join(config['tasks'])}")
    print(f"Inference needs: {', '.join(model.required_inputs('inference'))}")
    print(f"Training needs: {', '.join(model.required_inputs('train'))}")
    if arguments.graph:
        from torchbricks.graph_plotter import create_mermaid_dag_graph

        print(create_mermaid_dag_graph(model))
    if arguments.export:
        from torchbricks.brick_collection_utils import export_bricks_as_onnx, onnx_max_abs_differences

        example = {config["image"]: torch.rand(2, *config["input_shape"])}
        path = export_bricks_as_onnx(arguments.export, model, example, dynamic_batch_size=True)
        check = {config["image"]: torch.rand(3, *config["input_shape"])}
        difference = max(onnx_max_abs_differences(path, model, check).values())
        print(f"Exported {path} (onnxruntime vs PyTorch: max |difference| {difference:.2e})")
    if arguments.save:
        print(f"Saved {save_model(model, arguments.save, exist_ok=True)}")
    return 0


def run_demo_command(arguments: argparse.Namespace) -> int:
    """Train, evaluate and write the demo's output folder; print the metrics against their targets."""
    from bag_of_bricks.demo.run import TARGETS, DemoSettings, run_demo

    settings = DemoSettings.quick() if arguments.quick else DemoSettings()
    if arguments.steps:
        settings.steps = arguments.steps
    if arguments.train_seconds:
        settings.train_seconds, settings.steps = arguments.train_seconds, None
    if arguments.threads:
        settings.threads = arguments.threads
    report = run_demo(arguments.output, settings, show_progress=sys.stderr.isatty())
    for task, (metric, target) in TARGETS.items():
        value = report[task][metric]
        mark = "ok" if value >= target else "below target"
        print(f"{task:>14} {metric:<12} {value:.3f}  (target {target:.2f}: {mark})")
    run = report["_run"]
    print(
        f"Trained {run['train_steps']} steps in {run['train_seconds']} s; ONNX checked in onnxruntime "
        f"(max |difference| "
        f"{run['onnx_max_abs_difference']:.2e}); outputs in {arguments.output}/"
    )
    return 0
