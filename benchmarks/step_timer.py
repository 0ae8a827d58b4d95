"""A Lightning callback that records when each training step waits for data and when it ends (for ``bench_vs_timm.py``).

``bench_vs_timm.py`` puts this folder on ``PYTHONPATH`` and names the callback in the train config
(``callbacks: [{name: step_timer.StepTimer, path: steps.json}]``). It measures what timm's ``train.py``
logs per update: for each step, the seconds from the end of the previous step (or the start of the
epoch) until the batch is there (``data``), and until the step has ended (``total``: loading, forward,
backward, optimizer, logging). Validation falls between epochs and is not counted. At the end of
training the rows are written to ``path`` as JSON: ``[{"epoch": 0, "step": 0, "data": s, "total": s}, ...]``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl


class StepTimer(pl.Callback):
    """Per-step ``data`` and ``total`` seconds, written to ``path`` as JSON when training ends."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, float]] = []
        self.mark = 0.0
        self.batch_started = 0.0

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.mark = time.perf_counter()

    def on_train_batch_start(self, trainer: pl.Trainer, module: pl.LightningModule, batch: Any, index: int) -> None:
        self.batch_started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any, index: int
    ) -> None:
        now = time.perf_counter()
        row = {"epoch": trainer.current_epoch, "step": len(self.rows)}
        self.rows.append({**row, "data": self.batch_started - self.mark, "total": now - self.mark})
        self.mark = now

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.path.write_text(json.dumps(self.rows), encoding="utf-8")
