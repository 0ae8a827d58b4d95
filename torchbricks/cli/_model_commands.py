"""``torchbricks build``: build a model from a config, and optionally load weights, export or save it."""

from __future__ import annotations

import argparse
from pathlib import Path

ONNX_INPUT_CONTRACT = (
    "float32 images [batch, channels, height, width] with values in [0, 1] "
    "(the exported graph is traced with float input; the PyTorch model also accepts uint8 in [0, 255])"
)


def add_model_commands(commands: argparse._SubParsersAction) -> None:
    """Register ``build`` on the ``torchbricks`` parser."""
    build = commands.add_parser(
        "build",
        help="build a model from a config (JSON/YAML) and optionally export/save it",
        description=f"Build a model from a config. The ONNX file's image input is {ONNX_INPUT_CONTRACT}.",
    )
    build.add_argument("config", help="config file (.json, .yaml, .yml)")
    build.add_argument("--graph", action="store_true", help="print the model's Mermaid graph")
    build.add_argument(
        "--weights",
        metavar="DIR",
        help="load trained weights first: a model folder (from save_model/train) or a weights folder (save_bricks)",
    )
    build.add_argument("--export", metavar="MODEL.onnx", help="export the inference graph to ONNX (checked)")
    build.add_argument(
        "--outputs",
        metavar="NAME,NAME",
        help="ONNX outputs to keep (default: every name the inference bricks write); e.g. shapes/present,seg/class_map",
    )
    build.add_argument("--save", metavar="DIR", help="save the model folder (config + weights)")
    build.set_defaults(handler=run_build)


def run_build(arguments: argparse.Namespace) -> int:
    """Build (validating the config first), print a summary, and load/export/save when asked."""
    import torch

    from torchbricks import build_model, export_bricks_as_onnx, onnx_max_abs_differences, save_model, to_mermaid

    model = build_model(Path(arguments.config))
    config = model.config
    if arguments.weights:
        weights = Path(arguments.weights)
        model.load_bricks(weights / "weights" if (weights / "config.json").is_file() else weights, strict=True)
        print(f"Loaded weights from {weights}")
    model.eval()
    parameters = sum(parameter.numel() for parameter in model.parameters())
    bricks = len(list(model.named_bricks()))
    print(f"Built {bricks} bricks, {parameters:,} parameters, tasks: {', '.join(config['tasks'])}")
    print(f"Inference needs: {', '.join(model.required_inputs('inference'))}")
    print(f"Training needs: {', '.join(model.required_inputs('train'))}")
    if arguments.graph:
        print(to_mermaid(model))
    if arguments.export:
        outputs = [name.strip() for name in arguments.outputs.split(",") if name.strip()] if arguments.outputs else None
        example = {config["image"]: torch.rand(2, *config["input_shape"])}
        path = export_bricks_as_onnx(arguments.export, model, example, dynamic_batch_size=True, output_names=outputs)
        check = {config["image"]: torch.rand(3, *config["input_shape"])}
        differences = onnx_max_abs_differences(path, model, check)
        print(f"Exported {path}: outputs {', '.join(differences)}")
        print(f"  input '{config['image']}': {ONNX_INPUT_CONTRACT}")
        print(f"  onnxruntime vs PyTorch: max |difference| {max(differences.values()):.2e}")
    if arguments.save:
        print(f"Saved {save_model(model, arguments.save, exist_ok=True)}")
    return 0
