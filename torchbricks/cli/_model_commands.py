"""``torchbricks build``: build a model from a config, and optionally export or save it."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_model_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``build`` on the ``torchbricks`` parser."""
    build = commands.add_parser("build", help="build a model from a config (JSON/YAML) and optionally export/save it")
    build.add_argument("config", help="config file (.json, .yaml, .yml)")
    build.add_argument("--graph", action="store_true", help="print the model's Mermaid graph")
    build.add_argument("--export", metavar="MODEL.onnx", help="export the inference graph to ONNX (checked)")
    build.add_argument("--save", metavar="DIR", help="save the model folder (config + weights)")
    build.set_defaults(handler=run_build)


def run_build(arguments: argparse.Namespace) -> int:
    """Build (validating the config first), print a summary, and export/save when asked."""
    import torch

    from torchbricks import build_model, export_bricks_as_onnx, onnx_max_abs_differences, save_model, to_mermaid

    model = build_model(Path(arguments.config))
    config = model.config
    parameters = sum(parameter.numel() for parameter in model.parameters())
    bricks = len(list(model.named_bricks()))
    print(f"Built {bricks} bricks, {parameters:,} parameters, tasks: {', '.join(config['tasks'])}")
    print(f"Inference needs: {', '.join(model.required_inputs('inference'))}")
    print(f"Training needs: {', '.join(model.required_inputs('train'))}")
    if arguments.graph:
        print(to_mermaid(model))
    if arguments.export:
        example = {config["image"]: torch.rand(2, *config["input_shape"])}
        path = export_bricks_as_onnx(arguments.export, model, example, dynamic_batch_size=True)
        check = {config["image"]: torch.rand(3, *config["input_shape"])}
        difference = max(onnx_max_abs_differences(path, model, check).values())
        print(f"Exported {path} (onnxruntime vs PyTorch: max |difference| {difference:.2e})")
    if arguments.save:
        print(f"Saved {save_model(model, arguments.save, exist_ok=True)}")
    return 0
