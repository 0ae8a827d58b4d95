"""torch.compile of a BrickCollection against torch.compile of the same modules written by hand.

A small CNN (conv + ReLU blocks, pooling and a linear head; 17 bricks in nested collections) on a batch
of 8 images 3x32x32, one CPU thread, ``torch.no_grad()``. Both are compiled with ``fullgraph=True``
(default inductor backend), warmed up, then timed interleaved; eager timings are shown for scale.
``torch._dynamo.explain`` reports the graphs and graph breaks of the collection. Two like-for-like
comparisons, each with a target: the collection asked for its logits only (``outputs=["head/logits"]``)
against the hand-written module returning the logits, and the collection returning every named tensor
(its default) against the hand-written module returning the same intermediates.

Run: ``.venv/bin/python benchmarks/bench_compile.py [--check] [--quick]``
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
import torch._dynamo
from common import Target, argument_parser, console, paired_difference, print_header, print_table, report_targets
from common import time_interleaved as time_side_by_side
from torch import nn

from torchbricks import BrickCollection, BrickNotTrainable, BrickTrainable

TARGET_RATIO = 1.05
CHANNELS = 16
N_BLOCKS = 6  # conv + ReLU blocks after the stem


def build_modules() -> dict[str, dict[str, nn.Module]]:
    """The CNN's modules, grouped as the collection nests them."""
    torch.manual_seed(0)
    modules: dict[str, dict[str, nn.Module]] = {
        "stem": {"conv": nn.Conv2d(3, CHANNELS, 3, padding=1), "relu": nn.ReLU()},
    }
    for index in range(N_BLOCKS):
        modules[f"block{index}"] = {"conv": nn.Conv2d(CHANNELS, CHANNELS, 3, padding=1), "relu": nn.ReLU()}
    modules["head"] = {"pool": nn.AdaptiveAvgPool2d(1), "flatten": nn.Flatten(), "linear": nn.Linear(CHANNELS, 10)}
    return modules


class HandCNN(nn.Module):
    """The CNN written by hand, calling the same module objects in the same order."""

    def __init__(self, modules: dict[str, dict[str, nn.Module]]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(module for group in modules.values() for module in group.values())

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Run every layer in order."""
        x = image
        for layer in self.layers:
            x = layer(x)
        return x


def build_collection(modules: dict[str, dict[str, nn.Module]]) -> BrickCollection:
    """The CNN as nested bricks: relative names inside a block, absolute names between blocks."""
    tree: dict[str, Any] = {}
    source = "image"
    for block, layers in modules.items():
        if block == "head":
            tree[block] = {
                "pool": BrickNotTrainable(layers["pool"], input_names=[source], output_names=["./pooled"]),
                "flatten": BrickNotTrainable(layers["flatten"], input_names=["./pooled"], output_names=["./flat"]),
                "linear": BrickTrainable(layers["linear"], input_names=["./flat"], output_names=["./logits"]),
            }
        else:
            tree[block] = {
                "conv": BrickTrainable(layers["conv"], input_names=[source], output_names=["./conv"]),
                "relu": BrickNotTrainable(layers["relu"], input_names=["./conv"], output_names=["./features"]),
            }
            source = f"{block}/features"
    return BrickCollection(tree)


def explain(collection: BrickCollection, named_inputs: dict[str, torch.Tensor]) -> tuple[int, int, list[str]]:
    """Graph count, graph-break count and break reasons of the collection under dynamo."""
    torch._dynamo.reset()
    result = torch._dynamo.explain(collection)(named_inputs)
    reasons = [str(getattr(reason, "reason", reason)) for reason in result.break_reasons]
    return result.graph_count, result.graph_break_count, reasons


class HandAllOutputs(nn.Module):
    """Diagnostic: the hand-written CNN returning every intermediate tensor in a dict, as a collection does."""

    def __init__(self, hand: HandCNN) -> None:
        super().__init__()
        self.hand = hand

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Run every layer; return the input and all intermediate tensors."""
        named = {"image": image}
        x = image
        for index, layer in enumerate(self.hand.layers):
            x = layer(x)
            named[f"layer{index}"] = x
        return named


class CollectionOneOutput(nn.Module):
    """Calls the collection with ``outputs=[output]``, the way a user asks a compiled collection for one tensor."""

    def __init__(self, collection: BrickCollection, output: str) -> None:
        super().__init__()
        self.collection = collection
        self.output = output

    def forward(self, named_inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Run the collection; return the one output."""
        return self.collection(named_inputs, outputs=(self.output,))[self.output]


def compile_and_warm_up(name: str, module: nn.Module, argument: Any) -> tuple[Callable[[Any], Any], float]:
    """``torch.compile(module, fullgraph=True)``, called until compiled; return it and the compile seconds."""
    compiled = torch.compile(module, fullgraph=True)
    start = time.perf_counter()
    compiled(argument)
    seconds = time.perf_counter() - start
    for _ in range(3):
        compiled(argument)
    console.print(f"compiled {name} in {seconds:.1f} s (wall clock, first call)")
    return compiled, seconds


def page_faults_per_call(function: Callable[[], object], calls: int = 20) -> float:
    """Minor page faults of this process per call of ``function`` (fresh memory being mapped in)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(calls):
        function()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / calls


def main() -> int:
    """Run the benchmark; return the exit code."""
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats (a smoke test)")
    parser.add_argument("--repeats", type=int, default=21, help="interleaved repeats")
    parser.add_argument("--number", type=int, default=10, help="calls per variant and repeat")
    parser.add_argument("--batch", type=int, default=8, help="batch size")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print_header(
        f"torch.compile(fullgraph=True): BrickCollection vs hand-written module (batch {args.batch}, 3x32x32, "
        "torch.no_grad)",
        args.clock,
    )
    modules = build_modules()
    hand = HandCNN(modules).eval()
    collection = build_collection(modules).eval()
    n_bricks = len(list(collection.named_bricks()))
    image = torch.rand(args.batch, 3, 32, 32)
    named = {"image": image}
    output = "head/logits"
    targets: list[Target] = []

    with torch.no_grad():
        graphs, breaks, reasons = explain(collection, named)
        console.print(f"torch._dynamo.explain(collection): {graphs} graph(s), {breaks} graph break(s)")
        for reason in reasons:
            console.print(f"  break: {reason}")
        targets.append(Target("dynamo graphs of the collection", graphs == 1, f"{graphs} graph(s)", "1 graph"))
        targets.append(Target("dynamo graph breaks of the collection", breaks == 0, f"{breaks} break(s)", "0 breaks"))

        torch._dynamo.reset()
        compiled_hand, hand_seconds = compile_and_warm_up("hand-written module", hand, image)
        compiled_collection, collection_seconds = compile_and_warm_up(
            f"collection ({n_bricks} bricks)", collection, named
        )
        compiled_hand_all, _ = compile_and_warm_up("hand-written, all outputs", HandAllOutputs(hand), image)
        compiled_one, _ = compile_and_warm_up(
            f"collection, outputs=[{output!r}]", CollectionOneOutput(collection, output), named
        )
        expected = hand(image)
        for label, got in (
            ("compiled hand", compiled_hand(image)),
            ("compiled collection", compiled_collection(named)[output]),
            ("compiled collection, one output", compiled_one(named)),
        ):
            if not torch.allclose(got, expected, atol=1e-5, rtol=1e-4):
                raise AssertionError(f"{label} output differs from the eager hand-written module")

        variants: dict[str, Callable[[], object]] = {
            "eager hand": lambda: hand(image),
            "eager collection": lambda: collection(named),
            "compiled hand": lambda: compiled_hand(image),
            "compiled collection": lambda: compiled_collection(named),
            "compiled hand, all outputs": lambda: compiled_hand_all(image),
            f"compiled collection, outputs=[{output!r}]": lambda: compiled_one(named),
        }
        timings = time_side_by_side(
            variants,
            number=2 if args.quick else args.number,
            repeats=3 if args.quick else args.repeats,
            clock=args.clock,
        )
        faults = {name: page_faults_per_call(function) for name, function in variants.items()}

    rows = []
    for name, timing in timings.items():
        baseline = "eager hand" if name.startswith("eager") else "compiled hand"
        if name == "compiled collection":
            baseline = "compiled hand, all outputs"
        reference = timings[baseline]
        rows.append(
            [
                name,
                f"{timing.median * 1e3:.3f}",
                baseline,
                f"{timing.median / reference.median:.3f}",
                f"{paired_difference(timing, reference) * 1e6:+.0f}",
                f"{faults[name]:.0f}",
            ]
        )
    print_table(
        f"Forward time, median over interleaved repeats ({n_bricks} bricks; paired Δ = median per-repeat difference)",
        ["variant", "ms", "compared with", "ratio", "paired Δ µs", "page faults/call"],
        rows,
    )
    console.print(
        f"compile time (first call, wall clock): hand {hand_seconds:.1f} s, collection {collection_seconds:.1f} s"
    )
    console.print(
        "'compiled collection' returns every named tensor (the default), so it is compared with the hand-written "
        f"module returning the same intermediates; 'outputs=[{output!r}]' returns one tensor, like the plain "
        "hand-written module, so inductor may reuse the other buffers. Page faults/call counts fresh memory mapped "
        "in per forward (glibc hands large freed blocks back to the OS)."
    )
    console.print()

    comparisons = (
        (f"compiled collection, outputs=[{output!r}]", "compiled hand", "compiled collection (one output) vs hand"),
        ("compiled collection", "compiled hand, all outputs", "compiled collection (all outputs) vs hand (same)"),
    )
    for variant, baseline, label in comparisons:
        ratio = timings[variant].median / timings[baseline].median
        targets.append(
            Target(
                label,
                ratio <= TARGET_RATIO,
                f"ratio {ratio:.3f} ({timings[variant].median * 1e3:.3f} ms)",
                f"≤ {TARGET_RATIO:.2f}",
                f"baseline: {baseline} {timings[baseline].median * 1e3:.3f} ms",
            )
        )
    return report_targets(targets, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
