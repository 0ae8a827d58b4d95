"""``LightningBrickCollection``: any ``BrickCollection`` trained by Lightning's Trainer, never subclassed.

Each stage runs the collection's groups for it (``Stage.TRAIN``/``VALIDATION``/``TEST``; ``predict``
runs ``INFERENCE``). The loss is the sum of ``extract_losses``; every loss is logged
(``train/segmentation/loss``), metrics are logged at the end of each epoch from ``summarize`` with
the stage as prefix (``val/segmentation/mean_iou``; torchmetrics synchronises them across
processes), and after each validation the visualization bricks' pictures of its first images go to the loggers
that take images (TensorBoard, or any logger with ``log_image``).

Fine-tuning (:mod:`torchbricks.training._finetune`): ``freeze=["backbone"]`` keeps parts frozen (and in eval
mode) until ``unfreeze_at_step``; ``lr_multipliers={"backbone": 0.1}`` trains parts at their own rate.
``compile=True`` runs the training forward under ``torch.compile`` (:mod:`torchbricks.training._compile`).

The seed's arguments still work: ``LightningBrickCollection(path_experiments=..., experiment_name=...,
brick_collection=model, create_optimizers_func=partial(torch.optim.SGD, lr=0.05))``.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from torchbricks.errors import ConfigError, TrainingDivergedError
from torchbricks.groups import Stage
from torchbricks.training._compile import CompiledTraining, compile_options
from torchbricks.training._finetune import (
    FrozenParts,
    check_lr_multipliers,
    check_part_names,
    finetune_names,
    parameter_groups,
)
from torchbricks.training._lightning import lightning
from torchbricks.training._optim import create_optimizer, create_scheduler, default_lr
from torchbricks.training._pictures import log_sheets, takes_images, visualization_sheets

_pl = lightning()

STAGE_PREFIX = {Stage.TRAIN: "train", Stage.VALIDATION: "val", Stage.TEST: "test"}


class LightningBrickCollection(_pl.LightningModule):
    """A ``LightningModule`` around a brick collection.

    Args:
        brick_collection: the model (any ``BrickCollection``).
        optimizer: ``{"name": "AdamW", "lr": 1e-3, ...}`` (a ``torch.optim`` class and its arguments).
        scheduler: ``{"name": "warmup_cosine", "warmup_fraction": 0.1}`` or a ``torch.optim.lr_scheduler``
            class and its arguments; stepped every step.
        create_optimizers_func: instead of ``optimizer``: called with the parameters, returns what
            Lightning's ``configure_optimizers`` may return (an optimizer, lists, a dict).
        train_groups: the groups run in training (default ``Stage.TRAIN``: model, losses, metrics).
        metrics_every_n_steps: also log (and reset) the training metrics every this many steps.
        log_visualizations: after each validation, the visualization bricks draw this many of its first
            images and the pictures go to the loggers that take images (0: none).
        channels_last: keep 4-D weights (so convolutions) in channels-last memory: faster on CPUs (oneDNN)
            and on GPUs with tensor cores; the saved weights are the same.
        freeze: part paths (``["backbone"]``, ``"segmentation/head"``) kept frozen: ``requires_grad=False`` and
            eval mode (batch-norm statistics do not change); their parameters are in the optimizer all along.
        unfreeze_at_step: the global step from which the frozen parts train (``None``: frozen throughout).
        lr_multipliers: part path → factor of the learning rate (``{"backbone": 0.1}``): one parameter group
            per part; schedules scale each group's rate. Also taken as ``optimizer["lr_multipliers"]``.
        compile: ``True`` (inductor) or ``torch.compile`` arguments (``{"backend": "aot_eager"}``) for the
            training forward; a failing compile warns once (``CompileFallbackWarning``) and trains eagerly.
        path_experiments, experiment_name: accepted for the seed's signature (the Trainer's
            ``default_root_dir`` and loggers decide where logs go).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from torchbricks import BrickCollection, BrickTrainable
        >>> collection = BrickCollection({"head": BrickTrainable(nn.Linear(4, 2), ["features"], ["logits"])})
        >>> module = LightningBrickCollection(collection, optimizer={"name": "SGD", "lr": 0.1})
        >>> module({"features": torch.rand(3, 4)})["logits"].shape
        torch.Size([3, 2])

        Fine-tuning: a frozen part trains from step 100, the head at ten times the rate of the rest:

        >>> model = BrickCollection({
        ...     "backbone": BrickTrainable(nn.Linear(4, 4), ["image"], ["features"]),
        ...     "head": BrickTrainable(nn.Linear(4, 2), ["features"], ["logits"]),
        ... })
        >>> module = LightningBrickCollection(
        ...     model, optimizer={"name": "SGD", "lr": 0.01}, freeze=["backbone"], unfreeze_at_step=100,
        ...     lr_multipliers={"head": 10},
        ... )
        >>> [parameter.requires_grad for parameter in model.backbone.parameters()]
        [False, False]
        >>> [(len(group["params"]), group["lr"]) for group in module.configure_optimizers().param_groups]
        [(2, 0.01), (2, 0.1)]
    """

    def __init__(
        self,
        brick_collection: torch.nn.Module,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        create_optimizers_func: Callable[..., Any] | None = None,
        train_groups: Any = Stage.TRAIN,
        metrics_every_n_steps: int | None = None,
        channels_last: bool = False,
        log_visualizations: int = 8,
        path_experiments: str | Path | None = None,
        experiment_name: str | None = None,
        *,
        freeze: Iterable[str] | str = (),
        unfreeze_at_step: int | None = None,
        lr_multipliers: Mapping[str, float] | None = None,
        compile: bool | Mapping[str, Any] = False,
    ) -> None:
        super().__init__()
        self.brick_collection = brick_collection
        self.optimizer_config = dict(optimizer or {"name": "AdamW", "lr": 1e-3})
        self.lr_multipliers = {**(self.optimizer_config.pop("lr_multipliers", None) or {}), **(lr_multipliers or {})}
        freeze = [freeze] if isinstance(freeze, str) else list(freeze)
        _check_finetune(brick_collection, freeze, unfreeze_at_step, self.lr_multipliers)
        self.frozen_parts = FrozenParts(brick_collection, freeze)
        self.unfreeze_at_step = unfreeze_at_step
        problems: list[str] = []
        options = compile_options(compile, problems)
        if problems:
            raise ConfigError(f"LightningBrickCollection: {problems[0]}")
        self.compile_options = options
        self._compiled: CompiledTraining | None = None
        self.step_seconds: list[float] = []  # wall seconds of each training step of this fit (the first compiles)
        self._step_started = 0.0
        self.scheduler_config = dict(scheduler) if scheduler else None
        self.create_optimizers_func = create_optimizers_func
        self.train_groups = train_groups
        self.metrics_every_n_steps = metrics_every_n_steps
        if not isinstance(log_visualizations, int) or isinstance(log_visualizations, bool) or log_visualizations < 0:
            raise ValueError(
                "LightningBrickCollection: log_visualizations must be a number of images >= 0, "
                f"got {log_visualizations!r}"
            )
        self.channels_last = channels_last
        self.log_visualizations = log_visualizations
        self._visualization_batch: dict[str, Any] | None = None
        self.validated_at_step: int | None = None  # the global step of the last validation (not the sanity check)
        if channels_last:
            brick_collection.to(memory_format=torch.channels_last)
        self.path_experiments = path_experiments
        self.experiment_name = experiment_name

    def forward(self, named_inputs: dict[str, Any], groups: Any = Stage.INFERENCE) -> dict[str, Any]:
        return self.brick_collection(named_inputs, groups=groups)

    def train(self, mode: bool = True) -> LightningBrickCollection:
        super().train(mode)
        self.frozen_parts.keep_eval()  # frozen parts keep their batch-norm statistics
        return self

    def _run_groups(self, batch: dict[str, Any], groups: Any, stage: Stage) -> dict[str, Any]:
        """The collection's outputs for ``groups``; in training through the compiled forward where asked."""
        if stage is Stage.TRAIN and self.compile_options is not None:
            if self._compiled is None:
                self._compiled = CompiledTraining(self.brick_collection, groups, self.compile_options)
            outputs = self._compiled(batch)
            if outputs is not None:
                return outputs
        return self.brick_collection(batch, groups=groups)

    @property
    def compile_failure(self) -> str | None:
        """Why compiling the training step failed (training went on eagerly); ``None`` when it did not."""
        return None if self._compiled is None else self._compiled.failure

    def _step(self, batch: dict[str, Any], stage: Stage, groups: Any) -> torch.Tensor:
        """Run the groups, log every loss; a loss that is NaN or infinite in training or validation stops the run.

        The check costs one scalar read per step (the summed loss); the culprit is looked for only then.
        """
        named_outputs = self._run_groups(batch, groups, stage)
        losses = self.brick_collection.extract_losses(named_outputs)
        prefix = STAGE_PREFIX[stage]
        batch_size = _batch_size(batch)
        training = stage is Stage.TRAIN
        loss = sum(losses.values()) if losses else torch.zeros((), device=self.device, requires_grad=training)
        logged = {name: value for name, value in named_outputs.items() if _is_loss_name(name, value)}
        logged.update({name: value for name, value in losses.items() if _is_loss_name("loss", value)})
        logged["loss"] = loss
        for name, value in logged.items():
            self.log(
                f"{prefix}/{name}",
                value.detach(),
                batch_size=batch_size,
                on_step=training,
                on_epoch=not training,
                prog_bar=training and name == "loss",
                sync_dist=not training,
            )
        if stage is not Stage.TEST and not math.isfinite(float(loss.detach())):
            raise TrainingDivergedError(_diverged(prefix, logged, self.global_step))
        return loss

    def training_step(self, batch: dict[str, Any], batch_index: int) -> torch.Tensor:
        loss = self._step(batch, Stage.TRAIN, self.train_groups)
        every = self.metrics_every_n_steps
        if every and (self.global_step + 1) % every == 0:
            self._log_metrics(Stage.TRAIN)
        return loss

    def validation_step(self, batch: dict[str, Any], batch_index: int) -> None:
        if batch_index == 0 and self._visualization_batch is None and self._logs_images():
            self._visualization_batch = _first_samples(batch, self.log_visualizations)
        self._step(batch, Stage.VALIDATION, Stage.VALIDATION)

    def test_step(self, batch: dict[str, Any], batch_index: int) -> None:
        self._step(batch, Stage.TEST, Stage.TEST)

    def predict_step(self, batch: dict[str, Any], batch_index: int, dataloader_idx: int = 0) -> dict[str, Any]:
        return self.brick_collection(batch, groups=Stage.INFERENCE)

    def on_train_batch_start(self, batch: Any, batch_index: int) -> None:
        step = self.global_step
        if self.frozen_parts.frozen and self.unfreeze_at_step is not None and step >= self.unfreeze_at_step:
            self.frozen_parts.unfreeze()
        self._step_started = time.perf_counter()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_index: int) -> None:
        self.step_seconds.append(time.perf_counter() - self._step_started)
        compiled = self._compiled
        first = len(self.step_seconds) == 1 and compiled is not None and compiled.failure is None
        if first and (self._trainer is None or self.trainer.is_global_zero):
            print(
                f"compile: first training step (compiling, backend {compiled.backend}) "
                f"took {self.step_seconds[0]:.1f} s",
                file=sys.stderr,
                flush=True,
            )

    def step_timing(self) -> dict[str, float]:
        """``first_step_seconds`` (with ``compile``: compiling included) and the median ``step_seconds`` of the rest.

        Example:
            >>> module = LightningBrickCollection(torch.nn.Linear(2, 2))
            >>> module.step_seconds = [12.0, 0.2, 0.3, 0.25]
            >>> module.step_timing()
            {'first_step_seconds': 12.0, 'step_seconds': 0.25}
        """
        if not self.step_seconds:
            return {}
        rest = self.step_seconds[1:] or self.step_seconds
        return {"first_step_seconds": round(self.step_seconds[0], 3), "step_seconds": round(statistics.median(rest), 4)}

    def on_train_epoch_start(self) -> None:
        self.brick_collection.reset_metrics()

    def on_train_epoch_end(self) -> None:
        if not self.metrics_every_n_steps:
            self._log_metrics(Stage.TRAIN)

    def on_validation_epoch_start(self) -> None:
        self.brick_collection.reset_metrics()

    def on_validation_epoch_end(self) -> None:
        self._log_metrics(Stage.VALIDATION)
        if self._trainer is not None and not self.trainer.sanity_checking:
            self.validated_at_step = self.global_step
            if self._visualization_batch is not None and self.trainer.is_global_zero:
                sheets = visualization_sheets(self.brick_collection, self._visualization_batch)
                log_sheets(self.trainer.loggers, sheets, self.global_step)

    def _logs_images(self) -> bool:
        if not self.log_visualizations or self._trainer is None:
            return False
        return self.trainer.is_global_zero and any(takes_images(logger) for logger in self.trainer.loggers)

    def on_test_epoch_start(self) -> None:
        self.brick_collection.reset_metrics()

    def on_test_epoch_end(self) -> None:
        self._log_metrics(Stage.TEST)

    def _log_metrics(self, stage: Stage) -> None:
        """Log ``summarize`` (synchronised by torchmetrics) as ``<stage>/<task>/<metric>`` and reset."""
        if self._trainer is None or not _metrics_updated(self.brick_collection):
            return  # e.g. the training epoch ends right after a validation: no training batch since the reset
        try:
            summary = task_metrics(self.brick_collection, reset=True)
        except (RuntimeError, ValueError):  # no metric saw data (e.g. no labelled sample yet)
            self.brick_collection.reset_metrics()
            return
        prefix = STAGE_PREFIX[stage]
        for name, value in flatten_metrics(summary).items():
            self.log(f"{prefix}/{name}", value, rank_zero_only=False, sync_dist=False)

    def configure_optimizers(self) -> Any:
        frozen = {id(parameter) for parameter in self.frozen_parts.parameters}  # in from the start: unfrozen later
        parameters = [p for p in self.parameters() if p.requires_grad or id(p) in frozen]
        if self.create_optimizers_func is not None:
            return self.create_optimizers_func(parameters)
        if self.lr_multipliers:
            base_lr = self.optimizer_config.get("lr", default_lr(self.optimizer_config["name"]))
            groups = parameter_groups(
                self.brick_collection, self.lr_multipliers, float(base_lr), self.frozen_parts.parameters
            )
            optimizer = create_optimizer(self.optimizer_config, groups)
        else:
            optimizer = create_optimizer(self.optimizer_config, parameters)
        if not self.scheduler_config:
            return optimizer
        total_steps = self.trainer.estimated_stepping_batches if self._trainer is not None else 1
        scheduler = create_scheduler(self.scheduler_config, optimizer, int(total_steps))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def _check_finetune(
    collection: torch.nn.Module, freeze: list[str], unfreeze_at_step: Any, lr_multipliers: Mapping[str, Any]
) -> None:
    """:class:`ConfigError` listing unknown parts (with close matches), bad multipliers and a bad step."""
    from torchbricks.training._finetune import check_finetune_section

    problems: list[str] = []
    check_finetune_section({"freeze": freeze, "unfreeze_at_step": unfreeze_at_step}, problems)
    check_lr_multipliers(lr_multipliers, problems)
    if not problems:
        check_part_names(collection, finetune_names(freeze, lr_multipliers), problems)
    if problems:
        text = "\n  ".join(problem.removeprefix("finetune.").removeprefix("optimizer.") for problem in problems)
        raise ConfigError(f"LightningBrickCollection: {text}")


def task_metrics(collection: Any, reset: bool = False) -> dict[str, Any]:
    """Computed metrics keyed by task path and metric name (``segmentation/mean_iou``).

    ``summarize`` leaves the path out where a metric name is unique; here it is always kept.
    """
    graph = getattr(collection, "graph", None)
    if graph is None:
        return dict(collection.summarize(reset=reset))
    summary: dict[str, Any] = {}
    for node in graph.metric_nodes:
        for metric_name, value in node.brick.summarize(reset=reset).items():
            summary["/".join((*node.collection_path, metric_name))] = value
    return summary


def _diverged(prefix: str, logged: Mapping[str, torch.Tensor], step: int) -> str:
    """The message of a loss that became NaN or infinite: the step, the task and its logged name."""
    what = "training" if prefix == "train" else "validation"
    for name, value in logged.items():
        value = float(value.detach())
        if name != "loss" and not math.isfinite(value):
            task = name.removesuffix("/loss")
            return (
                f"training diverged at step {step}: the {what} loss of task '{task}' is {value} ({prefix}/{name}); "
                "lower optimizer.lr or clip gradients (trainer.gradient_clip_val)"
            )
    return (
        f"training diverged at step {step}: the {what} loss is {float(logged['loss'].detach())} ({prefix}/loss); "
        "lower optimizer.lr or clip gradients (trainer.gradient_clip_val)"
    )


def _is_loss_name(name: str, value: Any) -> bool:
    return (name == "loss" or name.endswith("/loss")) and isinstance(value, torch.Tensor) and value.ndim == 0


def flatten_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """Scalar metrics as floats; a dict-valued metric becomes ``name/key`` entries; non-scalars are left out.

    Example:
        >>> import torch
        >>> flatten_metrics({"accuracy": torch.tensor(0.5), "f1": {"cat": 1}, "confusion": torch.eye(2)})
        {'accuracy': 0.5, 'f1/cat': 1.0}
    """
    flat: dict[str, float] = {}
    for name, value in summary.items():
        if isinstance(value, Mapping):
            for key, inner in flatten_metrics(value).items():
                flat[f"{name}/{key}"] = inner
        elif (isinstance(value, torch.Tensor) and value.numel() == 1) or isinstance(value, int | float):
            flat[name] = float(value)
    return flat


def _metrics_updated(collection: torch.nn.Module) -> bool:
    """Whether some torchmetrics metric of the collection has seen a batch since its last reset."""
    from torchmetrics import Metric

    return any(module.update_count > 0 for module in collection.modules() if isinstance(module, Metric))


def _first_samples(batch: Mapping[str, Any], count: int) -> dict[str, Any]:
    """The first ``count`` samples of a batch: tensors detached and copied, lists shortened, the rest as is."""
    samples: dict[str, Any] = {}
    for name, value in batch.items():
        if isinstance(value, torch.Tensor) and value.ndim:
            value = value[:count].detach().clone()
        elif isinstance(value, list | tuple):
            value = list(value[:count])
        samples[name] = value
    return samples


def _batch_size(batch: Mapping[str, Any]) -> int:
    for value in batch.values():
        if isinstance(value, torch.Tensor) and value.ndim:
            return int(value.shape[0])
    return 1
