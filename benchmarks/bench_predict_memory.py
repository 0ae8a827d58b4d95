"""``predict`` streams: peak memory (RSS) for 1,000 against 100,000 tiny images through ``write_predictions``.

Tiny PNG files (16x16, random noise, one folder each) are made once and kept in
``<tmp>/torchbricks-bench-predict-memory/`` (the 1,000-image folder holds hard links to the first 1,000
of the larger one). The model is the demo's architecture (multi-label + segmentation + point detection)
with seeded random weights, saved as trained at 16x16, so every image also writes a mask PNG. Each count
runs in a fresh process (``write_predictions`` into a new folder, one torch thread, default readers), which
reports its peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) and its RSS after each tenth of the
images (``/proc/self/statm``), so growth shows where it happens.

Target: the peak RSS at 100,000 images within 5 % (and at most 32 MiB) above the peak at 1,000 — the
memory of a stream does not grow with its length. The file names of one folder are listed (sorted) before
the run, so 100,000 names in one folder are part of the figure (a few MB).

Run: ``.venv/bin/python benchmarks/bench_predict_memory.py [--check] [--count N] [--quick]``
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import Target, argument_parser, console, print_header, print_table, report_targets

SIZE = 16
SMALL = 1000
MARGIN = 0.05
MARGIN_BYTES = 32 * 2**20
CACHE = Path(tempfile.gettempdir()) / "torchbricks-bench-predict-memory"


def image_folder(count: int) -> Path:
    """``count`` tiny PNG files in one folder, made once (the small folders hard-link the first files)."""
    from PIL import Image

    folder = CACHE / f"images-{count}"
    if folder.is_dir() and len(os.listdir(folder)) == count:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    staging = CACHE / f".images-{count}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    larger = sorted(CACHE.glob("images-*"), key=lambda path: int(path.name.split("-")[1]))
    source = next((path for path in larger if int(path.name.split("-")[1]) > count), None)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for index in range(count):
        name = f"{index:06d}.png"
        if source is not None:
            os.link(source / name, staging / name)
        else:
            Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(staging / name)
    staging.rename(folder)
    console.print(f"made {count:,} images in {folder} ({time.perf_counter() - started:.0f} s)")
    return folder


def model_folder() -> Path:
    """The demo's architecture, random weights, saved as trained at 16x16 (made once)."""
    folder = CACHE / "model"
    if (folder / "config.json").is_file():
        return folder
    import torch

    from bag_of_bricks.demo.run import DEMO_CONFIG
    from torchbricks import build_model, save_model

    torch.manual_seed(0)
    model = build_model({**DEMO_CONFIG, "input_shape": [3, SIZE, SIZE]}).eval()
    return save_model(model, folder, input_contract={"size": [SIZE, SIZE], "resize": "stretch"}, card=False)


def child(model: str, images: str, output: str, count: int) -> None:
    """In a fresh process: predict every image into ``output``; print peak and sampled RSS as JSON."""
    import torch

    from torchbricks.inference import predict

    torch.set_num_threads(1)
    page = os.sysconf("SC_PAGE_SIZE")
    samples = []
    every = max(1, count // 10)
    started = time.perf_counter()
    done = 0
    for done, _ in enumerate(predict(model, images, batch_size=32, output=output), start=1):
        if done % every == 0:
            with open("/proc/self/statm") as statm:
                samples.append([done, int(statm.read().split()[1]) * page])
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"images": done, "peak": peak, "samples": samples, "seconds": seconds}))


def run_child(model: Path, images: Path, count: int) -> dict:
    with tempfile.TemporaryDirectory() as output:
        command = [sys.executable, __file__, "--child", str(model), str(images), f"{output}/out", str(count)]
        finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"the child for {count} images failed:\n{finished.stderr[-2000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def mib(value: float) -> str:
    return f"{value / 2**20:.1f}"


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return 0
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="the large count (default 100,000)")
    parser.add_argument("--quick", action="store_true", help="10,000 instead of 100,000")
    args = parser.parse_args()
    large = 10_000 if args.quick else args.count
    print_header(f"predict memory: {SMALL:,} vs {large:,} images of {SIZE}x{SIZE} (demo architecture)", "wall")
    model = model_folder()
    folders = {count: image_folder(count) for count in sorted({large, SMALL}, reverse=True)}
    results = {count: run_child(model, folders[count], count) for count in (SMALL, large)}
    rows = []
    for count, result in results.items():
        curve = "  ".join(f"{done // 1000}k:{mib(rss)}" for done, rss in result["samples"])
        rows.append([f"{count:,}", mib(result["peak"]), f"{result['images'] / result['seconds']:.0f}", curve])
    print_table(
        "Peak RSS per run (MiB); RSS (MiB) after each tenth of the images",
        ["images", "peak RSS", "images/s", "RSS along the run"],
        rows,
    )
    small_peak, large_peak = results[SMALL]["peak"], results[large]["peak"]
    allowed = small_peak + min(MARGIN * small_peak, MARGIN_BYTES)
    growth = large_peak - small_peak
    target = Target(
        f"peak RSS at {large:,} images within {MARGIN:.0%} (≤ {mib(MARGIN_BYTES)} MiB) of {SMALL:,}",
        large_peak <= allowed and results[large]["images"] == large,
        f"{mib(large_peak)} MiB ({growth / 2**20:+.1f} MiB, {growth / small_peak:+.1%})",
        f"≤ {mib(allowed)} MiB",
        f"baseline: {mib(small_peak)} MiB at {SMALL:,} images",
    )
    return report_targets([target], check=args.check)


if __name__ == "__main__":
    raise SystemExit(main())
