"""A train run's progress: a bar counting steps, or a line every few steps (for logs)."""

from __future__ import annotations

import sys
import time
from typing import Any


def step_progress_bar(pl: Any) -> Any:
    """Lightning's progress bar, counting a step-counted run's steps (``Steps 120/400``) rather than epochs."""

    class StepProgressBar(pl.callbacks.TQDMProgressBar):
        def on_train_epoch_start(self, trainer: Any, *arguments: Any) -> None:
            if trainer.max_steps is None or trainer.max_steps <= 0:
                super().on_train_epoch_start(trainer, *arguments)
                return
            bar = self.train_progress_bar
            if bar.total != trainer.max_steps:  # once: one bar over every epoch
                bar.reset(total=trainer.max_steps)
                bar.initial = bar.n = trainer.global_step
            bar.set_description("Steps")

        def on_train_batch_end(self, trainer: Any, module: Any, *arguments: Any) -> None:
            if trainer.max_steps is None or trainer.max_steps <= 0:
                super().on_train_batch_end(trainer, module, *arguments)
                return
            bar = self.train_progress_bar
            if not bar.disable:
                bar.n = trainer.global_step
                bar.set_postfix(self.get_metrics(trainer, module))  # refreshes

    return StepProgressBar()


def progress_lines(pl: Any, every: int | None = None) -> Any:
    """A callback printing a line every ``every`` steps to stderr (default: a twentieth of ``max_steps``).

    For logs, where a progress bar is one endless line: ``step 100/2000 (5%)  loss 0.5123  41 s``.
    """

    class ProgressLines(pl.callbacks.Callback):
        def __init__(self) -> None:
            self.every = every
            self.started = time.perf_counter()
            self.printed = -1

        def on_train_start(self, trainer: Any, module: Any) -> None:
            self.started = time.perf_counter()
            if self.every is None:
                self.every = max(1, trainer.max_steps // 20) if trainer.max_steps and trainer.max_steps > 0 else 50

        def on_train_batch_end(self, trainer: Any, module: Any, *arguments: Any) -> None:
            step = int(trainer.global_step)
            last = step == trainer.max_steps
            if not trainer.is_global_zero or step == self.printed or (step % (self.every or 1) and not last):
                return
            self.printed = step
            total = f"/{trainer.max_steps} ({100 * step // trainer.max_steps}%)" if trainer.max_steps > 0 else ""
            loss = trainer.callback_metrics.get("train/loss")
            shown = f"  loss {float(loss):.4f}" if loss is not None else ""
            print(f"step {step}{total}{shown}  {time.perf_counter() - self.started:.0f} s", file=sys.stderr, flush=True)

        def on_validation_end(self, trainer: Any, module: Any) -> None:
            loss = trainer.callback_metrics.get("val/loss")
            if trainer.is_global_zero and not trainer.sanity_checking and loss is not None:
                print(f"validation at step {trainer.global_step}: loss {float(loss):.4f}", file=sys.stderr, flush=True)

    return ProgressLines()
