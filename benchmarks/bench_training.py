"""Training throughput: the Lightning path (LightningBrickCollection + Trainer) vs a hand-written loop.

Same collection (the demo's model, channels-last as the demo trains it), same batches (shapes,
batch 32, the demo's augmentation, from one DataLoader), same optimizer, same groups (model + loss),
same number of steps, in the same run; images per second after a few warm-up steps. The Lightning
path logs every loss each step to a CSV logger, as the train run does. The loops alternate
(hand, Lightning, hand, Lightning, ...); each pair gives a throughput ratio and the median ratio is
reported, so drifts in the machine's speed hit both loops alike.
Target: the Lightning path within 5% of the hand-written loop.

Run: ``.venv/bin/python benchmarks/bench_training.py [--steps N] [--repeats N] [--check]``
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
import warnings

import torch
from common import Target, argument_parser, console, print_table, report_targets

WARMUP = 3
GROUPS = {"MODEL", "LOSS"}


def loader(count: int, batch_size: int) -> torch.utils.data.DataLoader:
    from bag_of_bricks.datasets import shapes
    from torchbricks.training import collate

    data = shapes(count=count, seed=0, augment=True)
    return torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, drop_last=True, collate_fn=collate)


def hand_loop(model: torch.nn.Module, batches: list[dict], steps: int) -> float:
    model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    started = 0.0
    for step in range(steps + WARMUP):
        if step == WARMUP:
            started = time.perf_counter()
        outputs = model(batches[step % len(batches)], groups=GROUPS)
        loss = sum(model.extract_losses(outputs).values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def lightning_loop(model: torch.nn.Module, batches: list[dict], steps: int) -> float:
    import pytorch_lightning as pl

    from torchbricks.training import LightningBrickCollection

    class Timer(pl.Callback):  # the training steps only, as for the hand loop: not fit's start-up and teardown
        started = stopped = 0.0

        def on_train_batch_start(self, trainer, module, batch, index) -> None:
            if trainer.global_step == WARMUP:
                Timer.started = time.perf_counter()

        def on_train_batch_end(self, trainer, module, outputs, batch, index) -> None:
            Timer.stopped = time.perf_counter()

    module = LightningBrickCollection(
        model, optimizer={"name": "AdamW", "lr": 1e-3}, train_groups=GROUPS, channels_last=True, log_visualizations=0
    )
    with tempfile.TemporaryDirectory() as folder:
        trainer = pl.Trainer(
            max_steps=steps + WARMUP,
            accelerator="cpu",
            logger=pl.loggers.CSVLogger(folder),
            log_every_n_steps=10,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[Timer()],
            num_sanity_val_steps=0,
        )
        steps_batches = [batches[index % len(batches)] for index in range(steps + WARMUP)]
        trainer.fit(module, torch.utils.data.DataLoader(steps_batches, batch_size=None))
        return Timer.stopped - Timer.started


def main() -> int:
    parser = argument_parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    import logging

    import pytorch_lightning  # noqa: F401 - sets its loggers' levels on import; quieten them afterwards

    logging.getLogger("pytorch_lightning").setLevel(logging.WARNING)
    from bag_of_bricks.demo.run import DEMO_CONFIG
    from torchbricks import build_model

    torch.manual_seed(0)
    batches = [batch for _, batch in zip(range(8), loader(8 * args.batch_size, args.batch_size), strict=False)]
    initial = build_model(DEMO_CONFIG).state_dict()

    def fresh() -> torch.nn.Module:  # deepcopy cannot copy the visualizers' fonts
        model = build_model(DEMO_CONFIG)
        model.load_state_dict(initial)
        return model

    seconds: dict[str, list[float]] = {"hand-written loop": [], "Lightning": []}
    for _ in range(args.repeats):
        seconds["hand-written loop"].append(hand_loop(fresh(), batches, args.steps))
        seconds["Lightning"].append(lightning_loop(fresh(), batches, args.steps))
    images = args.steps * args.batch_size
    rows = [
        [name, " / ".join(f"{value:.1f}" for value in values), f"{images / statistics.median(values):.1f}"]
        for name, values in seconds.items()
    ]
    print_table(
        f"{args.steps} steps of batch {args.batch_size}", ["loop", "seconds (each repeat)", "images/s (median)"], rows
    )
    ratios = [hand / lightning for hand, lightning in zip(*seconds.values(), strict=True)]
    ratio = statistics.median(ratios)
    console.print(
        f"Lightning throughput / hand-written loop throughput: {ratio:.3f} (median of the pairs "
        f"{', '.join(f'{value:.3f}' for value in ratios)})"
    )
    return report_targets(
        [Target("Lightning within 5% of the hand loop", ratio >= 0.95, f"{ratio:.3f}", "≥ 0.95")], check=args.check
    )


if __name__ == "__main__":
    sys.exit(main())
