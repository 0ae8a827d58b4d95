"""``torchbricks predict MODEL INPUT... [--output DIR] [--data CONFIG] [--batch-size N] [--threads N] [--device D]
[--draw] [--compile | --onnx]``: a saved model on images, one JSON line per image.

Writes ``DIR/predictions.jsonl`` (streamed, one line per image), ``DIR/errors.jsonl`` (one line per image
that could not be read), ``DIR/masks/`` and, with ``--draw``, ``DIR/pictures/``; see
:mod:`torchbricks.inference`. The exit code is 0 when every image was predicted, 1 when any failed (they
are listed in ``errors.jsonl``) or nothing could run.
"""

from __future__ import annotations

import argparse
import sys

from torchbricks.cli._train_command import _positive_int

DEFAULT_OUTPUT = "predictions"


def add_predict_command(commands: argparse._SubParsersAction) -> None:
    """Register ``predict`` on the ``torchbricks`` parser."""
    predict = commands.add_parser(
        "predict",
        help="run a saved model on images (files, folders, globs) or a dataset; writes predictions.jsonl",
        description=(
            "Run a saved model on images of any size: one JSON line per image in DIR/predictions.jsonl with "
            "class names and scores, points and boxes in the image's pixels, masks as PNG files. Unreadable "
            "images go to DIR/errors.jsonl and the run goes on; the exit code is 1 when any failed."
        ),
    )
    predict.add_argument("model", help="a model folder (save_model's, or a train run's model/)")
    predict.add_argument(
        "inputs", nargs="*", metavar="INPUT", help="image files, folders (searched recursively), globs"
    )
    predict.add_argument(
        "--output", default=DEFAULT_OUTPUT, metavar="DIR", help=f"output folder (default: {DEFAULT_OUTPUT})"
    )
    predict.add_argument(
        "--data",
        metavar="CONFIG",
        help="a YAML/JSON file naming a dataset ({name: image_folder, root: ...}) or a train config (validation set)",
    )
    predict.add_argument("--batch-size", type=_positive_int, default=16, metavar="N", help="images per batch (16)")
    predict.add_argument("--threads", type=_positive_int, metavar="N", help="torch/onnxruntime threads")
    predict.add_argument("--workers", type=_positive_int, metavar="N", help="threads reading images (default: up to 4)")
    predict.add_argument("--device", default="cpu", help="where the model runs: cpu (default), cuda, cuda:1, ...")
    predict.add_argument(
        "--top-k", type=_positive_int, default=5, metavar="K", help="classes listed per classification"
    )
    predict.add_argument("--draw", action="store_true", help="also write each task's pictures to DIR/pictures/")
    backend = predict.add_mutually_exclusive_group()
    backend.add_argument("--compile", action="store_true", help="run the model through torch.compile")
    backend.add_argument(
        "--onnx", action="store_true", help="run the model in onnxruntime (exported to MODEL/model.onnx on first use)"
    )
    predict.set_defaults(handler=run_predict)


def run_predict(arguments: argparse.Namespace) -> int:
    """Predict into the output folder; print a summary; 1 when any image failed."""
    from torchbricks.errors import PredictError
    from torchbricks.inference import dataset_from_config, write_predictions

    if not arguments.inputs and not arguments.data:
        raise PredictError("Give images to predict on (files, folders, globs) or --data CONFIG")
    images: list = list(arguments.inputs)
    if arguments.data:
        images.append(dataset_from_config(arguments.data))
    backend = "compile" if arguments.compile else "onnx" if arguments.onnx else "eager"
    summary = write_predictions(
        arguments.model,
        images,
        arguments.output,
        batch_size=arguments.batch_size,
        backend=backend,
        device=arguments.device,
        threads=arguments.threads,
        workers=arguments.workers,
        top_k=arguments.top_k,
        draw=arguments.draw,
        progress=True,
    )
    print(f"Predicted {summary.images} image(s); outputs in {summary.output}/")
    if summary.failed:
        for failure in summary.errors[:3]:
            image, reason = str(failure.get("image", "?")), failure["error"]
            print(f"  failed: {reason if image in reason else f'{image}: {reason}'}", file=sys.stderr)
        print(f"{summary.failed} image(s) could not be read: see {summary.output}/errors.jsonl", file=sys.stderr)
        return 1
    return 0
