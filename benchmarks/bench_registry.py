"""Registry speed: `torchbricks list` with the timm pack vs `timm.list_models()`, and lookups among 10,000 bricks.

Part 1 runs in a throwaway virtual environment with the timm pack and timm installed (see
``timm_env.py``; built on first use, ~1 min, then reused). Each round, interleaved (the baseline goes
first in even rounds and last in odd ones), times as separate processes, wall clock:
``python -c "import timm; timm.list_models()"`` (baseline), then ``python -m torchbricks.cli list
backbones`` three times with ``TORCHBRICKS_CACHE_DIR`` set to a fresh empty folder: the first call
finds the registry cache cold, the second and third warm. The children's CPU time (user + system) is
shown too. One untimed call of each comes first, so that files are in the page cache for both. Then
one process lists the backbones through ``torchbricks.registry.list_bricks`` with a warm (and one with a
cold) cache and reports whether torch and timm were imported.

Part 2 registers 10,000 local factories as ``heads`` in this process and times lookups (``get_entry``
bare and ``local:``-qualified, ``get``, ``create``, ``list_bricks`` with a glob) next to a plain dict
lookup, a direct call of the factory and ``fnmatch`` over the 10,000 names; then unregisters them.

Run: ``.venv/bin/python benchmarks/bench_registry.py [--check] [--rounds R] [--skip-timm] [--venv PATH]``
"""

from __future__ import annotations

import fnmatch
import functools
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import timm_env
from common import CLOCKS, Target, argument_parser, console, print_header, print_table, report_targets, time_interleaved

from torchbricks import registry

LATER_CALL_TARGET_S = 0.5
LOOKUP_TARGET_US = 20.0
N_ENTRIES = 10_000
KIND = "heads"
LOOKUP_NAME = "head_5000"
PATTERN = "head_99*"
CALLS = ("first", "second", "third")
BASELINE_CODE = "import timm; timm.list_models()"
IMPORT_CHECK_CODE = (
    "import sys; from torchbricks.registry import list_bricks; n = len(list_bricks('backbones')); "
    "print(n, 'torch' in sys.modules, 'timm' in sys.modules, 'torchbricks_timm.plugin' in sys.modules)"
)


@dataclass
class ProcessTime:
    """Wall and CPU (user + system) seconds of one child process."""

    wall: float
    cpu: float


@dataclass
class Round:
    """The timings of one round of part 1."""

    baseline: ProcessTime
    calls: dict[str, ProcessTime] = field(default_factory=dict)


def run_timed(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[ProcessTime, str]:
    """Run a command; its wall time, its CPU time (from ``RUSAGE_CHILDREN``) and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited with {result.returncode}:\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return ProcessTime(wall, cpu), result.stdout


def child_environment(cache_dir: Path) -> dict[str, str]:
    """This process's environment with the registry cache in ``cache_dir`` and the HF hub offline."""
    env = {key: value for key, value in os.environ.items() if key != "TORCHBRICKS_NO_CACHE"}
    env.update(TORCHBRICKS_CACHE_DIR=str(cache_dir), HF_HUB_OFFLINE="1")
    return env


def list_rounds(python: Path, rounds: int, workdir: Path) -> tuple[list[Round], int, Path]:
    """Part 1 timings: ``rounds`` interleaved rounds; also the number of bricks listed and a warm cache folder."""
    cwd = workdir / "cwd"  # empty: nothing in the script folder may change the cache key
    cwd.mkdir()
    baseline_argv = [str(python), "-c", BASELINE_CODE]
    list_argv = [str(python), "-m", "torchbricks.cli", "list", "backbones"]
    counter = iter(range(1_000_000))

    def fresh_cache() -> Path:
        folder = workdir / f"cache-{next(counter)}"
        folder.mkdir()
        return folder

    def list_calls() -> tuple[dict[str, ProcessTime], int, Path]:
        cache = fresh_cache()
        env = child_environment(cache)
        calls: dict[str, ProcessTime] = {}
        outputs = []
        for call in CALLS:
            calls[call], stdout = run_timed(list_argv, env, cwd)
            outputs.append(stdout)
            if call == "first" and not list(cache.glob("plugins-*.json")):
                raise RuntimeError(f"the first listing wrote no registry cache in {cache}")
        if len(set(outputs)) != 1:
            raise RuntimeError("the listings with a cold and a warm cache differ")
        return calls, len(outputs[0].splitlines()), cache

    console.print("warm-up: one untimed call of each (page cache)")
    run_timed(baseline_argv, child_environment(fresh_cache()), cwd)
    list_calls()
    results = []
    lines, warm_cache = 0, workdir
    for index in range(rounds):
        if index % 2 == 0:
            baseline, _ = run_timed(baseline_argv, child_environment(fresh_cache()), cwd)
            calls, lines, warm_cache = list_calls()
        else:
            calls, lines, warm_cache = list_calls()
            baseline, _ = run_timed(baseline_argv, child_environment(fresh_cache()), cwd)
        results.append(Round(baseline, calls))
        console.print(
            f"round {index + 1}/{rounds}: baseline {baseline.wall:.2f} s, "
            + ", ".join(f"{call} {calls[call].wall:.2f} s" for call in CALLS)
        )
    console.print()
    return results, lines, warm_cache


def process_time(result: Round, key: str) -> ProcessTime:
    """The baseline's (``key="baseline"``) or one listing call's time in a round."""
    return result.baseline if key == "baseline" else result.calls[key]


def import_check(python: Path, cache: Path, cwd: Path) -> tuple[int, bool, bool, bool]:
    """``list_bricks('backbones')`` in a new process: (bricks, torch imported, timm imported, plugin imported)."""
    _, stdout = run_timed([str(python), "-c", IMPORT_CHECK_CODE], child_environment(cache), cwd)
    count, torch_imported, timm_imported, plugin_imported = stdout.split()
    return int(count), torch_imported == "True", timm_imported == "True", plugin_imported == "True"


def part_listing(python: Path, rounds: int) -> list[Target]:
    """Part 1: print the tables and return its targets."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    try:
        results, lines, warm_cache = list_rounds(python, rounds, workdir)
        warm = import_check(python, warm_cache, workdir / "cwd")
        cold_cache = workdir / "cache-import-check"
        cold_cache.mkdir()
        cold = import_check(python, cold_cache, workdir / "cwd")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    labels = {"baseline": "timm.list_models()", **{call: f"{call} list" for call in CALLS}}

    def median(key: str, attribute: str) -> float:
        return statistics.median(getattr(process_time(result, key), attribute) for result in results)

    columns = [
        "round",
        *(f"{label} wall s" for label in labels.values()),
        *(f"{label} CPU s" for label in labels.values()),
    ]
    rows: list[list[object]] = [
        [
            str(index + 1),
            *(f"{process_time(result, key).wall:.3f}" for key in labels),
            *(f"{process_time(result, key).cpu:.3f}" for key in labels),
        ]
        for index, result in enumerate(results)
    ]
    rows.append(
        ["median", *(f"{median(key, 'wall'):.3f}" for key in labels), *(f"{median(key, 'cpu'):.3f}" for key in labels)]
    )
    print_table(
        f"`torchbricks list backbones` ({lines} lines) vs `{BASELINE_CODE}`; rounds: {len(results)}",
        columns,
        rows,
    )
    print_table(
        "Modules imported by `list_bricks('backbones')` in a new process",
        ["registry cache", "bricks", "torch", "timm", "torchbricks_timm.plugin"],
        [["cold (first call)", *map(str, cold)], ["warm (second call)", *map(str, warm)]],
    )
    baseline = median("baseline", "wall")
    first, second, third = (median(call, "wall") for call in CALLS)
    return [
        Target(
            "first `torchbricks list` (cold cache) vs timm.list_models()",
            first <= baseline,
            f"{first:.2f} s ({first / baseline:.2f}x)",
            "≤ baseline",
            f"baseline: timm.list_models() {baseline:.2f} s",
        ),
        Target("second `torchbricks list` (warm cache)", second <= LATER_CALL_TARGET_S, f"{second:.2f} s", "≤ 0.5 s"),
        Target("third `torchbricks list` (warm cache)", third <= LATER_CALL_TARGET_S, f"{third:.2f} s", "≤ 0.5 s"),
        Target(
            "warm listing imports neither torch nor timm",
            not warm[1] and not warm[2],
            f"torch {warm[1]}, timm {warm[2]}",
            "False, False",
        ),
    ]


def make_factory(index: int) -> Callable[..., int]:
    """A trivial factory named ``head_<index>``."""

    def factory(x: int = 0) -> int:
        """A trivial head."""
        return x

    factory.__name__ = factory.__qualname__ = f"head_{index}"
    return factory


def part_lookups(clock: str, repeats: int) -> list[Target]:
    """Part 2: print the tables and return its targets."""
    read = CLOCKS[clock]
    start = read()
    registry.list_bricks(KIND)  # discovery of the installed packs, outside the timed registration
    discovery_s = (read() - start) * 1e-9
    factories = [make_factory(index) for index in range(N_ENTRIES)]
    names = [f"head_{index}" for index in range(N_ENTRIES)]
    chunk_s: list[float] = []
    unregister_s = 0.0
    try:
        for begin in range(0, N_ENTRIES, 1_000):
            start = read()
            for index in range(begin, begin + 1_000):
                registry.register(KIND, names[index], factories[index])
            chunk_s.append((read() - start) * 1e-9)
        found = registry.list_bricks(KIND, PATTERN)
        expected = sorted(fnmatch.filter(names, PATTERN))
        if [entry.name for entry in found] != expected:
            raise RuntimeError(f"list_bricks({KIND!r}, {PATTERN!r}) returned {len(found)} entries")
        plain = dict(zip(names, factories, strict=True))
        factory = plain[LOOKUP_NAME]
        lookups = time_interleaved(
            {
                "dict lookup (baseline)": functools.partial(plain.get, LOOKUP_NAME),
                f'get_entry("{KIND}", "{LOOKUP_NAME}")': functools.partial(registry.get_entry, KIND, LOOKUP_NAME),
                f'get_entry("{KIND}", "local:{LOOKUP_NAME}")': functools.partial(
                    registry.get_entry, KIND, f"local:{LOOKUP_NAME}"
                ),
                f'get("{KIND}", "{LOOKUP_NAME}")': functools.partial(registry.get, KIND, LOOKUP_NAME),
                "factory(x=1) (baseline)": functools.partial(factory, x=1),
                f'create("{KIND}", "{LOOKUP_NAME}", x=1)': functools.partial(registry.create, KIND, LOOKUP_NAME, x=1),
            },
            number=1_000,
            repeats=repeats,
            clock=clock,
        )
        listing = time_interleaved(
            {
                f"sorted(fnmatch.filter(names, '{PATTERN}')) (baseline)": lambda: sorted(
                    fnmatch.filter(names, PATTERN)
                ),
                f'list_bricks("{KIND}", "{PATTERN}")': functools.partial(registry.list_bricks, KIND, PATTERN),
            },
            number=3,
            repeats=max(5, repeats // 3),
            clock=clock,
            warmup=1,
        )
    finally:
        start = read()
        for name in names:
            registry.unregister(KIND, name)
        unregister_s = (read() - start) * 1e-9
    if any(entry.name in plain for entry in registry.list_bricks(KIND)):
        raise RuntimeError("unregister left entries behind")

    registration_s = sum(chunk_s)
    print_table(
        f"Registering and unregistering {N_ENTRIES:,} local factories ({clock} clock)",
        ["step", "total ms", "µs per brick"],
        [
            ["discovery of the installed packs (first list_bricks)", f"{discovery_s * 1e3:.1f}", ""],
            ["register × 10,000", f"{registration_s * 1e3:.1f}", f"{registration_s / N_ENTRIES * 1e6:.1f}"],
            ["  first 1,000", f"{chunk_s[0] * 1e3:.1f}", f"{chunk_s[0] / 1_000 * 1e6:.1f}"],
            ["  last 1,000", f"{chunk_s[-1] * 1e3:.1f}", f"{chunk_s[-1] / 1_000 * 1e6:.1f}"],
            ["unregister × 10,000", f"{unregister_s * 1e3:.1f}", f"{unregister_s / N_ENTRIES * 1e6:.1f}"],
        ],
    )
    print_table(
        f"Lookups among {N_ENTRIES:,} heads ({clock} clock; median of {repeats} repeats × 1,000 calls, interleaved)",
        ["call", "µs per call", "min µs", "max µs"],
        [
            [name, f"{timing.median * 1e6:.2f}", f"{min(timing.samples) * 1e6:.2f}", f"{max(timing.samples) * 1e6:.2f}"]
            for name, timing in lookups.items()
        ],
    )
    listing_repeats = len(next(iter(listing.values())).samples)
    print_table(
        f"Glob listing among {N_ENTRIES:,} heads, {len(found)} matches "
        f"({clock} clock; median of {listing_repeats} repeats × 3 calls, interleaved)",
        ["call", "ms per call", "min ms", "max ms"],
        [
            [name, f"{timing.median * 1e3:.2f}", f"{min(timing.samples) * 1e3:.2f}", f"{max(timing.samples) * 1e3:.2f}"]
            for name, timing in listing.items()
        ],
    )
    baseline = lookups["dict lookup (baseline)"].median * 1e6
    targets = []
    for label, key in (
        ("bare", f'get_entry("{KIND}", "{LOOKUP_NAME}")'),
        ("qualified", f'get_entry("{KIND}", "local:{LOOKUP_NAME}")'),
    ):
        measured = lookups[key].median * 1e6
        targets.append(
            Target(
                f"{label} lookup among {N_ENTRIES:,} entries: {key}",
                measured <= LOOKUP_TARGET_US,
                f"{measured:.2f} µs",
                f"≤ {LOOKUP_TARGET_US:.0f} µs",
                f"baseline: dict lookup {baseline:.2f} µs",
            )
        )
    return targets


def timm_python(venv: str | None) -> tuple[Path | None, str]:
    """The timm environment's interpreter (``None`` when unavailable) and a line saying where it came from."""
    if venv:
        return timm_env.python_of(Path(venv)), f"environment: {venv} (given with --venv)"
    start = time.perf_counter()
    try:
        python, built = timm_env.ensure_environment()
    except timm_env.TimmUnavailableError as error:
        return None, str(error)
    how = f"built now in {time.perf_counter() - start:.0f} s" if built else "reused"
    return python, f"environment: {python.parents[1]} ({how}; {timm_env.timm_requirement()})"


def main() -> int:
    """Run the benchmark; returns the exit code."""
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the `torchbricks list` comparison (default 3)")
    parser.add_argument("--repeats", type=int, default=15, help="repeats of the lookup timings (default 15)")
    parser.add_argument("--skip-timm", action="store_true", help="only the lookups (part 2); no timm environment")
    parser.add_argument("--venv", metavar="PATH", help="an existing environment with the timm pack and timm")
    args = parser.parse_args()
    if args.rounds < 1 or args.repeats < 1:
        parser.error("--rounds and --repeats must be at least 1")
    if args.venv and not timm_env.python_of(Path(args.venv)).exists():
        parser.error(f"--venv {args.venv}: no {timm_env.python_of(Path(args.venv))}")
    print_header("Registry: `torchbricks list` with the timm pack, and lookups among 10,000 bricks", args.clock)

    targets: list[Target] = []
    if args.skip_timm:
        console.print("SKIP part 1 (`torchbricks list` vs timm.list_models()): --skip-timm given\n")
    else:
        python, where = timm_python(args.venv)
        if python is None:
            console.print(f"SKIP part 1 (`torchbricks list` vs timm.list_models()): {where}\n")
        else:
            console.print(where)
            targets += part_listing(python, args.rounds)
    targets += part_lookups(args.clock, args.repeats)
    return report_targets(targets, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
