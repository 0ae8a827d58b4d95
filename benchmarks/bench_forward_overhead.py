"""Per-forward overhead of a BrickCollection against the same modules called by hand.

Tiny modules (``nn.Conv2d(4, 4, 1)`` and ``nn.Linear(4, 4)`` on a 1x4x4x4 tensor), one CPU thread,
``torch.no_grad()``. For each topology (a chain, and a branching DAG of nested collections) and each
brick count, the hand-written module, the collection (all groups, ``groups={"MODEL"}``,
``groups=Stage.INFERENCE``) and a dict-passing reference implementation run interleaved; medians of
the per-forward times are compared. A chain of ``nn.Identity`` bricks is measured as a diagnostic
(no target): there the per-brick dispatch cost shows alone.

Run: ``.venv/bin/python benchmarks/bench_forward_overhead.py [--check] [--quick]``
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from common import (
    Target,
    Timing,
    argument_parser,
    console,
    paired_difference,
    print_header,
    print_table,
    report_targets,
    time_interleaved,
)
from torch import nn

from torchbricks import BrickCollection, BrickTrainable, Stage

TARGET_US_PER_BRICK = 2.0
BLOCK_SIZE = 5  # bricks per block of the branching DAG
DIAGNOSTIC = "identity chain"  # a topology measured without a target


class Add(nn.Module):
    """Adds two tensors (the merge of a branch)."""

    def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Return ``first + second``."""
        return first + second


def tiny_module(index: int) -> nn.Module:
    """Alternate a 1x1 convolution and a linear layer; both keep the shape 1x4x4x4."""
    return nn.Conv2d(4, 4, 1) if index % 2 == 0 else nn.Linear(4, 4)


# -- hand-written modules: the same module objects, called directly ------------------------------------------


class HandChain(nn.Module):
    """The chain written by hand: ``x = module(x)`` for each module."""

    def __init__(self, modules: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(modules)
        self.sequence = tuple(modules)  # a plain tuple: the cheapest way to loop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the chain."""
        for module in self.sequence:
            x = module(x)
        return x


class HandBranching(nn.Module):
    """The branching DAG written by hand: per block ``a = conv(x); out = lin2(add(lin(a), side(a)))``."""

    def __init__(self, blocks: list[tuple[nn.Module, ...]]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(module for block in blocks for module in block)
        self.blocks = tuple(blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run every block."""
        for conv, linear, side, merge, out in self.blocks:
            a = conv(x)
            x = out(merge(linear(a), side(a)))
        return x


# -- reference only: the naive dict-passing design (every brick takes and returns dicts) ---------------------


class DictBrick(nn.Module):
    """REFERENCE IMPLEMENTATION, not torchbricks: a brick that takes the dict of all data and returns a dict.

    This is the naive design of torchbricks 0.4.x (without any runtime type checking): per call the brick
    checks its groups, gathers its inputs into a list, calls the model and wraps the outputs in a new dict.
    """

    def __init__(self, model: nn.Module, input_names: list[str], output_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names
        self.output_names = output_names
        self.groups = {"MODEL"}

    def run_now(self, groups: set[str] | None) -> bool:
        """Whether the brick runs for ``groups``."""
        return groups is None or bool(self.groups & groups)

    def forward(self, named_inputs: dict[str, Any]) -> dict[str, Any]:
        """Read the inputs from the dict, call the model, return a dict of outputs."""
        inputs = [named_inputs[name] for name in self.input_names]
        outputs = self.model(*inputs)
        if len(self.output_names) == 1:
            outputs = [outputs]
        return dict(zip(self.output_names, outputs, strict=False))


class DictCollection(nn.ModuleDict):
    """REFERENCE IMPLEMENTATION, not torchbricks: runs bricks in insertion order, merging their output dicts."""

    def forward(self, named_inputs: Mapping[str, Any], groups: set[str] | None = None) -> dict[str, Any]:
        """Run every brick (and nested collection) in insertion order."""
        data = dict(named_inputs)
        for brick in self.values():
            if isinstance(brick, DictCollection):
                data.update(brick(data, groups))
            elif brick.run_now(groups):
                data.update(brick(data))
        return data


# -- the models under test ------------------------------------------------------------------------------------------


@dataclass
class Models:
    """One topology built three ways from the same module objects."""

    hand: nn.Module
    collection: BrickCollection
    reference: DictCollection
    n_bricks: int
    input_name: str
    output_name: str


def build_chain(n_bricks: int, make_module: Callable[[int], nn.Module] = tiny_module) -> Models:
    """A flat chain ``x0 -> x1 -> ... -> x{n}``."""
    modules = [make_module(index) for index in range(n_bricks)]
    collection = BrickCollection(
        {
            f"brick{index}": BrickTrainable(module, input_names=[f"x{index}"], output_names=[f"x{index + 1}"])
            for index, module in enumerate(modules)
        }
    )
    reference = DictCollection(
        {f"brick{index}": DictBrick(module, [f"x{index}"], [f"x{index + 1}"]) for index, module in enumerate(modules)}
    )
    return Models(HandChain(modules), collection, reference, n_bricks, "x0", f"x{n_bricks}")


def build_branching(n_bricks: int) -> Models:
    """Nested blocks of 5 bricks: a conv feeds a linear and a side conv, merged by an add, then a linear.

    Inside a block names are relative (``./a``); a block reads the previous block's output by its
    absolute name (``block3/out``).
    """
    if n_bricks % BLOCK_SIZE:
        raise ValueError(f"the branching DAG needs a multiple of {BLOCK_SIZE} bricks, got {n_bricks}")
    blocks = [
        (nn.Conv2d(4, 4, 1), nn.Linear(4, 4), nn.Conv2d(4, 4, 1), Add(), nn.Linear(4, 4))
        for _ in range(n_bricks // BLOCK_SIZE)
    ]
    tree: dict[str, Any] = {}
    reference = DictCollection()
    for index, (conv, linear, side, merge, out) in enumerate(blocks):
        source = "x" if index == 0 else f"block{index - 1}/out"
        tree[f"block{index}"] = {
            "conv": BrickTrainable(conv, input_names=[source], output_names=["./a"]),
            "linear": BrickTrainable(linear, input_names=["./a"], output_names=["./b"]),
            "side": BrickTrainable(side, input_names=["./a"], output_names=["./c"]),
            "merge": BrickTrainable(merge, input_names=["./b", "./c"], output_names=["./d"]),
            "out": BrickTrainable(out, input_names=["./d"], output_names=["./out"]),
        }
        prefix = f"block{index}/"
        reference[f"block{index}"] = DictCollection(
            {
                "conv": DictBrick(conv, [source], [prefix + "a"]),
                "linear": DictBrick(linear, [prefix + "a"], [prefix + "b"]),
                "side": DictBrick(side, [prefix + "a"], [prefix + "c"]),
                "merge": DictBrick(merge, [prefix + "b", prefix + "c"], [prefix + "d"]),
                "out": DictBrick(out, [prefix + "d"], [prefix + "out"]),
            }
        )
    output_name = f"block{len(blocks) - 1}/out"
    return Models(HandBranching(blocks), BrickCollection(tree), reference, n_bricks, "x", output_name)


def build_identity_chain(n_bricks: int) -> Models:
    """Diagnostic: the chain with ``nn.Identity`` modules, so that dispatch costs dominate."""
    return build_chain(n_bricks, lambda index: nn.Identity())


BUILDERS: dict[str, Callable[[int], Models]] = {
    "chain": build_chain,
    "branching": build_branching,
    DIAGNOSTIC: build_identity_chain,
}


def check_same_result(models: Models, x: torch.Tensor) -> None:
    """All three implementations must compute the same output (else the comparison is meaningless)."""
    expected = models.hand(x)
    named = {models.input_name: x}
    for got in (models.collection(named)[models.output_name], models.reference(named)[models.output_name]):
        if not torch.equal(got, expected):
            raise AssertionError("collection/reference output differs from the hand-written module")


def candidates(models: Models, x: torch.Tensor) -> dict[str, Callable[[], object]]:
    """The callables timed side by side."""
    hand, collection, reference = models.hand, models.collection, models.reference
    named = {models.input_name: x}
    model_groups = {"MODEL"}
    return {
        "hand": lambda: hand(x),
        "collection": lambda: collection(named),
        'groups={"MODEL"}': lambda: collection(named, groups=model_groups),
        "Stage.INFERENCE": lambda: collection(named, groups=Stage.INFERENCE),
        "dict reference": lambda: reference(named),
    }


def run(
    topologies: Iterable[str], sizes: Iterable[int], repeats: int, bricks_per_repeat: int, clock: str
) -> list[Target]:
    """Measure every topology and size; print the table; return the targets."""
    x = torch.rand(1, 4, 4, 4)
    targets: list[Target] = []
    rows: list[list[object]] = []
    for topology in topologies:
        for n_bricks in sizes:
            models = BUILDERS[topology](n_bricks)
            check_same_result(models, x)
            number = max(5, bricks_per_repeat // n_bricks)
            timings = time_interleaved(candidates(models, x), number=number, repeats=repeats, clock=clock)
            hand = timings["hand"]
            for name, timing in timings.items():
                if name == "hand":
                    continue
                per_brick_us = (timing.median - hand.median) / n_bricks * 1e6
                paired_us = paired_difference(timing, hand) / n_bricks * 1e6
                rows.append(_row(topology, n_bricks, name, timing, hand, per_brick_us, paired_us))
                if name != "dict reference" and topology != DIAGNOSTIC:
                    targets.append(
                        Target(
                            name=f"forward overhead, {topology}, {n_bricks} bricks, {name}",
                            passed=per_brick_us <= TARGET_US_PER_BRICK,
                            measured=f"{per_brick_us:+.2f} µs/brick (ratio {timing.median / hand.median:.3f})",
                            target=f"≤ {TARGET_US_PER_BRICK:g} µs/brick",
                            baseline=f"baseline: hand-written {hand.median * 1e6:.1f} µs/forward",
                        )
                    )
            console.print(f"measured {topology}, {n_bricks} bricks: {repeats} repeats x {number} calls per variant")
    console.print()
    print_table(
        "Per-forward time (median over interleaved repeats); overhead µs/brick = (median variant - median hand) / "
        "bricks; paired = the median over repeats of that difference",
        ["topology", "bricks", "variant", "hand µs", "variant µs", "ratio", "overhead µs/brick", "paired µs/brick"],
        rows,
    )
    return targets


def _row(
    topology: str, n_bricks: int, name: str, timing: Timing, hand: Timing, per_brick_us: float, paired_us: float
) -> list[object]:
    variant = "dict-passing REFERENCE impl." if name == "dict reference" else name
    return [
        topology,
        n_bricks,
        variant,
        f"{hand.median * 1e6:.1f}",
        f"{timing.median * 1e6:.1f}",
        f"{timing.median / hand.median:.3f}",
        f"{per_brick_us:+.2f}",
        f"{paired_us:+.2f}",
    ]


def main() -> int:
    """Run the benchmark; return the exit code."""
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, sizes 10 and 50 (a smoke test)")
    parser.add_argument("--repeats", type=int, default=25, help="interleaved repeats per measurement")
    parser.add_argument(
        "--bricks-per-repeat", type=int, default=5_000, help="calls per variant and repeat = this / bricks"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    print_header(
        "BrickCollection forward overhead vs the same modules called by hand (torch.no_grad, batch 1)", args.clock
    )
    sizes = (10, 50) if args.quick else (10, 50, 200)
    repeats = 5 if args.quick else args.repeats
    with torch.no_grad():
        targets = run(BUILDERS, sizes, repeats, args.bricks_per_repeat, args.clock)
    console.print(
        f"'{DIAGNOSTIC}' is a diagnostic (no target): the modules cost ~1 µs, so it shows the per-brick dispatch "
        "cost alone. The dict-passing rows are a reference implementation inside this benchmark (the naive "
        "0.4-style design), not torchbricks code."
    )
    console.print()
    return report_targets(targets, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
