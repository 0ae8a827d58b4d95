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

console = Console(highlight=False, soft_wrap=True)


@dataclass
class Timing:
    """Per-call times (seconds) of one candidate, one sample per repeat."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        """Median seconds per call over the repeats."""
        return statistics.median(self.samples)

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median (a noise indicator)."""
        if len(self.samples) < 4:
            return 0.0
        quartiles = statistics.quantiles(self.samples, n=4)
        return (quartiles[2] - quartiles[0]) / self.median


def time_interleaved(
    candidates: Mapping[str, Callable[[], object]],
    *,
    number: int,
    repeats: int,
    warmup: int = 2,
) -> dict[str, Timing]:
    """Time each candidate ``number`` calls at a time, ``repeats`` times, interleaving the candidates.

    Within one repeat every candidate runs one block of ``number`` calls; the order of the candidates
    rotates from repeat to repeat so that none always runs first (or right after the same one). Slow
    drifts of the machine's speed therefore hit every candidate alike. The garbage collector is
    disabled while a block runs (as ``timeit`` does).

    Returns:
        candidate name → :class:`Timing` with one seconds-per-call sample per repeat.
    """
    names = list(candidates)
    for name in names:  # warm up: caches, lazily built plans, allocator
        for _ in range(warmup):
            candidates[name]()
    timings = {name: Timing() for name in names}
    gc_was_enabled = gc.isenabled()
    try:
        for repeat in range(repeats):
            shift = repeat % len(names)
            order = names[shift:] + names[:shift]
            if repeat // len(names) % 2:
                order.reverse()
            for name in order:
                function = candidates[name]
                gc.collect()
                gc.disable()
                start = time.perf_counter_ns()
                for _ in range(number):
                    function()
                elapsed = time.perf_counter_ns() - start
                if gc_was_enabled:
                    gc.enable()
                timings[name].samples.append(elapsed * 1e-9 / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return timings


def time_repeated(function: Callable[[], object], *, repeats: int, warmup: int = 1) -> Timing:
    """Seconds of single calls of ``function`` (one sample per repeat), after ``warmup`` calls."""
    for _ in range(warmup):
        function()
    timing = Timing()
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter_ns()
        function()
        timing.samples.append((time.perf_counter_ns() - start) * 1e-9)
    return timing


def format_seconds(seconds: float) -> str:
    """A duration with a fitting unit (ns, µs, ms or s)."""
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.2f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a table (Markdown-style borders, so it can be pasted into the README)."""
    table = Table(title=title, box=box.MARKDOWN, title_justify="left", title_style="bold")
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console.print(table)
    console.print()


def print_header(title: str) -> None:
    """Print the benchmark title and the environment the figures were measured in."""
    console.print(f"[bold]{title}[/bold]")
    console.print(
        f"{datetime.date.today().isoformat()} | torch {torch.__version__} | Python {platform.python_version()} | "
        f"{os.cpu_count()} CPU cores | torch threads {torch.get_num_threads()} | {platform.machine()}"
    )
    console.print()


@dataclass
class Target:
    """One target of a benchmark and whether the measured figure met it."""

    name: str
    passed: bool
    measured: str
    target: str
    baseline: str = ""


def report_targets(targets: Sequence[Target], *, check: bool) -> int:
    """Print one PASS/FAIL line per target; return the exit code (1 only with ``check`` and a miss)."""
    console.print("[bold]Targets[/bold]")
    for target in targets:
        status = "[green]PASS[/green]" if target.passed else "[red]FAIL[/red]"
        baseline = f"; baseline {target.baseline}" if target.baseline else ""
        console.print(f"{status} {target.name}: {target.measured} (target {target.target}{baseline})")
    missed = sum(not target.passed for target in targets)
    console.print(f"{len(targets) - missed}/{len(targets)} targets met")
    return 1 if check and missed else 0


def argument_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the ``--check`` option every benchmark has."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    return parser
