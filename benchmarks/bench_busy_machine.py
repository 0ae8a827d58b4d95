"""The demo's training beside one competing CPU-bound process: torch's default threads against the thread policy.

Each run is ``torchbricks train`` of the demo's train config (``torchbricks demo --print-config``: same
model, batch 32, data and seed), shortened to ``--steps`` steps and evaluated on 200 validation
images after training (not timed), in its own process. Two thread settings: **old**, torch's default
(one intra-op thread per core: ``--threads <cores>``) and **policy** (``threads: auto``, the default:
:mod:`torchbricks._threads`). Two machine states: **quiet** (nothing added; on a shared machine other
work still runs, so "quiet" means "as it was") and **busy**: one extra process running ``while True:
pass`` for the whole run. The four runs of a pair are interleaved (the order rotates from pair to
pair), and each setting's slowdown is the median over pairs of busy / quiet training seconds
(``run.json``'s ``train_seconds``: the steps, without start-up and evaluation).

Targets: with the policy, busy ≤ 2× quiet; and the busy run's ``metrics.json`` equal to the quiet
run's (seeded, counted in steps: the same figures however busy the machine is).

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
SETTINGS = ("old", "policy")
STATES = ("quiet", "busy")


def write_config(folder: Path) -> Path:
    """The demo's train config as a file (what ``torchbricks demo --print-config`` prints)."""
    from bag_of_bricks.demo.run import DEMO_TRAIN_CONFIG

    path = folder / "demo-train.json"
    path.write_text(json.dumps(DEMO_TRAIN_CONFIG))
    return path


def train_once(config: Path, output: Path, steps: int, setting: str, busy: bool) -> dict[str, Any]:
    """One ``torchbricks train`` run in its own process (beside a busy-loop process when ``busy``)."""
    command = [
        sys.executable,
        "-m",
        "torchbricks.cli",
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
    if setting == "old":
        command += ["--threads", str(os.cpu_count() or 1)]  # torch's default: one thread per core
    environment = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    competitor = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        if competitor is not None:
            time.sleep(1.0)  # it runs before the training starts, as another user's job would
        finished = subprocess.run(
            command, capture_output=True, text=True, env=environment, timeout=RUN_TIMEOUT_SECONDS, check=False
        )
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()
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
    args = parser.parse_args()
    steps, pairs = (10, 1) if args.quick else (args.steps, args.pairs)
    print_header(f"The demo's training ({steps} steps) quiet vs beside one busy-loop process, {pairs} pair(s)", "wall")
    results: dict[tuple[str, str], list[dict[str, Any]]] = {(s, m): [] for s in SETTINGS for m in STATES}
    with tempfile.TemporaryDirectory() as folder:
        config = write_config(Path(folder))
        for pair in range(pairs):
            runs = [(setting, state) for state in STATES for setting in SETTINGS]
            shift = pair % len(runs)
            for setting, state in runs[shift:] + runs[:shift]:
                output = Path(folder) / f"{setting}-{state}-{pair}"
                started = time.perf_counter()
                result = train_once(config, output, steps, setting, busy=state == "busy")
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
        paired = zip(results[("old", state)], results[("policy", state)], strict=True)
        ratio = statistics.median(p["run"]["train_seconds"] / o["run"]["train_seconds"] for o, p in paired)
        speedups.append([state, f"{ratio:.2f}"])
    print_table("Policy / old training time, same machine state (median of pairs)", ["state", "ratio"], speedups)
    print_table(
        "Training seconds (median over pairs) and the slowdown beside one busy-loop process",
        ["threads", "count(s)", "quiet s", "busy s", "busy / quiet (median of pairs)", "same metrics"],
        rows,
    )
    return report_targets(targets, check=args.check)


if __name__ == "__main__":
    sys.exit(main())
