"""Image loading: ``image_folder`` through a DataLoader (0, 1, 2 workers) vs the training step's consumption.

Data: ``generated_images.py`` writes 2 classes × ``--per-class`` (default 320) JPEGs of 256×256
(stripes, quality 90, ~20 KiB each) into a temporary folder. Three parts, in one run:

1. **Decoding** one file, one thread, CPU clock, interleaved: the reader before (Pillow, then a
   contiguous ``[3, H, W]`` copy) vs now (torchvision's ``decode_image`` for JPEG and PNG), on a JPEG
   and a PNG of 256×256 (the folder's pictures) and of 500×375 (a typical ImageNet photo), each also
   followed by the resize to ``--image-size`` (``transforms.v2.functional.resize``, antialiased).
2. **The loader**: ``image_folder(root, image_size)`` in a ``DataLoader`` (batch 64, shuffled, the train
   run's collate) with 0, 1 and 2 workers, images/s by the wall clock over the batches after the first
   (worker start-up excluded), Pillow decoding vs now, taking turns within each repeat.
3. **The consumption rate**: one training step of the model the vs-timm benchmark trains — resnet18 (the
   standard pack's) + an ``image_classification`` head, channels-last, AdamW — on batch 64 of those
   images, at 1 and 2 torch threads (wall clock, median of the steps after two warm-up steps).

Target: the loader with two workers delivers ≥ 2× the images/s of the faster training step.
Run: ``.venv/bin/python benchmarks/bench_loader.py [--quick] [--repeats N] [--image-size N] [--check]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from common import Target, argument_parser, console, print_header, print_table, report_targets, time_interleaved
from generated_images import striped_image, write_image_folder

BATCH = 64


def pillow_reader(data: torch.utils.data.Dataset) -> torch.utils.data.Dataset:
    """``data`` (an ``image_folder``) reading its images as before: Pillow, then a contiguous copy."""
    from bag_of_bricks.datasets import load_image

    def load(index: int) -> dict[str, torch.Tensor]:
        path, label = data.files[index]
        return {
            data.names[0]: load_image(path, data.kind, pillow_only=True).contiguous(),
            data.names[1]: torch.tensor(label),
        }

    data.load = load  # type: ignore[method-assign]
    return data


def decoding_rows(folder: Path, image_size: int, repeats: int, number: int, clock: str) -> list[list[str]]:
    """Part 1: per-file decode (and decode + resize) times, Pillow vs torchvision."""
    from PIL import Image
    from torchvision.transforms.v2.functional import resize

    from bag_of_bricks.datasets import load_image

    rng = np.random.default_rng(7)
    files = {}
    for width, height in ((256, 256), (500, 375)):
        picture = Image.fromarray(striped_image(rng, max(width, height), vertical=False)[:height, :width].copy())
        for suffix, options in ((".jpg", {"quality": 90}), (".png", {})):
            path = folder / f"picture_{width}x{height}{suffix}"
            picture.save(path, **options)
            kind = "JPEG" if suffix == ".jpg" else "PNG"
            files[path] = f"{kind} {width}×{height} ({path.stat().st_size // 1024} KiB)"
    rows = []
    size = [image_size, image_size]
    for path, label in files.items():
        candidates: dict[str, Callable[[], object]] = {
            "pillow": lambda path=path: load_image(path, pillow_only=True).contiguous(),
            "torchvision": lambda path=path: load_image(path),
            "pillow + resize": lambda path=path: resize(
                load_image(path, pillow_only=True).contiguous(), size, antialias=True
            ),
            "torchvision + resize": lambda path=path: resize(load_image(path), size, antialias=True),
        }
        timings = time_interleaved(candidates, number=number, repeats=repeats, clock=clock)
        ms = {name: timing.median * 1e3 for name, timing in timings.items()}
        rows.append(
            [
                label,
                f"{ms['pillow']:.3f}",
                f"{ms['torchvision']:.3f}",
                f"{ms['pillow'] / ms['torchvision']:.2f}×",
                f"{ms['pillow + resize']:.3f}",
                f"{ms['torchvision + resize']:.3f}",
                f"{ms['pillow + resize'] / ms['torchvision + resize']:.2f}×",
            ]
        )
    return rows


def loader_images_per_second(data: torch.utils.data.Dataset, workers: int, skip: int = 1) -> float:
    """Images/s of one pass over ``data`` (batch 64), timed from the end of batch ``skip`` to the last."""
    from torchbricks.training import collate

    loader = torch.utils.data.DataLoader(
        data, batch_size=BATCH, shuffle=True, drop_last=True, num_workers=workers, collate_fn=collate
    )
    batches = iter(loader)
    for _ in range(skip):
        next(batches)
    started, count = time.perf_counter(), 0
    for batch in batches:
        count += len(batch["targets"])
    return count / (time.perf_counter() - started)


def loader_rows(root: Path, image_size: int, repeats: int) -> tuple[list[list[str]], dict[tuple[str, int], float]]:
    """Part 2: images/s per (reader, workers), median over repeats; the readers take turns."""
    from bag_of_bricks.datasets import image_folder

    readers = {
        "pillow": pillow_reader(image_folder(str(root), image_size=image_size)),
        "torchvision": image_folder(str(root), image_size=image_size),
    }
    samples: dict[tuple[str, int], list[float]] = {(name, w): [] for name in readers for w in (0, 1, 2)}
    for repeat in range(repeats):
        for workers in (0, 1, 2):
            order = list(readers)[repeat % 2 :] + list(readers)[: repeat % 2]
            for name in order:
                samples[name, workers].append(loader_images_per_second(readers[name], workers))
    medians = {key: statistics.median(values) for key, values in samples.items()}
    rows = []
    for workers in (0, 1, 2):
        old, new = samples["pillow", workers], samples["torchvision", workers]
        paired = statistics.median(b / a for a, b in zip(old, new, strict=True))
        rows.append(
            [
                str(workers),
                f"{medians['pillow', workers]:.0f}",
                f"{medians['torchvision', workers]:.0f}",
                f"{paired:.2f}×",
                " / ".join(f"{value:.0f}" for value in new),
            ]
        )
    return rows, medians


def step_images_per_second(root: Path, image_size: int, threads: int, steps: int) -> tuple[float, list[float]]:
    """Part 3: images/s of the training step (forward, loss, backward, AdamW) at ``threads`` threads."""
    from bag_of_bricks.datasets import image_folder
    from torchbricks import Stage, build_model
    from torchbricks.training import collate

    torch.manual_seed(0)
    data = image_folder(str(root), image_size=image_size)
    loader = torch.utils.data.DataLoader(data, batch_size=BATCH, shuffle=True, collate_fn=collate)
    batch = next(iter(loader))
    batch["images"] = batch["images"].contiguous(memory_format=torch.channels_last)
    model = build_model(
        {
            "backbone": {"name": "resnet18", "levels": [5]},
            "tasks": {"stripes": {"task": "image_classification", "num_classes": 2}},
        }
    )
    model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    seconds = []
    try:
        for _ in range(steps + 2):
            started = time.perf_counter()
            outputs = model(batch, groups=Stage.TRAIN)
            loss = sum(model.extract_losses(outputs).values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            seconds.append(time.perf_counter() - started)
    finally:
        torch.set_num_threads(previous)
    timed = seconds[2:]
    return BATCH / statistics.median(timed), timed


def main() -> int:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke test: fewer images, repeats and steps")
    parser.add_argument("--repeats", type=int, default=None, help="loader repeats (default 5; 2 with --quick)")
    parser.add_argument("--per-class", type=int, default=None, help="images per class (default 320; 128 --quick)")
    parser.add_argument("--image-size", type=int, default=64, help="the dataset's image_size (default 64)")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps (default 6; 2 with --quick)")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    per_class = args.per_class or (128 if args.quick else 320)
    steps = args.steps or (2 if args.quick else 6)
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)  # the main process decodes with 0 workers: one thread, as each worker has
    print_header("Image loading: image_folder, Pillow vs torchvision decoding, vs the training step", args.clock)
    with tempfile.TemporaryDirectory(prefix="bench-loader-") as folder:
        root = write_image_folder(Path(folder), per_class=per_class, size=256) / "train"
        console.print(f"data: {root} — 2 classes × {per_class} JPEGs 256×256 → image_size {args.image_size}\n")
        rows = decoding_rows(
            Path(folder), args.image_size, repeats=5 if args.quick else 15, number=10, clock=args.clock
        )
        print_table(
            f"1. one file, one thread, ms (median of interleaved repeats; --clock {args.clock})",
            ["file", "Pillow", "torchvision", "speed-up", "Pillow + resize", "torchvision + resize", "speed-up"],
            rows,
        )
        rows, medians = loader_rows(root, args.image_size, repeats)
        print_table(
            f"2. DataLoader, batch {BATCH}, images/s (wall clock, median of {repeats} repeats)",
            ["workers", "Pillow", "torchvision", "paired speed-up", "torchvision, each repeat"],
            rows,
        )
        consumption = {}
        step_rows = []
        for threads in (1, 2):
            rate, seconds = step_images_per_second(root, args.image_size, threads, steps)
            consumption[threads] = rate
            step_rows.append(
                [str(threads), f"{BATCH / rate:.3f}", f"{rate:.0f}", " / ".join(f"{s:.3f}" for s in seconds)]
            )
        print_table(
            f"3. training step, resnet18 + image_classification, batch {BATCH} of {args.image_size}×{args.image_size}",
            ["threads", "s/step (median)", "images/s", "each step, s"],
            step_rows,
        )
    fastest_threads = max(consumption, key=consumption.get)
    loading = medians["torchvision", 2]
    ratio = loading / consumption[fastest_threads]
    old_ratio = medians["pillow", 2] / consumption[fastest_threads]
    return report_targets(
        [
            Target(
                "image_folder loading at two workers vs the training step's consumption",
                ratio >= 2.0,
                f"{ratio:.1f}× ({loading:.0f} vs {consumption[fastest_threads]:.0f} images/s)",
                "≥ 2×",
                f"step at {fastest_threads} thread(s), the faster; with Pillow decoding {old_ratio:.1f}×",
            )
        ],
        check=args.check,
    )


if __name__ == "__main__":
    sys.exit(main())
