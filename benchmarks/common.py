"""Shared helpers for the benchmarks: interleaved timing with medians, tables and PASS/FAIL lines.

The benchmarks report; they are not tests. Each script prints one PASS/FAIL line per target and
exits 0, unless ``--check`` is given, in which case it exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from rich import box
from rich.console import Console
from rich.table import Table

console = Console(highlight=False, width=200)


@dataclass
class Timing:
    """Per-call times (seconds) of one candidate, one sample per repeat."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median seconds per call over the repeats."""
        return statistics.median(self.samples)


CLOCKS: dict[str, Callable[[], int]] = {"cpu": time.thread_time_ns, "wall": time.perf_counter_ns}
"""``cpu``: this thread's CPU time, blind to time spent descheduled while other processes run (the
default: the benchmarks share a small machine). ``wall``: elapsed time."""


def clock_cost(clock: Callable[[], int], calls: int = 2_000, repeats: int = 7) -> float:
    """Seconds one timed call of a no-op costs (two clock reads and a call); subtracted from timings."""
    noop = _noop
    samples = []
    for _ in range(repeats):
        total = 0
        for _ in range(calls):
            start = clock()
            noop()
            total += clock() - start
        samples.append(total * 1e-9 / calls)
    return statistics.median(samples)


def _noop() -> None:
    return None


def time_interleaved(
    candidates: Mapping[str, Callable[[], object]],
    *,
    number: int,
    repeats: int,
    clock: str = "cpu",
    warmup: int = 2,
) -> dict[str, Timing]:
    """Time the candidates side by side: ``repeats`` samples of ``number`` calls each, interleaved.

    Within one repeat the candidates take turns call by call (A, B, C, A, B, C, ...), each call timed on
    its own and summed per candidate, and the order of the turn rotates from repeat to repeat. Bursts of
    machine noise and slow drifts of its speed therefore hit every candidate alike, which matters on a
    small shared VM. The cost of reading the clock (:func:`clock_cost`) is subtracted. The garbage
    collector is disabled while timing (as ``timeit`` does).

    Returns:
        candidate name → :class:`Timing` with one seconds-per-call sample per repeat; sample ``i`` of
        every candidate comes from the same repeat, so samples can be compared pairwise.
    """
    read = CLOCKS[clock]
    names = list(candidates)
    for name in names:  # warm up: caches, lazily built plans, the allocator
        for _ in range(warmup):
            candidates[name]()
    timings = {name: Timing() for name in names}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        cost = clock_cost(read)
        for repeat in range(repeats):
            shift = repeat % len(names)
            order = names[shift:] + names[:shift]
            functions = [candidates[name] for name in order]
            totals = [0] * len(functions)
            for _ in range(number):
                for index, function in enumerate(functions):
                    start = read()
                    function()
                    totals[index] += read() - start
            for name, total in zip(order, totals, strict=True):
                timings[name].samples.append(total * 1e-9 / number - cost)
    finally:
        if gc_was_enabled:
            gc.enable()
    return timings


def paired_difference(candidate: Timing, baseline: Timing) -> float:
    """Median over repeats of (candidate - baseline) seconds per call, sample by sample."""
    return statistics.median(a - b for a, b in zip(candidate.samples, baseline.samples, strict=True))


def time_repeated(function: Callable[[], object], *, repeats: int, clock: str = "cpu", warmup: int = 1) -> Timing:
    """Seconds of single calls of ``function`` (one sample per repeat), after ``warmup`` calls.

    The garbage collector stays enabled (its work is part of the cost) but runs a full collection
    before each call, so that no call pays for garbage left by an earlier one.
    """
    read = CLOCKS[clock]
    for _ in range(warmup):
        function()
    timing = Timing()
    for _ in range(repeats):
        gc.collect()
        start = read()
        function()
        timing.samples.append((read() - start) * 1e-9)
    return timing


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a title line and a table (Markdown-style borders, so it can be pasted into the README)."""
    console.print(f"[bold]{title}[/bold]")
    table = Table(box=box.MARKDOWN)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console.print(table)
    console.print()


def print_header(title: str, clock: str) -> None:
    """Print the benchmark title and the environment the figures were measured in."""
    console.print(f"[bold]{title}[/bold]")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    console.print(
        f"{datetime.date.today().isoformat()} | torch {torch.__version__} | Python {platform.python_version()} | "
        f"{os.cpu_count()} CPU cores | torch threads {torch.get_num_threads()} | clock: {clock} | load average {load}"
    )
    console.print()


@dataclass
class Target:
    """One target of a benchmark and whether the measured figure met it."""

    name: str
    passed: bool
    measured: str
    target: str
    baseline: str = ""  # what the figure compares with, e.g. "baseline: hand-written 12 µs"


def report_targets(targets: Sequence[Target], *, check: bool) -> int:
    """Print one PASS/FAIL line per target; return the exit code (1 only with ``check`` and a miss)."""
    console.print("[bold]Targets[/bold]")
    for target in targets:
        status = "[green]PASS[/green]" if target.passed else "[red]FAIL[/red]"
        baseline = f"; {target.baseline}" if target.baseline else ""
        console.print(f"{status} {target.name}: {target.measured} (target {target.target}{baseline})")
    missed = sum(not target.passed for target in targets)
    console.print(f"{len(targets) - missed}/{len(targets)} targets met")
    return 1 if check and missed else 0


def argument_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the ``--check`` option every benchmark has."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="cpu",
        help="cpu: this thread's CPU time (default; ignores time other processes take) or wall: elapsed time",
    )
    return parser
