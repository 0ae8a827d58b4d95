"""Time to build (construct + validate) a BrickCollection of 100, 1,000 and 10,000 bricks nested 3 deep.

The bricks sit in 10 groups x 10 subgroups x k bricks (``g3/s7/b12``), wrap ``nn.Identity`` and write
``./out<j>``. Each reads the output of an earlier brick, picked at random (fixed seed): usually the
previous brick of its subgroup (``./out<j-1>``), otherwise any earlier brick by a relative name
(``./out<j>``, ``../s<s>/out<j>``) or an absolute one (``g<g>/s<s>/out<j>``). The first brick reads the
external input ``image``. Brick objects are created outside the timed build (their creation time is
shown apart); the first forward, which builds the execution plan, is shown too.

Run: ``.venv/bin/python benchmarks/bench_build.py [--check] [--quick]``
"""

from __future__ import annotations

import itertools
import random
import sys
from typing import Any

import torch
from common import Target, Timing, argument_parser, console, print_header, print_table, report_targets, time_repeated
from torch import nn

from torchbricks import BrickCollection, BrickTrainable

TARGET_SECONDS_1K = 1.0
GROUPS = 10
SUBGROUPS = 10
P_PREVIOUS = 0.7  # chance that a brick reads the previous brick of its subgroup


def brick_specs(n_bricks: int, seed: int = 0) -> list[tuple[int, int, int, str]]:
    """``(group, subgroup, index, input name)`` per brick, in insertion order."""
    per_subgroup = n_bricks // (GROUPS * SUBGROUPS)
    if per_subgroup * GROUPS * SUBGROUPS != n_bricks:
        raise ValueError(f"n_bricks must be a multiple of {GROUPS * SUBGROUPS}, got {n_bricks}")
    rng = random.Random(seed)
    placed: list[tuple[int, int, int]] = []
    specs: list[tuple[int, int, int, str]] = []
    for group in range(GROUPS):
        for subgroup in range(SUBGROUPS):
            for index in range(per_subgroup):
                if not placed:
                    source = "image"
                elif index > 0 and rng.random() < P_PREVIOUS:
                    source = f"./out{index - 1}"
                else:
                    source = _name_of(rng.choice(placed), group, subgroup)
                specs.append((group, subgroup, index, source))
                placed.append((group, subgroup, index))
    return specs


def _name_of(producer: tuple[int, int, int], group: int, subgroup: int) -> str:
    """The name a brick in ``g<group>/s<subgroup>`` uses for ``producer``'s output."""
    producer_group, producer_subgroup, index = producer
    if (producer_group, producer_subgroup) == (group, subgroup):
        return f"./out{index}"
    if producer_group == group:
        return f"../s{producer_subgroup}/out{index}"
    return f"g{producer_group}/s{producer_subgroup}/out{index}"


def make_tree(specs: list[tuple[int, int, int, str]]) -> dict[str, Any]:
    """The nested dict of (new) brick objects for ``specs``."""
    tree: dict[str, Any] = {}
    for group, subgroup, index, source in specs:
        brick = BrickTrainable(nn.Identity(), input_names=[source], output_names=[f"./out{index}"])
        tree.setdefault(f"g{group}", {}).setdefault(f"s{subgroup}", {})[f"b{index}"] = brick
    return tree


def measure(n_bricks: int, repeats: int, clock: str) -> tuple[Timing, Timing, Timing]:
    """Timings of creating the bricks, of ``BrickCollection(tree)`` and of the first forward."""
    specs = brick_specs(n_bricks)
    trees = [make_tree(specs) for _ in range(repeats + 1)]  # fresh bricks for every build
    collections: list[BrickCollection] = []
    make = time_repeated(lambda: make_tree(specs), repeats=repeats, clock=clock)
    build = time_repeated(
        lambda: collections.append(BrickCollection(trees[len(collections)])), repeats=repeats, clock=clock
    )
    image = torch.zeros(1)
    first_forward = Timing()
    for collection in collections[1:]:  # collections[0] was the warm-up build
        first_forward.samples.append(
            time_repeated(lambda c=collection: c({"image": image}), repeats=1, warmup=0, clock=clock).median
        )
    last = collections[-1]
    if len(last.execution_order()) != n_bricks or last.external_inputs != ("image",):
        raise AssertionError("the collection does not hold the expected DAG")
    return make, build, first_forward


def main() -> int:
    """Run the benchmark; return the exit code."""
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 bricks only (a smoke test)")
    parser.add_argument("--repeats", type=int, default=5, help="builds per size (3 at 10,000 bricks)")
    args = parser.parse_args()
    print_header("BrickCollection build time (construct + validate), 3-level nesting", args.clock)
    sizes = (100, 1_000) if args.quick else (100, 1_000, 10_000)
    results: dict[int, tuple[Timing, Timing, Timing]] = {}
    for n_bricks in sizes:
        repeats = min(args.repeats, 3) if n_bricks >= 10_000 else args.repeats
        results[n_bricks] = measure(n_bricks, repeats, args.clock)
        console.print(f"measured {n_bricks:,} bricks ({repeats} builds)")
    console.print()

    rows = []
    for n_bricks, (make, build, first_forward) in results.items():
        rows.append(
            [
                f"{n_bricks:,}",
                f"{build.median * 1e3:.1f}",
                f"{build.median / n_bricks * 1e6:.1f}",
                f"{first_forward.median * 1e3:.1f}",
                f"{make.median * 1e3:.1f}",
            ]
        )
    print_table(
        "Median times (ms); bricks are nn.Identity in 10 x 10 nested collections",
        [
            "bricks",
            "BrickCollection(...) ms",
            "µs per brick",
            "first forward ms (builds plan)",
            "creating the bricks ms",
        ],
        rows,
    )
    growth = []
    for smaller, larger in itertools.pairwise(sizes):
        ratio = results[larger][1].median / results[smaller][1].median
        growth.append(f"{larger:,}/{smaller:,}: {ratio:.1f}x")
    console.print("build time growth (linear = 10x): " + ", ".join(growth))
    console.print()

    seconds = results[1_000][1].median
    target = Target(
        "build 1,000 bricks (construct + validate)",
        seconds < TARGET_SECONDS_1K,
        f"{seconds * 1e3:.1f} ms",
        f"< {TARGET_SECONDS_1K:g} s",
        f"for scale: creating the 1,000 brick objects takes {results[1_000][0].median * 1e3:.1f} ms",
    )
    return report_targets([target], check=args.check)


if __name__ == "__main__":
    sys.exit(main())
