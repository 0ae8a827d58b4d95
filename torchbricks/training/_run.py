"""The train run: a train config → datasets → Lightning → ``model/``, ``metrics.json``, logs, visualizations.

Output folder (the run writes into ``running/`` and replaces the earlier run's files only when it has
finished; see :mod:`torchbricks.training._run_folder`)::

    torchbricks-run.json marks the folder as a train run's (a folder of anything else is refused)
    config.json          the resolved train config (every default filled in)
    model/               the trained model (best if ``checkpoint.monitor`` is set, else last): load_model
    checkpoints/         Lightning's checkpoint last.ckpt (resumes the run); with ``checkpoint.monitor`` also the best
    metrics.json         {"task": {"metric": value}} on the validation data (the same run writes the same file)
    run.json             steps, training seconds, seed, threads (and idle_threads: sleep or spin), step seconds
                         (the first apart: it compiles)
    logs/                metrics.csv (and TensorBoard events, with the visualizations, when tensorboard or
                         tensorboardX is installed)
    visualizations/      one PNG per task: validation images with the predictions drawn
    unfinished/          a run stopped with Ctrl+C (``--resume`` continues it)

Only the process of global rank 0 writes files; under DDP the metrics are synchronised first.

Before anything is written, the run also refuses what only the built datasets and model tell
(:mod:`torchbricks.training._run_checks`): a batch larger than the training data (no step would run),
``batch_size: 1`` with batch-norm layers, and a ``checkpoint.monitor`` that nothing logs. A loss,
validation loss or weight that becomes NaN or infinite stops the run
(:class:`~torchbricks.errors.TrainingDivergedError`) and nothing is saved.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from torchbricks._threads import (
    CpuProbe,
    ThreadChoice,
    apply_threads,
    choose_threads,
    environment_threads,
    idle_threads_sleep,
)
from torchbricks.errors import ConfigError, TrainingDivergedError
from torchbricks.training._callbacks import create_callback
from torchbricks.training._config import plan_training
from torchbricks.training._data import Collate, combine, placeholders
from torchbricks.training._logs import merge_log, read_log
from torchbricks.training._progress import progress_lines, step_progress_bar
from torchbricks.training._run_checks import check_finite_weights, frozen_modules, prepared_run
from torchbricks.training._run_folder import LAST_CHECKPOINT, LOG_FILE, RunFolder, write_json


def train(
    config: Mapping[str, Any] | str | Path,
    output: str | Path = "train_output",
    overrides: Iterable[str] = (),
    resume: bool = False,
    progress: bool | str | None = None,
    show_threads: bool | None = None,
) -> dict[str, Any]:
    """Train as the config says and write the output folder; returns ``metrics.json``'s content.

    ``progress``: ``True`` a progress bar counting steps, ``"lines"`` a line every few steps (for logs: what
    ``torchbricks train`` prints when stderr is not a terminal), ``False`` neither, ``None`` as
    ``trainer.enable_progress_bar`` says.

    ``resume`` continues the interrupted run (``output/unfinished/``) or the last finished one (same
    config, more steps allowed). The run writes into ``output/running/``; the earlier run's files are
    replaced only when this one has finished, so a run that fails (or is refused) changes nothing. A
    non-empty ``output`` that is not a train run's folder is refused (:class:`~torchbricks.errors.RunFolderError`).

    Torch's thread count is set for the run as ``threads`` says (``auto``: :mod:`torchbricks._threads`'s policy)
    and stays so afterwards; ``show_threads`` prints the choice in one line to stderr (default: unless
    ``progress`` is ``False``).

    Example:
        One step on two tiny generated images (a real run trains for minutes):

        >>> import tempfile
        >>> config = {
        ...     "model": {
        ...         "backbone": {"name": "resnet18", "levels": [4]},
        ...         "tasks": {
        ...             "shape": {"task": "multilabel_classification", "num_classes": 3, "targets": "shape_present"}
        ...         },
        ...         "input_shape": [3, 32, 32],
        ...     },
        ...     "data": {"train": [{"name": "shapes", "count": 2, "image_size": 32}], "batch_size": 2},
        ...     "trainer": {"max_steps": 1, "accelerator": "cpu"},
        ... }
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     metrics = train(config, output=folder, progress=False)
        >>> metrics["_run"]["steps"]
        1
    """
    from torchbricks.training._lightning import lightning

    probe = CpuProbe()  # measures how busy the machine is while the config is read and the datasets built
    plan = plan_training(config, overrides)  # the model config resolved once, each dataset looked up once
    settings = plan.settings
    threads = _choose_threads(settings, plan.processes, probe)
    apply_threads(threads)
    if (progress is not False if show_threads is None else show_threads) and is_main_process():
        print(threads.line(), file=sys.stderr, flush=True)
    folder = RunFolder(output)
    folder.check(resume)  # before anything is written: a folder of something else, or nothing to resume
    resume_from = folder.resume_checkpoint() if resume else None
    logged_before = read_log(folder.logged_before(resume))  # Lightning's CSV logger starts its file anew
    pl = lightning()
    pl.seed_everything(settings["seed"], workers=True, verbose=False)
    train_sets, validation_sets, model = prepared_run(plan)  # refuses what only the built data and model tell
    filled = placeholders([*train_sets, *validation_sets])  # a name some datasets lack, in both splits' batches
    train_loader = _loader(train_sets, settings, shuffle=True, filled=filled)
    validation_loader = _loader(validation_sets, settings, shuffle=False, filled=filled) if validation_sets else None
    module = _module(model, settings)
    staging = folder.staging
    trainer = _trainer(pl, settings, staging, progress, has_validation=validation_loader is not None)
    main = trainer.is_global_zero
    if main:
        folder.start(settings, resume_from)
    try:
        started = time.perf_counter()
        _fit(trainer, module, model, (train_loader, validation_loader), resume_from, folder, logged_before)
        train_seconds = time.perf_counter() - started
        best = trainer.checkpoint_callback.best_model_path if settings["checkpoint"]["monitor"] else ""
        if best:
            state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
            module.load_state_dict(state)
        check_finite_weights(model, int(trainer.global_step))
        metrics: dict[str, dict[str, float]] = {}
        if validation_loader is not None:
            last_validation = module.validated_at_step == trainer.global_step and not best
            metrics = (
                nested_metrics(trainer.callback_metrics)
                if last_validation
                else evaluate(trainer, module, validation_loader)
            )
        run = {
            "steps": int(trainer.global_step),
            "train_seconds": round(train_seconds, 1),
            "seed": settings["seed"],
            "threads": threads.threads,
            "idle_threads": "sleep" if idle_threads_sleep() else "spin",
            **module.step_timing(),
        }
        if module.compile_options is not None:
            run["compiled"] = module.compile_failure is None
        if main:
            from torchbricks.assembly import save_model, trained_input

            write_json(staging / "metrics.json", metrics, sort_keys=True)
            write_json(staging / "run.json", run, sort_keys=True)  # both read by the model card, so first
            save_model(model, staging / "model", input_contract=trained_input(settings, train_sets), run=staging)
            if logged_before:
                merge_log(logged_before, staging / LOG_FILE)
            if validation_sets and settings["visualizations"]:
                write_visualizations(model, validation_sets, staging / "visualizations", settings["visualizations"])
            folder.finish()
    except BaseException as error:
        if main:
            folder.discard()  # the earlier run's files are as they were
        if isinstance(error, TrainingDivergedError):
            raise TrainingDivergedError(f"{error}; nothing was saved ('{output}' is as it was)") from None
        raise
    return {**metrics, "_run": run}


def _fit(
    trainer: Any,
    module: Any,
    model: torch.nn.Module,
    loaders: tuple[Any, Any],
    resume_from: Path | None,
    folder: RunFolder,
    logged_before: list[dict[str, str]],
) -> None:
    """``trainer.fit``; Ctrl+C keeps the run so far as ``unfinished/`` (its checkpoint at the step reached)."""
    with warnings.catch_warnings():
        frozen = module.frozen_parts.module_ids()  # fine-tuning's frozen parts, in eval mode by design too
        if only_frozen_bricks_in_eval_mode(model, frozen):  # not-trainable bricks keep their model in eval mode
            warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
        try:
            trainer.fit(module, *loaders, ckpt_path=None if resume_from is None else str(resume_from))
        except Exception as error:
            if type(error).__name__ == "MisconfigurationException":  # one the checks before the run could not see
                raise ConfigError(f"trainer: {' '.join(str(error).split())}") from error
            raise
        except SystemExit:  # Lightning turns Ctrl+C into sys.exit(1)
            if not trainer.interrupted:
                raise
            if not trainer.is_global_zero:
                raise KeyboardInterrupt(f"training stopped at step {trainer.global_step}") from None
            if trainer.world_size == 1:  # --resume continues from where it stopped (DDP: the last saved one)
                trainer.save_checkpoint(folder.staging / LAST_CHECKPOINT)
            if logged_before:  # an interrupted resume keeps the rows logged before it
                merge_log(logged_before, folder.staging / LOG_FILE)
            checkpoint = folder.keep_unfinished()
            raise KeyboardInterrupt(
                f"training stopped at step {trainer.global_step}; '{checkpoint}' holds it (--resume continues it)"
            ) from None


def is_main_process() -> bool:
    """Whether this process writes the files and prints: global rank 0 (always so on one process).

    Under DDP each process runs :func:`train`; Lightning tells each its rank.

    Example:
        >>> is_main_process()
        True
    """
    from torchbricks.training._lightning import lightning

    return getattr(lightning().utilities.rank_zero_only, "rank", 0) == 0


def only_frozen_bricks_in_eval_mode(model: torch.nn.Module, also_frozen: Iterable[int] = ()) -> bool:
    """Whether every module in eval mode is inside a not-trainable brick (which keeps its model in eval mode).

    ``also_frozen``: ids of other modules kept in eval mode on purpose (fine-tuning's frozen parts).

    Example:
        >>> from torch import nn
        >>> from torchbricks import BrickCollection, BrickNotTrainable, BrickTrainable
        >>> only_frozen_bricks_in_eval_mode(BrickCollection({"a": BrickNotTrainable(nn.BatchNorm1d(2), ["x"], ["y"])}))
        True
        >>> head = nn.Linear(2, 2).eval()
        >>> only_frozen_bricks_in_eval_mode(BrickCollection({"a": BrickTrainable(head, ["x"], ["y"])}))
        False
    """
    frozen = frozen_modules(model) | set(also_frozen)
    return all(module.training or id(module) in frozen for module in model.modules())


def _loader(
    datasets: list[Any], settings: Mapping[str, Any], shuffle: bool, filled: Mapping[str, torch.Tensor]
) -> torch.utils.data.DataLoader:
    """Batches of ``datasets``; ``filled``: placeholders (and ``<name>_labelled`` masks) of the names some lack."""
    data = settings["data"]
    batch_size = data["batch_size"] if shuffle else data.get("validation_batch_size", data["batch_size"])
    workers = data["num_workers"]
    return torch.utils.data.DataLoader(
        combine(datasets),
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=shuffle,
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=Collate(filled),
        generator=torch.Generator().manual_seed(settings["seed"]) if shuffle else None,
    )


def _choose_threads(settings: Mapping[str, Any], processes: int, probe: CpuProbe) -> ThreadChoice:
    """The run's intra-op threads: ``threads: N`` as given, else the policy for this machine's processes and workers."""
    nodes = settings["trainer"].get("num_nodes", 1)
    local = max(1, processes // nodes if isinstance(nodes, int) and nodes > 0 else processes)  # on this machine
    requested = settings["threads"]
    workers = settings["data"]["num_workers"]
    if requested != "auto":
        return choose_threads(
            requested, workers=workers, processes=local, source="--threads, or threads: in the config"
        )
    busy = None if environment_threads() is not None else probe.busy_cores()  # OMP_NUM_THREADS: no probe needed
    return choose_threads(workers=workers, processes=local, busy=busy)


def _module(model: torch.nn.Module, settings: Mapping[str, Any]) -> Any:
    from torchbricks.groups import Stage
    from torchbricks.training._module import LightningBrickCollection

    groups = settings["train_groups"]
    finetune = settings["finetune"] or {}
    return LightningBrickCollection(
        model,
        optimizer=settings["optimizer"],
        scheduler=settings["scheduler"],
        train_groups=Stage.TRAIN if groups is None else set(groups),
        metrics_every_n_steps=settings["metrics_every_n_steps"],
        channels_last=settings["channels_last"],
        log_visualizations=settings["visualizations"],
        freeze=finetune.get("freeze", []),
        unfreeze_at_step=finetune.get("unfreeze_at_step"),
        compile=settings["compile"],
    )


def _trainer(
    pl: Any, settings: Mapping[str, Any], output: Path, progress: bool | str | None, has_validation: bool
) -> Any:
    checkpoint = settings["checkpoint"]
    callbacks = [
        pl.callbacks.ModelCheckpoint(  # last.ckpt; the best as a second file only when there is a best to keep
            dirpath=output / "checkpoints",
            save_last=True,
            monitor=checkpoint["monitor"],
            mode=checkpoint["mode"],
            save_top_k=1 if checkpoint["monitor"] else 0,
        )
    ]
    callbacks.extend(create_callback(spec) for spec in settings["callbacks"])
    loggers = [pl.loggers.CSVLogger(output, name="logs", version="")]
    if any(importlib.util.find_spec(name) is not None for name in ("tensorboard", "tensorboardX")):
        loggers.append(pl.loggers.TensorBoardLogger(output, name="logs", version=""))
    arguments: dict[str, Any] = {"enable_model_summary": False, "log_every_n_steps": 10}
    if progress is not None:
        arguments["enable_progress_bar"] = progress is True
    if not has_validation:
        arguments["limit_val_batches"] = 0
    arguments.update(settings["trainer"])
    if arguments.get("enable_progress_bar") is not False and not any(
        isinstance(callback, pl.callbacks.ProgressBar) for callback in callbacks
    ):
        callbacks.append(step_progress_bar(pl))
    if progress == "lines":
        callbacks.append(progress_lines(pl))
    return pl.Trainer(default_root_dir=output, logger=loggers, callbacks=callbacks, **arguments)


def evaluate(trainer: Any, module: Any, loader: Any) -> dict[str, dict[str, float]]:
    """Validation metrics (synchronised across processes) as ``{"task": {"metric": value}}``."""
    results = trainer.validate(module, loader, verbose=False)
    return nested_metrics(results[0] if results else {})


def nested_metrics(logged: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``val/<task>/<metric>`` values (losses left out) as ``{"task": {"metric": value}}``.

    Example:
        >>> nested_metrics({"val/seg/mean_iou": 0.5, "val/seg/loss": 1.0, "train/loss": 2.0, "val/accuracy": 1})
        {'seg': {'mean_iou': 0.5}, 'model': {'accuracy': 1.0}}
    """
    nested: dict[str, dict[str, float]] = {}
    for key, value in logged.items():
        name = key.removeprefix("val/")
        if name == key or name == "loss" or name.endswith("/loss"):
            continue
        task, _, metric = name.rpartition("/")
        nested.setdefault(task or "model", {})[metric] = round(float(value), 4)
    return nested


def write_visualizations(model: torch.nn.Module, datasets: list[Any], folder: Path, count: int) -> list[Path]:
    """One PNG per task: validation images labelled for it, spread over its classes, image | truth | prediction."""
    from torchbricks.training._pictures import write_task_sheets

    return write_task_sheets(model, datasets, folder, count)
