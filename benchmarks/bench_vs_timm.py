"""`torchbricks train` vs timm's own `train.py`: same image folder, model, batch, optimizer, schedule and threads.

**Data** (``generated_images.py``, written to a temporary folder): ``train/`` with 2 classes
(``horizontal``, ``vertical``: noisy stripes within 30° of either) × ``--per-class`` (default 320) RGB
JPEGs of 256×256 (quality 90), and ``validation/`` with a quarter as many; both tools resize them to
``--image-size`` (default 64) with a bilinear filter and no augmentation (timm: ``--no-aug
--crop-pct 1.0``, i.e. resize and a centre crop of the whole square picture).

**The work**: timm's resnet18 from scratch (torchbricks: the timm pack's backbone
``torchbricks-timm:resnet18`` + the standard ``image_classification`` task; timm: ``--model resnet18``),
batch 64, 2 classes, AdamW (lr 1e-3, weight decay 0.05), label smoothing 0.1, a cosine schedule stepped
every update after one epoch of linear warm-up, channels-last memory, ``--epochs`` epochs (default 3: 30
steps of the 640 images), validation after each epoch, ``--threads`` torch threads
(``OMP_NUM_THREADS`` for both, and ``--threads`` for ``torchbricks train``; ``--threads auto``: each
tool's own choice instead — torch's default for timm, the thread policy for torchbricks) and ``--workers`` loader
workers (default 1 and 1: two busy processes, for the two cores of the reference machine).

**Measured** per run, over the steps after the first epoch (warm-up, compilation): **images/s
including data loading** (images / the summed time from the end of one step to the end of the next; the
first step of an epoch counts from the epoch's start, validation is left out) and the **step time** (the
median of that interval less the wait for the batch). timm's ``train.py`` logs both per update with
``--log-interval 1`` (``Time:`` and ``Data:``); for ``torchbricks train`` the callback in ``step_timer.py``
records the same points. Plus accuracy on the validation split at the end and the whole process's wall
time. The runs take turns (timm, torchbricks eager, torchbricks ``compile: true``, with the order
rotating) for ``--pairs`` rounds; the figures are medians over rounds of the per-round ratios.
``compile: true`` runs when ``torchbricks train --check --set compile=true`` accepts the key.

**timm's train.py** is not in timm's source distribution: take it from the repository at the pinned
tag (a dev-only file, never shipped or copied into this repository) and pass it with ``--timm-train``::

    git clone --depth 1 --branch v1.0.28 https://github.com/huggingface/pytorch-image-models /tmp/timm-repo
    .venv/bin/python benchmarks/bench_vs_timm.py --timm-train /tmp/timm-repo/train.py

(or ``git --git-dir=<a mirror>.git show v1.0.28:train.py > /tmp/timm_train.py``). Both tools run in the
throwaway environment ``timm_env.py`` builds (the timm pack, editable, and timm as recorded by the
pack, 1.0.31); ``train.py`` v1.0.28 runs with it unchanged. Without ``--timm-train`` the script prints a
``SKIP`` line and exits 0.

``--bf16`` adds two runs in bf16 mixed precision (``trainer.precision: bf16-mixed``; timm's ``--amp
--amp-dtype bfloat16``): other arithmetic, so reported beside the target, not in it.

Target: torchbricks ≥ 1.2× timm ``train.py`` eager in images/s, both in fp32 (eager or ``compile: true``;
the line says which). Run: ``.venv/bin/python benchmarks/bench_vs_timm.py --timm-train PATH [--quick]
[--pairs N] [--epochs N] [--threads N] [--workers N] [--no-compile] [--bf16] [--check]``
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import Target, argument_parser, console, print_header, print_table, report_targets
from generated_images import write_image_folder
from timm_env import TimmUnavailableError, ensure_environment

BENCHMARKS = Path(__file__).resolve().parent
BATCH = 64
ENVIRONMENT_CHOICES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "KMP_BLOCKTIME")
"""Left out of the runs' environment: each tool's own thread and wait choices apply (``--threads`` sets the count)."""
TIMM_TRAIN_TAG = "v1.0.28"
TIMM_TRAIN_COMMIT = "8ef73809f622e0031bd7f4940265734aef8b9978"
TIMM_TRAIN_SHA256 = "1fb02d26fe16536bc7de2c987980644353117c2b2b8046532261464093cd1ac6"
TIMM_LINE = re.compile(r"Train: (\d+) \[\s*(\d+)/\s*\d+ .*?Time: ([\d.]+)s, .*?Data: ([\d.]+) \(")


@dataclass
class Run:
    """One training run: per-step (epoch, data wait, total interval) and the end figures."""

    steps: list[tuple[int, float, float]] = field(default_factory=list)
    accuracy: float = float("nan")
    wall: float = 0.0

    def measured(self) -> list[tuple[int, float, float]]:
        """The steps after the first epoch."""
        return [step for step in self.steps if step[0] >= 1]

    @property
    def images_per_second(self) -> float:
        steps = self.measured()
        return BATCH * len(steps) / sum(total for _, _, total in steps)

    @property
    def step_seconds(self) -> float:
        return statistics.median(total - data for _, data, total in self.measured())

    @property
    def first_step_seconds(self) -> float:
        """The first step, from the start of training: start-up of the loader (and compilation)."""
        return self.steps[0][2]

    @property
    def data_seconds(self) -> float:
        return statistics.median(data for _, data, _ in self.measured())


def torchbricks_config(
    root: Path, args: Any, steps_file: Path, compile_model: bool, bf16: bool = False
) -> dict[str, Any]:
    """The train config: the timm pack's resnet18 + image_classification on the generated folder."""
    dataset = {"name": "image_folder", "image_size": args.image_size}
    config: dict[str, Any] = {
        "model": {
            "backbone": {"name": "torchbricks-timm:resnet18", "out_indices": [4]},
            "tasks": {"stripes": {"task": "image_classification", "num_classes": 2, "label_smoothing": 0.1}},
        },
        "data": {
            "train": {**dataset, "root": str(root / "train")},
            "validation": {**dataset, "root": str(root / "validation")},
            "batch_size": BATCH,
            "num_workers": args.workers,
        },
        "trainer": {"max_steps": args.epochs * steps_per_epoch(args), "accelerator": "cpu"},
        "optimizer": {"name": "AdamW", "lr": 1e-3, "weight_decay": 0.05},
        "scheduler": {"name": "warmup_cosine", "warmup_fraction": 1 / args.epochs},
        "channels_last": True,
        "seed": 0,
        "callbacks": [{"name": "step_timer.StepTimer", "path": str(steps_file)}],
    }
    if compile_model:
        config["compile"] = True
    if bf16:
        config["trainer"]["precision"] = "bf16-mixed"
    return config


def steps_per_epoch(args: Any) -> int:
    return 2 * args.per_class // BATCH


def timm_command(python: Path, train_py: Path, root: Path, output: Path, args: Any, bf16: bool = False) -> list[str]:
    """timm's ``train.py`` on the same folder with the same settings (see the module docstring)."""
    precision = ["--amp", "--amp-dtype", "bfloat16"] if bf16 else []
    return [
        str(python), str(train_py), *precision, "--data-dir", str(root), "--model", "resnet18", "--num-classes", "2",
        "-b", str(BATCH), "--opt", "adamw", "--lr", "1e-3", "--weight-decay", "0.05",
        "--sched", "cosine", "--sched-on-updates", "--warmup-epochs", "1", "--warmup-lr", "1e-5",
        "--epochs", str(args.epochs), "--smoothing", "0.1", "--img-size", str(args.image_size),
        "--no-aug", "--crop-pct", "1.0", "--interpolation", "bilinear", "--channels-last",
        "--workers", str(args.workers), "--device", "cpu", "--seed", "0", "--log-interval", "1",
        "--checkpoint-hist", "1", "--output", str(output), "--experiment", "run",
    ]  # fmt: skip


def run_timm(
    python: Path, train_py: Path, root: Path, folder: Path, args: Any, env: dict[str, str], bf16: bool = False
) -> Run:
    output = folder / "timm"
    started = time.perf_counter()
    command = timm_command(python, train_py, root, output, args, bf16)
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    text = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"timm's train.py failed (exit {result.returncode}):\n{text[-3000:]}")
    run = Run(wall=wall)
    for match in TIMM_LINE.finditer(text):
        epoch, _, total, data = match.groups()
        run.steps.append((int(epoch), float(data), float(total)))
    with open(output / "run" / "summary.csv", newline="", encoding="utf-8") as handle:
        run.accuracy = float(list(csv.DictReader(handle))[-1]["eval_top1"]) / 100
    return run


def run_torchbricks(
    python: Path, root: Path, folder: Path, args: Any, env: dict[str, str], compile_model: bool, bf16: bool = False
) -> Run:
    steps_file, output = folder / "steps.json", folder / "torchbricks"
    config = folder / "train.json"
    config.write_text(json.dumps(torchbricks_config(root, args, steps_file, compile_model, bf16)), encoding="utf-8")
    command = [str(python), "-m", "torchbricks.cli", "train", str(config), "--output", str(output)]
    started = time.perf_counter()
    result = subprocess.run(
        command + ([] if args.threads == "auto" else ["--threads", args.threads]),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"torchbricks train failed (exit {result.returncode}):\n{(result.stdout + result.stderr)[-3000:]}"
        )
    run = Run(wall=wall)
    run.steps = [(row["epoch"], row["data"], row["total"]) for row in json.loads(steps_file.read_text())]
    metrics = json.loads((output / "metrics.json").read_text())
    run.accuracy = float(metrics["stripes"]["accuracy"])
    return run


def compile_supported(python: Path, root: Path, folder: Path, args: Any, env: dict[str, str]) -> bool:
    """Whether ``torchbricks train --check`` accepts ``compile: true``."""
    config = folder / "check.json"
    config.write_text(json.dumps(torchbricks_config(root, args, folder / "unused.json", True)), encoding="utf-8")
    command = [str(python), "-m", "torchbricks.cli", "train", str(config), "--check"]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False).returncode == 0


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--timm-train", type=Path, help=f"timm's train.py (tag {TIMM_TRAIN_TAG}; see the docstring)")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 1 round of 2 short epochs")
    parser.add_argument("--pairs", type=int, default=None, help="rounds (default 3; 1 with --quick)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per run (default 3; 2 with --quick)")
    parser.add_argument("--per-class", type=int, default=None, help="training images per class (default 320)")
    parser.add_argument("--image-size", type=int, default=64, help="training resolution (default 64)")
    parser.add_argument(
        "--threads", default="1", help="torch threads for both (default 1); auto: each tool's own default"
    )
    parser.add_argument("--workers", type=int, default=1, help="loader workers for both (default 1)")
    parser.add_argument("--no-compile", action="store_true", help="skip the compile: true runs")
    parser.add_argument(
        "--bf16",
        action="store_true",
        help="also bf16 mixed precision: trainer.precision=bf16-mixed and timm's --amp --amp-dtype bfloat16",
    )
    args = parser.parse_args()
    args.pairs = args.pairs or (1 if args.quick else 3)
    args.epochs = args.epochs or (2 if args.quick else 3)
    args.per_class = args.per_class or (192 if args.quick else 320)
    print_header("torchbricks train vs timm's train.py: resnet18 from scratch on a generated image folder", "wall")
    if args.timm_train is None or not args.timm_train.is_file():
        console.print(
            f"SKIP: no timm train.py given (--timm-train PATH; tag {TIMM_TRAIN_TAG}, commit {TIMM_TRAIN_COMMIT}; "
            "see this script's docstring for how to get it)"
        )
        return 0
    digest = sha256(args.timm_train)
    pinned = "the pinned file" if digest == TIMM_TRAIN_SHA256 else f"NOT the pinned {TIMM_TRAIN_TAG} file"
    console.print(f"timm train.py: {args.timm_train} (sha256 {digest[:12]}…: {pinned})")
    try:
        python, built = ensure_environment()
    except TimmUnavailableError as error:
        console.print(f"SKIP: {error}")
        return 0
    console.print(f"environment: {python.parent.parent}{' (built now)' if built else ''}")
    if args.threads != "auto" and not (args.threads.isdigit() and int(args.threads) > 0):
        parser.error(f"--threads: a positive integer or auto, got {args.threads!r}")
    threads = {} if args.threads == "auto" else {"OMP_NUM_THREADS": args.threads, "MKL_NUM_THREADS": args.threads}
    env = {
        **{key: value for key, value in os.environ.items() if key not in ENVIRONMENT_CHOICES},
        **threads,
        "PYTHONPATH": os.pathsep.join([str(BENCHMARKS), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    with tempfile.TemporaryDirectory(prefix="bench-vs-timm-") as temporary:
        folder = Path(temporary)
        root = write_image_folder(folder / "data", per_class=args.per_class, size=256)
        console.print(
            f"data: {root}: 2 classes × {args.per_class} JPEGs 256×256 (train), × {max(8, args.per_class // 4)} "
            f"(validation) → {args.image_size}×{args.image_size}; batch {BATCH}, {args.epochs} epochs of "
            f"{steps_per_epoch(args)} steps; {args.threads} thread(s), {args.workers} worker(s)\n"
        )
        variants = ["timm train.py", "torchbricks eager"]
        if not args.no_compile:
            if compile_supported(python, root, folder, args, env):
                variants.append("torchbricks compile")
            else:
                console.print("SKIP compile: true (torchbricks train --check refuses the key)\n")
        if args.bf16:
            variants += ["timm train.py bf16", "torchbricks bf16"]
        runs: dict[str, list[Run]] = {name: [] for name in variants}
        for round_index in range(args.pairs):
            order = variants[round_index % len(variants) :] + variants[: round_index % len(variants)]
            for name in order:
                run_folder = folder / f"{name.replace(' ', '_')}_{round_index}"
                run_folder.mkdir()
                bf16 = name.endswith("bf16")
                if name.startswith("timm"):
                    run = run_timm(python, args.timm_train, root, run_folder, args, env, bf16)
                else:
                    run = run_torchbricks(python, root, run_folder, args, env, name.endswith("compile"), bf16)
                runs[name].append(run)
                console.print(
                    f"round {round_index + 1} {name}: {run.images_per_second:.1f} images/s, step "
                    f"{run.step_seconds:.3f} s, data wait {run.data_seconds:.3f} s, accuracy {run.accuracy:.3f}, "
                    f"first step {run.first_step_seconds:.1f} s, {run.wall:.0f} s in all"
                )
        console.print()
        return report(runs, args)


def report(runs: dict[str, list[Run]], args: Any) -> int:
    baseline = runs["timm train.py"]
    rows = []
    ratios: dict[str, float] = {}
    for name, results in runs.items():
        speed = [run.images_per_second / base.images_per_second for run, base in zip(results, baseline, strict=True)]
        step = [base.step_seconds / run.step_seconds for run, base in zip(results, baseline, strict=True)]
        ratios[name] = statistics.median(speed)
        rows.append(
            [
                name,
                f"{statistics.median(run.images_per_second for run in results):.1f}",
                f"{statistics.median(speed):.3f} ({', '.join(f'{value:.2f}' for value in speed)})",
                f"{statistics.median(run.step_seconds for run in results):.3f}",
                f"{statistics.median(step):.3f}",
                f"{statistics.median(run.data_seconds for run in results):.3f}",
                f"{statistics.median(run.first_step_seconds for run in results):.1f}",
                " / ".join(f"{run.accuracy:.3f}" for run in results),
                f"{statistics.median(run.wall for run in results):.0f}",
            ]
        )
    print_table(
        f"medians over {args.pairs} round(s); steps after the first epoch",
        [
            "run",
            "images/s (with loading)",
            "vs timm (each round)",
            "step s",
            "step speed-up vs timm",
            "data wait s",
            "first step s",
            "accuracy (each round)",
            "wall s",
        ],
        rows,
    )
    same_arithmetic = [name for name in ratios if name.startswith("torchbricks") and not name.endswith("bf16")]
    best = max(same_arithmetic, key=lambda name: ratios[name])
    others = ", ".join(f"{name} {ratios[name]:.2f}×" for name in same_arithmetic if name != best)
    if "torchbricks bf16" in ratios:
        both_bf16 = statistics.median(
            run.images_per_second / base.images_per_second
            for run, base in zip(runs["torchbricks bf16"], runs["timm train.py bf16"], strict=True)
        )
        console.print(
            f"bf16 mixed precision (other arithmetic, so outside the target): torchbricks bf16 "
            f"{ratios['torchbricks bf16']:.2f}× timm train.py fp32, {both_bf16:.2f}× timm train.py bf16"
        )
    return report_targets(
        [
            Target(
                "torchbricks train images/s vs timm train.py eager (both fp32)",
                ratios[best] >= 1.2,
                f"{ratios[best]:.2f}× with {best.removeprefix('torchbricks ')}" + (f" ({others})" if others else ""),
                "≥ 1.2×",
                f"timm {statistics.median(run.images_per_second for run in runs['timm train.py']):.1f} images/s; "
                f"threads {args.threads}, workers {args.workers}",
            )
        ],
        check=args.check,
    )


if __name__ == "__main__":
    sys.exit(main())
