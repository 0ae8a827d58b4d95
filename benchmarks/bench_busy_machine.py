"""The demo's training beside one competing CPU-bound process: torch's default threads against the thread policy.

Each run is ``torchbricks train`` of the demo's train config (``torchbricks demo --print-config``: same
model, batch 32, data and seed), shortened to ``--steps`` steps and evaluated on 200 validation
images after training (not timed), in its own process. Three thread settings: **old**, torch's default
(one intra-op thread per core, ``--threads <cores>``, whose idle threads spin: torch is imported before
the command runs, so it cannot set ``OMP_WAIT_POLICY``), **one** (``--threads 1``, the policy of the
previous release: one core always left free) and **policy** (``threads: auto``, the default, with idle
threads sleeping: :mod:`torchbricks._threads`). Two machine states: **quiet** (nothing added; on a
shared machine other work still runs, so "quiet" means "as it was") and **busy**: one extra process
running ``while True: pass`` for the whole run. The six runs of a pair are interleaved (the order
rotates from pair to pair), and each setting's slowdown is the median over pairs of busy / quiet
training seconds (``run.json``'s ``train_seconds``: the steps, without start-up and evaluation).

Targets: with the policy, busy ≤ 2× quiet; and the busy run's ``metrics.json`` equal to the quiet
run's (seeded, counted in steps: the same figures however busy the machine is). Reported beside them:
each setting's time against the policy's in the same machine state.

Run: ``.venv/bin/python benchmarks/bench_busy_machine.py [--check] [--quick] [--steps N] [--pairs N]``
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import Target, argument_parser, console, print_header, print_table, report_targets
from rich.markup import escape

TARGET_SLOWDOWN = 2.0
RUN_TIMEOUT_SECONDS = 900
SETTINGS = ("old", "one", "policy")
WAIT_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
TORCH_FIRST = "import sys, torch; from torchbricks.cli import main; sys.exit(main(sys.argv[1:]))"
STATES = ("quiet", "busy")


def write_config(folder: Path) -> Path:
    """The demo's train config as a file (what ``torchbricks demo --print-config`` prints)."""
    from bag_of_bricks.demo.run import DEMO_TRAIN_CONFIG

    path = folder / "demo-train.json"
    path.write_text(json.dumps(DEMO_TRAIN_CONFIG))
    return path


def train_once(config: Path, output: Path, steps: int, setting: str, competitors: int) -> dict[str, Any]:
    """One ``torchbricks train`` run in its own process, beside ``competitors`` busy-loop processes."""
    start = ["-c", TORCH_FIRST] if setting == "old" else ["-m", "torchbricks.cli"]  # old: torch loaded first
    command = [
        sys.executable,
        *start,
        "train",
        str(config),
        "--output",
        str(output),
        "--set",
        f"trainer.max_steps={steps}",
        "--set",
        "data.validation[0].count=200",
        "--set",
        "visualizations=0",
    ]
    if setting != "policy":
        command += ["--threads", str(os.cpu_count() or 1) if setting == "old" else "1"]  # old: one per core
    environment = {key: value for key, value in os.environ.items() if key not in WAIT_VARIABLES}
    busy_loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(competitors)]
    try:
        if busy_loops:
            time.sleep(1.0)  # they run before the training starts, as another user's job would
        finished = subprocess.run(
            command, capture_output=True, text=True, env=environment, timeout=RUN_TIMEOUT_SECONDS, check=False
        )
    finally:
        for loop in busy_loops:
            loop.kill()
            loop.wait()
    if finished.returncode != 0:
        raise RuntimeError(f"torchbricks train failed:\n{finished.stderr[-3000:]}")
    run = json.loads((output / "run.json").read_text())
    line = next((text for text in finished.stderr.splitlines() if text.startswith("threads:")), "")
    return {"run": run, "metrics": (output / "metrics.json").read_text(), "line": line}


def main() -> int:
    """Run the pairs; return the exit code."""
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 steps, one pair (a smoke test)")
    parser.add_argument("--steps", type=int, default=30, help="training steps per run (default 30)")
    parser.add_argument("--pairs", type=int, default=2, help="interleaved pairs of quiet and busy runs (default 2)")
    parser.add_argument(
        "--competitors", type=int, default=1, help="busy-loop processes beside a busy run (default 1; the target's)"
    )
    args = parser.parse_args()
    steps, pairs = (10, 1) if args.quick else (args.steps, args.pairs)
    beside = f"{args.competitors} busy-loop process{'es' * (args.competitors != 1)}"
    print_header(f"The demo's training ({steps} steps) quiet vs beside {beside}, {pairs} pair(s)", "wall")
    results: dict[tuple[str, str], list[dict[str, Any]]] = {(s, m): [] for s in SETTINGS for m in STATES}
    with tempfile.TemporaryDirectory() as folder:
        config = write_config(Path(folder))
        for pair in range(pairs):
            runs = [(setting, state) for state in STATES for setting in SETTINGS]
            shift = pair % len(runs)
            for setting, state in runs[shift:] + runs[:shift]:
                output = Path(folder) / f"{setting}-{state}-{pair}"
                started = time.perf_counter()
                result = train_once(config, output, steps, setting, args.competitors if state == "busy" else 0)
                load = os.getloadavg()[0]
                console.print(
                    f"pair {pair + 1} {setting:>6} {state:>5}: {result['run']['train_seconds']:6.1f} s training, "
                    f"{result['run']['threads']} thread(s), {time.perf_counter() - started:5.1f} s in all, "
                    f"load {load:.1f}  ({escape(result['line'])})"
                )
                results[(setting, state)].append(result)
    rows, targets = [], []
    for setting in SETTINGS:
        quiet, busy = results[(setting, "quiet")], results[(setting, "busy")]
        ratios = [b["run"]["train_seconds"] / q["run"]["train_seconds"] for q, b in zip(quiet, busy, strict=True)]
        same = all(b["metrics"] == q["metrics"] for q, b in zip(quiet, busy, strict=True))
        threads = sorted({r["run"]["threads"] for r in quiet + busy})
        rows.append(
            [
                setting,
                ", ".join(map(str, threads)),
                f"{statistics.median(r['run']['train_seconds'] for r in quiet):.1f}",
                f"{statistics.median(r['run']['train_seconds'] for r in busy):.1f}",
                f"{statistics.median(ratios):.2f}",
                "yes" if same else "no",
            ]
        )
        if setting == "policy":
            ratio = statistics.median(ratios)
            old = statistics.median(
                b["run"]["train_seconds"] / q["run"]["train_seconds"]
                for q, b in zip(results[("old", "quiet")], results[("old", "busy")], strict=True)
            )
            targets.append(
                Target(
                    "busy / quiet training time with the policy",
                    ratio <= TARGET_SLOWDOWN,
                    f"{ratio:.2f}x",
                    f"≤ {TARGET_SLOWDOWN:.0f}x",
                    f"torch's default threads: {old:.2f}x",
                )
            )
            targets.append(Target("same metrics.json busy and quiet (policy)", same, "yes" if same else "no", "yes"))
    speedups = []
    for state in STATES:
        row = [state]
        for setting in ("old", "one"):
            paired = zip(results[(setting, state)], results[("policy", state)], strict=True)
            ratio = statistics.median(o["run"]["train_seconds"] / p["run"]["train_seconds"] for o, p in paired)
            row.append(f"{ratio:.2f}")
        speedups.append(row)
    print_table(
        "Training time against the policy's, same machine state (median of pairs; > 1: the policy is faster)",
        ["state", "old / policy", "one / policy"],
        speedups,
    )
    print_table(
        f"Training seconds (median over pairs) and the slowdown beside {beside}",
        ["threads", "count(s)", "quiet s", "busy s", "busy / quiet (median of pairs)", "same metrics"],
        rows,
    )
    return report_targets(targets, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
