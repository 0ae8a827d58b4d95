"""``torchbricks verify MODEL``: every file against checksums.sha256, the model loads and runs, ONNX agrees."""

from __future__ import annotations

import argparse


def add_verify_command(commands: argparse._SubParsersAction) -> None:
    """Register ``verify`` on the ``torchbricks`` parser."""
    verify = commands.add_parser(
        "verify",
        help="check a model folder: checksums of every file, load, one forward, ONNX vs PyTorch; exit 1 if not intact",
        description=(
            "Re-hash every file of a model folder against its checksums.sha256 and name each that changed or is "
            "missing; load the model and run one forward on a random image of the recorded size; run each .onnx "
            "file in the folder in onnxruntime and compare it with PyTorch. Files added after the save (model.onnx "
            "from predict --onnx) are reported as not covered, a failure only with --strict."
        ),
    )
    verify.add_argument("model", help="model folder")
    verify.add_argument("--strict", action="store_true", help="files not covered by checksums.sha256 fail the check")
    verify.add_argument("--no-onnx", action="store_true", help="do not run the folder's ONNX files")
    verify.set_defaults(handler=run_verify)


def run_verify(arguments: argparse.Namespace) -> int:
    """Print what passed and what failed; exit code 1 when anything failed."""
    import sys

    from torchbricks.assembly import verify_model

    report = verify_model(arguments.model, strict=arguments.strict, onnx=not arguments.no_onnx)
    for note in report.notes:
        print(f"ok    {note}")
    for problem in report.problems:
        print(f"FAIL  {problem}")
    if report.ok:
        print(f"{arguments.model}: intact")
        return 0
    print(f"torchbricks verify: {arguments.model}: {len(report.problems)} problem(s)", file=sys.stderr)
    return 1
