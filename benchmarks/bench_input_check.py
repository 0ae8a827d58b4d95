"""The preprocessor's input-range check against the same forward without it.

In eager mode ``Preprocessor`` looks at a sample of each float batch (the first image, every 4th pixel)
until it has warned once (:func:`bag_of_bricks.preprocessors.check_input_range`); float images in 0–1
never warn, so it checks every forward. Timed side by side, with float 0–1 images: the preprocessor
followed by a small model (MobileNetV3-Small from the standard pack, random weights, eval mode,
``torch.no_grad()``, one thread), and the same with the check off (a second preprocessor whose
``_range_warned`` flag is set: the path every forward takes after a warning; the target compares with it).
32x32, 64x64 and 224x224 images, batch 8 and 32; the figure is the median over repeats of the per-repeat
ratio. Diagnostics, without a target: the model after the normalisation written out, ``(images - mean) /
std`` with the same buffers (no preprocessor module at all), and ``check_input_range`` timed alone.

Run: ``.venv/bin/python benchmarks/bench_input_check.py [--check] [--quick] [--repeats N]``
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

import torch
from common import Target, argument_parser, console, print_header, print_table, report_targets, time_interleaved
from torch import nn

from bag_of_bricks.backbones import mobilenet_v3_small
from bag_of_bricks.preprocessors import Preprocessor, check_input_range

TARGET_PERCENT = 2.0
SIZES = (32, 64, 224)
BATCHES = (8, 32)
SECONDS_PER_REPEAT = 0.2  # calls per variant and repeat: about this long
COLUMNS = (
    "images",
    "batch",
    "check off ms",
    "check ms",
    "check cost",
    "paired µs",
    "bare normalisation",
    "check_input_range alone µs",
    "repeats x calls",
)


def build() -> tuple[Preprocessor, Preprocessor, nn.Module]:
    """A checking preprocessor, one with the check off (as after a warning), and the small model."""
    torch.manual_seed(0)
    checking = Preprocessor()
    unchecked = Preprocessor()
    unchecked._range_warned = True
    model = mobilenet_v3_small(levels=[5]).eval()
    return checking, unchecked, model


def candidates(
    checking: Preprocessor, unchecked: Preprocessor, model: nn.Module, images: torch.Tensor
) -> dict[str, Callable[[], object]]:
    """The forwards timed side by side."""
    mean, std = checking.mean, checking.std
    return {
        "check off": lambda: model(unchecked(images)),
        "check": lambda: model(checking(images)),
        "bare normalisation": lambda: model((images - mean) / std),
    }


def calls_per_repeat(function: Callable[[], object]) -> int:
    """How many calls take about :data:`SECONDS_PER_REPEAT` (one untimed call measured first)."""
    function()
    seconds = statistics.median(_seconds(function) for _ in range(3))
    return max(1, round(SECONDS_PER_REPEAT / max(seconds, 1e-6)))


def _seconds(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def measure(
    parts: tuple[Preprocessor, Preprocessor, nn.Module], size: int, batch: int, repeats: int, clock: str
) -> tuple[list[object], Target]:
    """One row of the table (:data:`COLUMNS`) and its target: a batch of ``batch`` float 0-1 images ``size`` wide."""
    checking, unchecked, model = parts
    images = torch.rand(batch, 3, size, size)
    variants = candidates(checking, unchecked, model, images)
    number = calls_per_repeat(variants["check"])
    timings = time_interleaved(variants, number=number, repeats=repeats, clock=clock)
    alone = time_interleaved({"alone": lambda: check_input_range(images)}, number=200, repeats=repeats, clock=clock)[
        "alone"
    ]
    if checking._range_warned:
        raise AssertionError("float 0-1 images made the preprocessor warn: the check stopped")
    base = timings["check off"]
    pairs = {name: list(zip(timing.samples, base.samples, strict=True)) for name, timing in timings.items()}
    ratios = {name: statistics.median(a / b for a, b in pair) for name, pair in pairs.items()}
    paired = statistics.median(a - b for a, b in pairs["check"])
    cost = (ratios["check"] - 1) * 100
    row: list[object] = [
        f"{size}x{size}",
        batch,
        f"{base.median * 1e3:.2f}",
        f"{timings['check'].median * 1e3:.2f}",
        f"{cost:+.2f} %",
        f"{paired * 1e6:+.0f}",
        f"{(ratios['bare normalisation'] - 1) * 100:+.2f} %",
        f"{alone.median * 1e6:.1f} ({images[:1, :, ::4, ::4].numel()} values)",
        f"{repeats} x {number}",
    ]
    target = Target(
        name=f"input-range check, {size}x{size}, batch {batch}",
        passed=cost < TARGET_PERCENT,
        measured=f"{cost:+.2f} % of the forward (paired ratio {ratios['check']:.4f})",
        target=f"< {TARGET_PERCENT:g} %",
        baseline=f"baseline: check off {base.median * 1e3:.2f} ms/forward",
    )
    return row, target


def run(repeats: int, clock: str, sizes: tuple[int, ...], batches: tuple[int, ...]) -> list[Target]:
    """Measure every size and batch; print the table; return the targets."""
    parts = build()
    measured = []
    for size in sizes:
        for batch in batches:
            measured.append(measure(parts, size, batch, repeats, clock))
            console.print(f"{size}x{size}, batch {batch}: done")
    print_table(
        "Preprocessor + MobileNetV3-Small forward, float 0-1 images (median over interleaved repeats); cost = median "
        "over repeats of (variant / check off) - 1; paired µs = the median over repeats of (check - check off)",
        COLUMNS,
        [row for row, _ in measured],
    )
    console.print(
        "'bare normalisation' and 'check_input_range alone' are diagnostics (no target): the model after "
        "(images - mean) / std without the preprocessor module, and the check by itself.\n"
    )
    return [target for _, target in measured]


def main() -> int:
    """Run the benchmark; return the exit code."""
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, 32x32 and 64x64 only (a smoke test)")
    parser.add_argument("--repeats", type=int, default=21, help="interleaved repeats per measurement")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print_header("Preprocessor input-range check vs the same forward without it (torch.no_grad)", args.clock)
    sizes = SIZES[:2] if args.quick else SIZES
    repeats = 5 if args.quick else args.repeats
    with torch.no_grad():
        return report_targets(run(repeats, args.clock, sizes, BATCHES), check=args.check)


if __name__ == "__main__":
    sys.exit(main())
