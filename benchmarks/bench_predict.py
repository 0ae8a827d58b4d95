"""``predict``'s backends on the demo model: eager, ``torch.compile`` and ONNX Runtime, at batch 1 and 32.

The demo's architecture (its model config: ResNet-18 stages 2-3, upsampling neck, multi-label + segmentation
+ point detection) with seeded random weights, saved as a model folder trained at 64x64. Each backend is
the very one ``predict`` uses for a model folder (:func:`torchbricks.inference._backends.create_backend`,
eager and compile in channels-last memory): a batch of the
demo's shapes images (already at 64x64, as ``predict`` hands them over) in, the outputs ``predict`` reads
out as numpy arrays. The three backends take turns call by call (the order rotating every round), each
call timed on its own: p50 and p95 latency per batch, and images/s = batch size / p50. One thread each
(``torch.set_num_threads``, onnxruntime's ``intra_op_num_threads``) and the CPU clock by default, so
the figures hold on a busy machine; ``--threads N --clock wall`` measures N threads in elapsed time.
Compilation and ONNX export happen before the timing and are reported apart.

Correctness: each backend's outputs on the same batch against eager's — scores within 1e-3, at most
0.5 % of the mask pixels different, points within 0.05 px (classes equal). The fastest correct backend at
batch 32 is the recommendation. ``--end-to-end`` also runs ``predict()`` over 256 PNG files per backend
(reading, resizing, masks written): setup to the first result, then images/s (wall) and the process's CPU
time per image (all threads).

Run: ``.venv/bin/python benchmarks/bench_predict.py [--check] [--quick] [--repeats N] [--end-to-end]``
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from common import CLOCKS, Target, argument_parser, console, print_header, print_table, report_targets

BACKENDS = ("eager", "compile", "onnx")
SIZE = 64


def demo_model_folder(folder: Path) -> Path:
    """The demo's architecture with seeded random weights, saved as trained at 64x64."""
    from bag_of_bricks.demo.run import DEMO_CONFIG
    from torchbricks import build_model, save_model

    torch.manual_seed(0)
    model = build_model(DEMO_CONFIG).eval()
    return save_model(model, folder / "model", input_contract={"size": [SIZE, SIZE], "resize": "stretch"}, card=False)


def demo_images(count: int, seed: int = 1) -> torch.Tensor:
    """The demo's validation-like shapes images, float in [0, 1] (the input contract)."""
    from bag_of_bricks.shapes import make_shapes_batch

    return make_shapes_batch(count, seed=seed, image_size=SIZE)["images"].float() / 255.0


def make_backends(folder: Path, threads: int, batch_size: int) -> tuple[dict[str, Callable], dict[str, float]]:
    """``{backend: run(batch)}`` and the seconds each took to be ready (compile: on its first batch)."""
    from torchbricks import load_model
    from torchbricks.inference._backends import create_backend
    from torchbricks.inference._readable import task_readers

    model = load_model(folder)
    outputs = list(dict.fromkeys(name for reader in task_readers(model, model.config) for name in reader.output_names))
    example = demo_images(batch_size)
    runs, setup = {}, {}
    for name in BACKENDS:
        started = time.perf_counter()
        options = {"folder": folder, "example": example[:2], "threads": threads, "batch_size": batch_size}
        run = create_backend(name, load_model(folder), "images", outputs, channels_last=True, **options)
        run(example)  # compiles (compile), loads the session's kernels (onnx)
        setup[name] = time.perf_counter() - started
        runs[name] = run
    return runs, setup


def same_outputs(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> tuple[bool, str]:
    """Whether ``got`` matches eager's ``expected`` (see the module docstring), and the largest differences."""
    notes, correct = [], True
    for name, reference in expected.items():
        value = got[name]
        if name.endswith("/class_map") or name.endswith("/present"):
            share = float(np.mean(value != reference))
            correct &= share <= 0.005
            notes.append(f"{name.split('/')[0]} {100 * share:.2f}% differ")
        elif name.endswith("/points"):
            same_classes = np.array_equal(value[..., 2], reference[..., 2])
            difference = float(np.abs(value[..., :2] - reference[..., :2]).max()) if same_classes else float("inf")
            correct &= same_classes and difference <= 0.05
            notes.append(f"points ±{difference:.1e} px")
        else:
            difference = float(np.abs(value.astype(np.float64) - reference).max())
            correct &= difference <= 1e-3
            notes.append(f"{name.split('/')[0]} ±{difference:.1e}")
    return correct, ", ".join(notes)


def time_calls(runs: dict[str, Callable], batch: torch.Tensor, repeats: int, clock: str) -> dict[str, list[float]]:
    """Seconds of every call, the backends taking turns (order rotating per round) after a warm-up call each."""
    read = CLOCKS[clock]
    names = list(runs)
    for name in names:
        runs[name](batch)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            start = read()
            runs[name](batch)
            samples[name].append((read() - start) * 1e-9)
    return samples


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def end_to_end(folder: Path, threads: int, count: int) -> list[list[str]]:
    """``predict()`` over ``count`` PNG files per backend, into an output folder (masks written).

    Setup is the time to the first result (loading, compiling or exporting); after it, the steady rate in
    images per second of wall time and the process's CPU time per image (every thread: readers included),
    which a busy machine does not inflate.
    """
    from PIL import Image

    from torchbricks.inference import predict

    images = folder / "images"
    images.mkdir()
    pixels = (demo_images(count, seed=2) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    for index, array in enumerate(pixels):
        Image.fromarray(array).save(images / f"{index:05d}.png")
    rows = []
    for name in BACKENDS:
        output = folder / f"out-{name}"
        started = time.perf_counter()
        stream = predict(folder / "model", images, batch_size=32, backend=name, threads=threads, output=output)
        next(stream)
        first, first_cpu = time.perf_counter(), time.process_time()
        rest = sum(1 for _ in stream)
        wall, cpu = time.perf_counter() - first, time.process_time() - first_cpu
        rows.append([name, f"{first - started:.1f} s", f"{rest / wall:.0f}", f"{1000 * cpu / rest:.2f}", str(rest + 1)])
    return rows


def main() -> int:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 32 only, fewer repeats")
    parser.add_argument("--repeats", type=int, help="timed calls per backend (default: 60 at batch 1, 20 at 32)")
    parser.add_argument("--threads", type=int, default=1, help="torch and onnxruntime threads (default: 1)")
    parser.add_argument("--end-to-end", action="store_true", help="also time predict() over 256 PNG files")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    print_header("predict backends on the demo model (random weights, 64x64 images)", args.clock)
    rows, setup_rows, targets = [], [], []
    fastest: tuple[float, str, bool] | None = None
    with tempfile.TemporaryDirectory() as temporary:
        folder = demo_model_folder(Path(temporary))
        for batch_size in (32,) if args.quick else (1, 32):
            runs, setup = make_backends(folder, args.threads, batch_size)
            setup_rows.append([str(batch_size), *(f"{setup[name]:.1f} s" for name in BACKENDS)])
            batch = demo_images(batch_size, seed=3)
            expected = runs["eager"](batch)
            repeats = args.repeats or ((5 if args.quick else 20) if batch_size > 1 else 60)
            samples = time_calls(runs, batch, repeats, args.clock)
            eager_median = statistics.median(samples["eager"])
            for name in BACKENDS:
                correct, notes = same_outputs(runs[name](batch), expected)
                p50, p95 = statistics.median(samples[name]), percentile(samples[name], 0.95)
                rows.append([
                    str(batch_size), name, f"{1000 * p50:.1f}", f"{1000 * p95:.1f}", f"{batch_size / p50:.0f}",
                    f"{eager_median / p50:.2f}x", "yes" if correct else "NO", notes,
                ])  # fmt: skip
                if name != "eager":
                    targets.append(
                        Target(f"{name} matches eager at batch {batch_size}", correct, notes, "see docstring")
                    )
                if batch_size == 32 and correct and (fastest is None or p50 < fastest[0]):
                    fastest = (p50, name, correct)
            del runs
        print_table(
            f"Latency per batch ({args.clock} clock, {args.threads} thread(s)); images/s = batch / p50",
            ["batch", "backend", "p50 ms", "p95 ms", "images/s", "vs eager", "matches eager", "largest differences"],
            rows,
        )
        print_table("Setup before the first batch (compile, ONNX export + session)", ["batch", *BACKENDS], setup_rows)
        if args.end_to_end:
            print_table(
                "predict() over 256 PNG files into a folder, batch 32 (setup = to the first result)",
                ["backend", "setup", "steady images/s (wall)", "CPU ms per image (process)", "images"],
                end_to_end(Path(temporary), args.threads, 256),
            )
    if fastest is not None:
        console.print(f"Fastest correct backend at batch 32: [bold]{fastest[1]}[/bold] ({1000 * fastest[0]:.1f} ms)")
    return report_targets(targets, check=args.check)


if __name__ == "__main__":
    raise SystemExit(main())
