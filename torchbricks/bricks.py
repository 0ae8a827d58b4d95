"""Bricks: modules wrapped with the names of the data they read and write, and the groups they run in.

Example:
    >>> import torch
    >>> from torch import nn
    >>> brick = BrickTrainable(nn.Linear(4, 2), input_names=["features"], output_names=["logits"])
    >>> brick
    BrickTrainable(Linear, input_names=['features'], output_names=['logits'], groups={'MODEL'})
    >>> brick({"features": torch.zeros(1, 4)})["logits"].shape
    torch.Size([1, 2])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from torchbricks._steps import make_step
from torchbricks._structure import structure_changed
from torchbricks.errors import BrickDefinitionError
from torchbricks.groups import LOSS, METRIC, MODEL, brick_groups
from torchbricks.names import (
    InputNames,
    checked_input_names,
    checked_loss_output_names,
    checked_output_names,
    resolve_name,
    resolved_inputs,
)

_PLAN_ATTRIBUTES = frozenset(
    {
        "model",
        "metrics",
        "input_names",
        "output_names",
        "groups",
        "calculate_gradients",
        "loss_output_names",
        "return_metrics",
    }
)


class BrickInterface(nn.Module):
    """Base class of every brick: input and output names, groups, and how to run the wrapped model.

    Subclasses implement :meth:`make_runner`. A brick called on its own takes a dict of named data
    and returns a dict of its named outputs; inside a ``BrickCollection`` the collection calls the
    runner directly through its precomputed execution plan.

    Example:
        >>> class Doubler(BrickInterface):
        ...     def make_runner(self):
        ...         return lambda value: value * 2
        >>> Doubler(input_names=["x"], output_names=["twice"])({"x": 21})
        {'twice': 42}
    """

    default_group: ClassVar[str] = MODEL
    exportable: ClassVar[bool] = True
    not_exportable_reason: ClassVar[str] = ""

    def __init__(
        self,
        input_names: InputNames,
        output_names: Iterable[str] | None = None,
        group: str | Iterable[str] | None = None,
        *,
        groups: Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        loss_output_names: Iterable[str] | str = (),
    ) -> None:
        super().__init__()
        self.input_names = input_names
        self.output_names = output_names
        self.groups = brick_groups(group, groups, self.default_group, tags)
        self._all_outputs_are_losses = loss_output_names == "all"
        self.loss_output_names = loss_output_names

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _PLAN_ATTRIBUTES:
            value = self._checked_attribute(name, value)
            if name in self.__dict__ or name in self.__dict__.get("_modules", ()):
                structure_changed()
        super().__setattr__(name, value)

    def _checked_attribute(self, name: str, value: Any) -> Any:
        """Validate and normalise a plan attribute, whether set in ``__init__`` or reassigned later."""
        brick_type = type(self).__name__
        if name == "input_names":
            return checked_input_names(value, brick_type)
        if name == "output_names":
            outputs = checked_output_names(value, brick_type)
            if getattr(self, "_all_outputs_are_losses", False):
                super().__setattr__("loss_output_names", list(outputs))
            elif "loss_output_names" in self.__dict__:
                checked_loss_output_names(self.loss_output_names, outputs)
            return outputs
        if name == "groups":
            return brick_groups(value, None, self.default_group)
        if name == "loss_output_names":
            return checked_loss_output_names(value, self.output_names)
        return value

    def make_runner(self) -> Callable[..., Any]:
        """Return the callable the collection calls with this brick's inputs; it returns the outputs."""
        raise NotImplementedError(f"{type(self).__name__} must implement make_runner()")

    @property
    def tags(self) -> set[str]:
        """The brick's groups under their torchbricks 0.4.2 name."""
        return self.groups

    @tags.setter
    def tags(self, value: str | Iterable[str]) -> None:
        self.groups = value

    @property
    def model_name(self) -> str:
        """A short name of what the brick wraps (the model's class name), for printing and graphs."""
        model = getattr(self, "model", None)
        if model is None:
            return type(self).__name__
        return getattr(model, "__name__", None) or type(model).__name__

    def metric_names(self) -> tuple[str, ...]:
        """Names of the metrics this brick accumulates (empty for bricks that are not metrics)."""
        return ()

    def summarize(self, reset: bool = False) -> dict[str, Any]:
        """Computed metric values by metric name (empty for bricks that are not metrics)."""
        return {}

    def reset_metrics(self) -> None:
        """Reset accumulated metric state (nothing for bricks that are not metrics)."""

    def forward(self, named_inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Run the brick alone on a dict of named data; return a dict of its named outputs.

        Relative names resolve as if the brick were at the top level (``./logits`` → ``logits``).
        """
        inputs, keywords, reads_all = resolved_inputs(self.input_names, (), type(self).__name__)
        outputs = tuple(resolve_name(name, (), type(self).__name__) for name in self.output_names)
        step = make_step(
            self.make_runner(), inputs, keywords, outputs, reads_all=reads_all, brick_path=type(self).__name__
        )
        data = dict(named_inputs)
        step(data)
        return {name: data[name] for name in outputs}

    def __repr__(self) -> str:
        groups = "{" + ", ".join(repr(group) for group in sorted(self.groups)) + "}"
        return (
            f"{type(self).__name__}({self.model_name}, input_names={self.input_names!r}, "
            f"output_names={self.output_names!r}, groups={groups})"
        )


class BrickModule(BrickInterface):
    """A brick wrapping a module (or any callable).

    Args:
        model: the module; called with the inputs (positionally for a list of ``input_names``, by
            keyword for a dict ``{parameter: data_name}``), returning one value per output name.
        input_names: data names to read; ``"__all__"`` passes the dict of all named data (alone, or as
            the argument at its place among other names).
        output_names: data names to write, one per returned value.
        group: group name or names (default ``MODEL``); ``groups`` and ``tags`` (0.4.2) are aliases.
        loss_output_names: output names that are losses (``"all"`` for every output, ``"none"`` for
            none); returned by ``BrickCollection.extract_losses``.
        calculate_gradients: when False the model runs under ``torch.no_grad()``.
        trainable: when False the model's parameters are frozen (``requires_grad=False``) and the
            model stays in eval mode, so batch-norm statistics do not drift either.

    Example:
        >>> brick = BrickModule(lambda x, y: x + y, input_names=["x", "y"], output_names=["sum"])
        >>> brick({"x": 1, "y": 2})
        {'sum': 3}
        >>> BrickModule(lambda a: a, input_names={"a": "x"}, output_names=["copy"], group="METRIC").groups
        {'METRIC'}
    """

    def __init__(
        self,
        model: nn.Module | Callable[..., Any],
        input_names: InputNames,
        output_names: Iterable[str] | None = None,
        group: str | Iterable[str] | None = None,
        *,
        groups: Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        loss_output_names: Iterable[str] | str = (),
        calculate_gradients: bool = True,
        trainable: bool = True,
    ) -> None:
        super().__init__(
            input_names, output_names, group, groups=groups, tags=tags, loss_output_names=loss_output_names
        )
        self.trainable = bool(trainable)
        self.model = model
        self.calculate_gradients = bool(calculate_gradients)

    def _checked_attribute(self, name: str, value: Any) -> Any:
        if name == "model":
            if not callable(value):
                raise BrickDefinitionError(f"{type(self).__name__} needs a callable model, got {type(value).__name__}")
            if not self.trainable and isinstance(value, nn.Module):
                value.requires_grad_(False)
                value.eval()
            return value
        return super()._checked_attribute(name, value)

    def make_runner(self) -> Callable[..., Any]:
        if self.calculate_gradients:
            return self.model
        return run_without_gradients(self.model)

    def train(self, mode: bool = True) -> BrickModule:
        super().train(mode)
        if not self.trainable and isinstance(self.model, nn.Module):
            self.model.eval()
        return self


class BrickTrainable(BrickModule):
    """A brick whose model is trained (default group ``MODEL``).

    Example:
        >>> from torch import nn
        >>> BrickTrainable(nn.Identity(), input_names=["x"], output_names=["y"]).groups
        {'MODEL'}
    """

    def __init__(
        self,
        model: nn.Module | Callable[..., Any],
        input_names: InputNames,
        output_names: Iterable[str] | None = None,
        group: str | Iterable[str] | None = None,
        *,
        groups: Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        loss_output_names: Iterable[str] | str = (),
        calculate_gradients: bool = True,
    ) -> None:
        super().__init__(
            model,
            input_names,
            output_names,
            group,
            groups=groups,
            tags=tags,
            loss_output_names=loss_output_names,
            calculate_gradients=calculate_gradients,
            trainable=True,
        )


class BrickNotTrainable(BrickModule):
    """A brick with fixed weights: parameters frozen, model kept in eval mode (default group ``MODEL``).

    Gradients still flow through it to earlier bricks unless ``calculate_gradients=False``.

    Example:
        >>> from torch import nn
        >>> brick = BrickNotTrainable(nn.Linear(2, 2), input_names=["x"], output_names=["y"])
        >>> any(parameter.requires_grad for parameter in brick.parameters())
        False
    """

    def __init__(
        self,
        model: nn.Module | Callable[..., Any],
        input_names: InputNames,
        output_names: Iterable[str] | None = None,
        group: str | Iterable[str] | None = None,
        *,
        groups: Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        calculate_gradients: bool = True,
    ) -> None:
        super().__init__(
            model,
            input_names,
            output_names,
            group,
            groups=groups,
            tags=tags,
            calculate_gradients=calculate_gradients,
            trainable=False,
        )


class BrickLoss(BrickModule):
    """A brick computing losses: every output is a loss (default group ``LOSS``).

    Example:
        >>> import torch
        >>> from torch import nn
        >>> loss = BrickLoss(nn.MSELoss(), input_names=["y", "target"], output_names=["loss_mse"])
        >>> float(loss({"y": torch.ones(2), "target": torch.zeros(2)})["loss_mse"])
        1.0
    """

    default_group: ClassVar[str] = LOSS

    def __init__(
        self,
        model: nn.Module | Callable[..., Any],
        input_names: InputNames,
        output_names: Iterable[str] | None = None,
        group: str | Iterable[str] | None = None,
        *,
        groups: Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        loss_output_names: Iterable[str] | str = "all",
    ) -> None:
        super().__init__(
            model, input_names, output_names, group, groups=groups, tags=tags, loss_output_names=loss_output_names
        )


class BrickMetrics(BrickInterface):
    """A brick accumulating torchmetrics metrics over batches (default group ``METRIC``).

    Metrics are updated on every forward and read with ``summarize``; they are not written to the
    named data unless ``return_metrics=True``, in which case each metric's batch value is written
    under ``./<metric name>`` (or ``output_names``, one per metric).

    Args:
        metric_collection: a ``torchmetrics.MetricCollection`` or a dict of metrics.
        input_names: data names passed to ``update`` (e.g. ``["./class_prediction", "targets"]``).
        return_metrics: also compute and write per-batch metric values (costs extra compute).

    Example:
        >>> import torch
        >>> from torchmetrics.classification import MulticlassAccuracy
        >>> accuracy = MulticlassAccuracy(num_classes=2, average="micro")
        >>> brick = BrickMetrics({"accuracy": accuracy}, input_names=["pred", "target"])
        >>> _ = brick({"pred": torch.tensor([0, 1]), "target": torch.tensor([0, 0])})
        >>> brick.summarize(reset=True)
        {'accuracy': tensor(0.5000)}
    """

    default_group: ClassVar[str] = METRIC
    exportable: ClassVar[bool] = False
    not_exportable_reason: ClassVar[str] = "metrics accumulate state across batches and need targets"

    def __init__(
        self,
        metric_collection: Any,
        input_names: InputNames,
        output_names: Iterable[str] | None = None,
        group: str | Iterable[str] | None = None,
        *,
        groups: Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        return_metrics: bool = False,
    ) -> None:
        metrics = _as_metric_collection(metric_collection, type(self).__name__)
        names = tuple(metrics.keys())
        if output_names is not None and not return_metrics and list(output_names):
            raise BrickDefinitionError(
                f"{type(self).__name__} got output_names={list(output_names)!r} but return_metrics=False: metrics "
                f"are only written to the named data with return_metrics=True (read them with summarize())"
            )
        if return_metrics and output_names is None:
            output_names = [f"./{name}" for name in names]
        super().__init__(input_names, output_names if return_metrics else None, group, groups=groups, tags=tags)
        if return_metrics and len(self.output_names) != len(names):
            raise BrickDefinitionError(
                f"{type(self).__name__} has {len(names)} metrics {list(names)} but {len(self.output_names)} "
                f"output_names {self.output_names}; give one output name per metric"
            )
        self.metrics = metrics
        self.return_metrics = bool(return_metrics)

    @property
    def model_name(self) -> str:
        return ", ".join(self.metric_names())

    def metric_names(self) -> tuple[str, ...]:
        return tuple(self.metrics.keys())

    def make_runner(self) -> Callable[..., Any]:
        metrics = self.metrics
        if not self.return_metrics:

            def update_unless_empty(*args: Any, **kwargs: Any) -> None:
                if any(isinstance(value, torch.Tensor) and value.dim() and not len(value) for value in args):
                    return  # an empty batch (e.g. no labelled sample) leaves the metrics unchanged
                metrics.update(*args, **kwargs)

            return update_unless_empty
        names = self.metric_names()

        def update_and_return(*args: Any, **kwargs: Any) -> Any:
            values = metrics(*args, **kwargs)
            batch_values = tuple(values[name] for name in names)
            return batch_values if len(batch_values) > 1 else batch_values[0]

        return update_and_return

    def summarize(self, reset: bool = False) -> dict[str, Any]:
        values = dict(self.metrics.compute())
        if reset:
            self.metrics.reset()
        return values

    def reset_metrics(self) -> None:
        self.metrics.reset()


class BrickMetricSingle(BrickMetrics):
    """A brick accumulating one torchmetrics metric, named after its class unless ``metric_name`` is given.

    Example:
        >>> from torchmetrics.classification import MulticlassAccuracy
        >>> BrickMetricSingle(MulticlassAccuracy(num_classes=3), input_names=["pred", "target"]).metric_names()
        ('MulticlassAccuracy',)
    """

    def __init__(
        self,
        metric: Any,
        input_names: InputNames,
        output_names: Iterable[str] | None = None,
        group: str | Iterable[str] | None = None,
        *,
        groups: Iterable[str] | None = None,
        tags: str | Iterable[str] | None = None,
        return_metrics: bool = False,
        metric_name: str | None = None,
    ) -> None:
        name = metric_name or type(metric).__name__
        super().__init__(
            {name: metric}, input_names, output_names, group, groups=groups, tags=tags, return_metrics=return_metrics
        )


def run_without_gradients(model: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``model`` so that it runs under ``torch.no_grad()``."""

    def run(*args: Any, **kwargs: Any) -> Any:
        with torch.no_grad():
            return model(*args, **kwargs)

    return run


def _as_metric_collection(metrics: Any, brick_type: str) -> Any:
    from torchmetrics import Metric, MetricCollection  # imported here: torchmetrics is slow and loads torchvision

    if isinstance(metrics, MetricCollection):
        return metrics
    if isinstance(metrics, Metric):
        raise BrickDefinitionError(
            f"{brick_type} got a single {type(metrics).__name__}; use BrickMetricSingle for one metric, "
            f"or pass a MetricCollection or a dict of metrics"
        )
    if isinstance(metrics, Mapping):
        not_metrics = {name: type(value).__name__ for name, value in metrics.items() if not isinstance(value, Metric)}
        if not_metrics:
            raise BrickDefinitionError(f"{brick_type} needs torchmetrics metrics; these are not: {not_metrics}")
        return MetricCollection(dict(metrics))
    raise BrickDefinitionError(
        f"{brick_type} needs a torchmetrics MetricCollection or a dict of metrics, got {type(metrics).__name__}"
    )
