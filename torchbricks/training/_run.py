"""The train run: a train config → datasets → Lightning → ``model/``, ``metrics.json``, logs, visualizations.

Output folder (the run writes into ``running/`` and replaces the earlier run's files only when it has
finished; see :mod:`torchbricks.training._run_folder`)::

    torchbricks-run.json marks the folder as a train run's (a folder of anything else is refused)
    config.json          the resolved train config (every default filled in)
    model/               the trained model (best if ``checkpoint.monitor`` is set, else last): load_model
    checkpoints/         Lightning's checkpoint last.ckpt (resumes the run); with ``checkpoint.monitor`` also the best
    metrics.json         {"task": {"metric": value}} on the validation data (the same run writes the same file)
    run.json             steps, training seconds, seed
    logs/                metrics.csv (and TensorBoard events, with the visualizations, when tensorboard or
                         tensorboardX is installed)
    visualizations/      one PNG per task: validation images with the predictions drawn
    unfinished/          a run stopped with Ctrl+C (``--resume`` continues it)

Only the process of global rank 0 writes files; under DDP the metrics are synchronised first.

Before anything is written, the run also refuses what only the built datasets and model tell: a batch
larger than the training data (no step would run), ``batch_size: 1`` with batch-norm layers, and a
``checkpoint.monitor`` that nothing logs. A loss, validation loss or weight that becomes NaN or
infinite stops the run (:class:`~torchbricks.errors.TrainingDivergedError`) and nothing is saved.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import math
import random
import sys
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from torchbricks.errors import ConfigError, TrainingDivergedError
from torchbricks.suggestions import did_you_mean
from torchbricks.training._config import TrainPlan, plan_training
from torchbricks.training._data import Collate, collate, combine, labelled_name, partial_names, placeholders
from torchbricks.training._run_folder import LAST_CHECKPOINT, LOG_FILE, RunFolder, write_json


def train(
    config: Mapping[str, Any] | str | Path,
    output: str | Path = "train_output",
    overrides: Iterable[str] = (),
    resume: bool = False,
    progress: bool | str | None = None,
) -> dict[str, Any]:
    """Train as the config says and write the output folder; returns ``metrics.json``'s content.

    ``progress``: ``True`` a progress bar counting steps, ``"lines"`` a line every few steps (for logs: what
    ``torchbricks train`` prints when stderr is not a terminal), ``False`` neither, ``None`` as
    ``trainer.enable_progress_bar`` says.

    ``resume`` continues the interrupted run (``output/unfinished/``) or the last finished one (same
    config, more steps allowed). The run writes into ``output/running/``; the earlier run's files are
    replaced only when this one has finished, so a run that fails (or is refused) changes nothing. A
    non-empty ``output`` that is not a train run's folder is refused (:class:`~torchbricks.errors.RunFolderError`).

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

    plan = plan_training(config, overrides)  # the model config resolved once, each dataset looked up once
    settings = plan.settings
    folder = RunFolder(output)
    folder.check(resume)  # before anything is written: a folder of something else, or nothing to resume
    resume_from = folder.resume_checkpoint() if resume else None
    logged_before = read_log(folder.logged_before(resume))  # Lightning's CSV logger starts its file anew
    pl = lightning()
    pl.seed_everything(settings["seed"], workers=True, verbose=False)
    train_sets, validation_sets, model = _prepared(plan)  # refuses what only the built data and model tell
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
        run = {"steps": int(trainer.global_step), "train_seconds": round(train_seconds, 1), "seed": settings["seed"]}
        if main:
            from torchbricks.assembly import save_model

            save_model(model, staging / "model")
            write_json(staging / "metrics.json", metrics, sort_keys=True)
            write_json(staging / "run.json", run, sort_keys=True)
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


def check_training(config: Mapping[str, Any] | str | Path, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Every check :func:`train` makes before it writes anything, datasets and model built; returns the settings.

    What ``torchbricks train --check`` runs: the config's problems (:func:`plan_training`), then what only
    the built datasets and model tell (a batch larger than the training data, batch-norm with
    ``batch_size: 1``, a ``checkpoint.monitor`` that nothing logs). Raises :class:`ConfigError`.

    Example:
        >>> model = {"backbone": "resnet18", "tasks": {"shape": {"task": "image_classification", "num_classes": 3}}}
        >>> config = {"model": model, "data": {"train": {"name": "shapes", "count": 4}, "batch_size": 8}}
        >>> try:
        ...     check_training(config)
        ... except ConfigError as error:
        ...     print(str(error).splitlines()[1].split(";")[0])
          data.batch_size: 8 is more than the 4 training samples (data.train)
    """
    plan = plan_training(config, overrides)
    _prepared(plan)
    return plan.settings


def _prepared(plan: TrainPlan) -> tuple[list[Any], list[Any], torch.nn.Module]:
    """The datasets and the model, built; :class:`ConfigError` with what only they tell, before anything is written."""
    from torchbricks.assembly import build_model, raise_problems

    settings = plan.settings
    train_sets, validation_sets = plan.datasets["train"], plan.datasets.get("validation", [])
    settings["model"] = with_labelled_masks(settings["model"], partial_names([*train_sets, *validation_sets]))
    model = build_model(settings["model"], resolved=True)  # the assembler checks the added `labelled` arguments
    problems = _batch_problems(settings, train_sets, plan.processes, model)
    problems.extend(_monitor_problems(settings, model, validation_sets or train_sets))
    raise_problems(problems, "train config")
    return train_sets, validation_sets, model


def _batch_problems(
    settings: Mapping[str, Any], datasets: list[Any], processes: int, model: torch.nn.Module
) -> list[str]:
    """A batch larger than the training data (no step would run); batch-norm layers trained on 1 sample a batch."""
    problems = []
    batch_size = settings["data"]["batch_size"]
    samples = math.ceil(len(combine(datasets)) / max(1, processes))  # each process's share
    batches = samples // batch_size  # the last incomplete batch is dropped
    if batches == 0:
        where = f"training samples of each of the {processes} processes" if processes > 1 else "training samples"
        problems.append(
            f"data.batch_size: {batch_size} is more than the {samples} {where} (data.train); "
            "the last incomplete batch is dropped, so no step would run"
        )
    limit = settings["trainer"].get("limit_train_batches")
    if batches and isinstance(limit, float) and 0 < limit < 1 and int(batches * limit) == 0:
        problems.append(
            f"trainer.limit_train_batches: {limit} of the {batches} training batches is no batch; no step would run"
        )
    if batch_size == 1:
        layer = trained_batch_norm(model)
        if layer is not None:
            problems.append(
                f"data.batch_size: 1 cannot train batch-norm layers ('{layer}' normalises over the batch: it needs "
                "more than 1 sample per batch); use 2 or more"
            )
    return problems


def trained_batch_norm(model: torch.nn.Module) -> str | None:
    """The name of the first batch-norm layer that training updates (outside not-trainable bricks), else ``None``.

    Example:
        >>> from torch import nn
        >>> from torchbricks import BrickCollection, BrickNotTrainable, BrickTrainable
        >>> trained_batch_norm(BrickCollection({"a": BrickTrainable(nn.BatchNorm1d(2), ["x"], ["y"])}))
        'a.model'
        >>> print(trained_batch_norm(BrickCollection({"a": BrickNotTrainable(nn.BatchNorm1d(2), ["x"], ["y"])})))
        None
    """
    frozen = _frozen_modules(model)
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and id(module) not in frozen:
            return name
    return None


def _monitor_problems(settings: Mapping[str, Any], model: torch.nn.Module, datasets: list[Any]) -> list[str]:
    """``checkpoint.monitor`` (and Lightning callbacks' ``monitor``) checked against the names the model logs."""
    monitors = [("checkpoint.monitor", settings["checkpoint"]["monitor"])]
    monitors += [
        (f"callbacks[{index}].monitor", spec.get("monitor"))
        for index, spec in enumerate(settings["callbacks"])
        if "." not in spec["name"]  # a user's own callback may mean something else by it
    ]
    monitors = [(path, name) for path, name in monitors if isinstance(name, str)]
    if not monitors:
        return []
    tasks = settings["model"]["tasks"]
    losses = {f"{stage}/{name}" for stage in ("val", "train") for name in ("loss", *(f"{task}/loss" for task in tasks))}
    if all(name in losses for _, name in monitors):
        return []  # no need to run the model to know these
    names = logged_names(model, datasets, tasks)
    if names is None:
        return []  # the model cannot run on the data: the run itself says why
    problems = []
    for path, name in monitors:
        if name in names or any(name.startswith(f"{known}/") for known in names):
            continue
        stage = name.partition("/")[0]
        close = did_you_mean(name, sorted(known for known in names if known.startswith(f"{stage}/")) or sorted(names))
        shown = sorted(known for known in names if known.startswith("val/"))
        problems.append(
            f"{path}: {name!r} is not logged.{close} Logged: {', '.join(shown)} (and the same under train/)"
        )
    return problems


def logged_names(model: torch.nn.Module, datasets: list[Any], tasks: Iterable[str] = ()) -> set[str] | None:
    """The names a train run logs: ``val/loss``, ``val/<task>/loss``, ``val/<task>/<metric>``, ``train/...``.

    Found by running the validation groups on two samples of ``datasets`` (weights, random state and metrics
    are left as they were); ``None`` when the model cannot run them (or there are no samples).
    """
    from torchbricks.groups import Stage
    from torchbricks.training._module import _is_loss_name

    dataset = combine(datasets) if datasets else None
    if dataset is None or not len(dataset):
        return None
    found = {"loss", *(f"{task}/loss" for task in tasks)}
    modes = {module: module.training for module in model.modules()}
    try:
        with _random_state_kept(), torch.no_grad():
            model.eval()
            batch = collate([dataset[index] for index in range(min(2, len(dataset)))], placeholders(datasets))
            outputs = model(batch, groups=Stage.VALIDATION)
            found |= {name for name, value in outputs.items() if _is_loss_name(name, value)}
            found |= {name for name, value in model.extract_losses(outputs).items() if _is_loss_name("loss", value)}
            found |= _metric_names(model)
    except Exception:  # the run itself will say what is wrong with the model or the data
        return None
    finally:
        for module, training in modes.items():
            module.training = training
        model.reset_metrics()
    return {f"{stage}/{name}" for stage in ("val", "train") for name in found}


def _metric_names(model: torch.nn.Module) -> set[str]:
    """``<task>/<metric>`` of every metric brick, computed; a metric that saw no labelled sample gives its name."""
    from torchbricks.training._module import flatten_metrics

    names: set[str] = set()
    for node in model.graph.metric_nodes:
        try:
            values = node.brick.summarize(reset=True)
        except (RuntimeError, ValueError):  # no labelled sample among the two: the names it declares
            values = dict.fromkeys(node.brick.metric_names(), 0.0)
        names |= {"/".join((*node.collection_path, name)) for name in flatten_metrics(values)}
    return names


@contextmanager
def _random_state_kept() -> Iterator[None]:
    """Python's, NumPy's and torch's (CPU) random state as they were after the block: the run stays seeded."""
    import numpy

    python, numpy_state = random.getstate(), numpy.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            yield
    finally:
        random.setstate(python)
        numpy.random.set_state(numpy_state)


def check_finite_weights(model: torch.nn.Module, step: int) -> None:
    """Raise :class:`TrainingDivergedError` naming the first weight (or buffer) that is NaN or infinite.

    Example:
        >>> from torch import nn
        >>> layer = nn.Linear(2, 2)
        >>> check_finite_weights(layer, 3)
        >>> with torch.no_grad():
        ...     layer.bias[0] = float("nan")
        >>> try:
        ...     check_finite_weights(layer, 3)
        ... except TrainingDivergedError as error:
        ...     print(str(error).split(";")[0])
        training diverged by step 3: the weights 'bias' are not finite (nan or inf)
    """
    for name, tensor in model.state_dict().items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise TrainingDivergedError(
                f"training diverged by step {step}: the weights '{name}' are not finite (nan or inf); "
                "lower optimizer.lr or clip gradients (trainer.gradient_clip_val)"
            )


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
        if only_frozen_bricks_in_eval_mode(model):  # not-trainable bricks keep their model in eval mode by design
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


def read_log(path: Path | None) -> list[dict[str, str]]:
    """The rows of a CSV log (empty when there is none)."""
    if path is None or not path.is_file():
        return []
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


def merge_log(before: list[dict[str, str]], path: Path) -> None:
    """Put the rows logged before a resume in front of the resumed run's rows in ``path``, columns united.

    Rows from before with a step the resumed run logged again (logged after the checkpoint) are dropped.
    """
    after = read_log(path)
    first_step = min((int(row["step"]) for row in after if row.get("step")), default=None)
    kept = [row for row in before if first_step is None or not row.get("step") or int(row["step"]) < first_step]
    columns = list(dict.fromkeys(name for row in [*kept, *after] for name in row))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns)
    writer.writeheader()
    writer.writerows([*kept, *after])
    from torchbricks._files import atomic_write_bytes

    atomic_write_bytes(path, text.getvalue().encode())


def with_labelled_masks(model_config: dict[str, Any], partial: Iterable[str]) -> dict[str, Any]:
    """Give each task whose targets only some datasets have a ``labelled`` input (``<targets>_labelled``).

    Example:
        >>> model = {"tasks": {"seg": {"task": "semantic_segmentation", "targets": "segmentation"}}}
        >>> with_labelled_masks(model, ["segmentation"])["tasks"]["seg"]["labelled"]
        'segmentation_labelled'
    """
    partial = set(partial)
    tasks = {}
    for name, task in model_config["tasks"].items():
        task = dict(task)
        if task.get("targets") in partial and task.get("labelled") is None:
            task["labelled"] = labelled_name(task["targets"])
        tasks[name] = task
    return {**model_config, "tasks": tasks}


def only_frozen_bricks_in_eval_mode(model: torch.nn.Module) -> bool:
    """Whether every module in eval mode is inside a not-trainable brick (which keeps its model in eval mode).

    Example:
        >>> from torch import nn
        >>> from torchbricks import BrickCollection, BrickNotTrainable, BrickTrainable
        >>> only_frozen_bricks_in_eval_mode(BrickCollection({"a": BrickNotTrainable(nn.BatchNorm1d(2), ["x"], ["y"])}))
        True
        >>> head = nn.Linear(2, 2).eval()
        >>> only_frozen_bricks_in_eval_mode(BrickCollection({"a": BrickTrainable(head, ["x"], ["y"])}))
        False
    """
    frozen = _frozen_modules(model)
    return all(module.training or id(module) in frozen for module in model.modules())


def _frozen_modules(model: torch.nn.Module) -> set[int]:
    """The ids of the modules inside not-trainable bricks (which keep them in eval mode)."""
    from torchbricks.bricks import BrickModule

    return {
        id(module)
        for brick in model.modules()
        if isinstance(brick, BrickModule) and not brick.trainable and isinstance(brick.model, torch.nn.Module)
        for module in brick.model.modules()
    }


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


def _module(model: torch.nn.Module, settings: Mapping[str, Any]) -> Any:
    from torchbricks.groups import Stage
    from torchbricks.training._module import LightningBrickCollection

    groups = settings["train_groups"]
    return LightningBrickCollection(
        model,
        optimizer=settings["optimizer"],
        scheduler=settings["scheduler"],
        train_groups=Stage.TRAIN if groups is None else set(groups),
        metrics_every_n_steps=settings["metrics_every_n_steps"],
        channels_last=settings["channels_last"],
        log_visualizations=settings["visualizations"],
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


def create_callback(spec: Mapping[str, Any]) -> Any:
    """The Lightning callback a ``callbacks:`` entry names, with its arguments.

    Example:
        >>> type(create_callback({"name": "EarlyStopping", "monitor": "val/loss", "patience": 2})).__name__
        'EarlyStopping'
    """
    from torchbricks.training._config import callback_class

    arguments = {key: value for key, value in spec.items() if key != "name"}
    return callback_class(spec["name"])(**arguments)


def write_visualizations(model: torch.nn.Module, datasets: list[Any], folder: Path, count: int) -> list[Path]:
    """One PNG per task: validation images labelled for it, spread over its classes, image | truth | prediction."""
    from torchbricks.training._pictures import write_task_sheets

    return write_task_sheets(model, datasets, folder, count)
