"""What the old import paths keep of real code: the torchbricks 0.3 / 0.4.2 helpers with no new home.

Nothing in the project uses these; :mod:`torchbricks._compat` serves them under their old paths only
(``torchbricks.bricks_helper``, ``torchbricks.collection_utils``, ``torchbricks.brick_collection_utils``,
``torchbricks.brick_group``, ``torchbricks.model_stage``, ``torchbricks.brick_tags``).

Example:
    >>> named_input_and_outputs_callable(lambda a, b: (a + b, a - b), {"x": 3, "y": 1}, ["x", "y"], ["sum", "diff"])
    {'sum': 4, 'diff': 2}
    >>> unflatten({"head0/logits": 1, "head0/loss": 2, "raw": 3})
    {'head0': {'logits': 1, 'loss': 2}, 'raw': 3}
    >>> BrickGroup.MODEL, sorted(DEFAULT_MODEL_STAGE_TAGS["EXPORT"]), sorted(DEFAULT_MODEL_STAGE_GROUPS["test"])
    ('MODEL', ['MODEL'], ['LOSS', 'METRIC', 'METRIC_EXTRA', 'MODEL'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from torchbricks._steps import make_step, wrong_output_count_error
from torchbricks.bricks import run_without_gradients
from torchbricks.collection import BrickCollection
from torchbricks.errors import MissingInputsError
from torchbricks.groups import LOSS, METRIC, METRIC_EXTRA, MODEL, VISUALIZATION, Stage
from torchbricks.names import ALL_INPUTS, InputNames, checked_input_names, checked_loss_output_names, resolved_inputs

# -- groups and stages (torchbricks.brick_group, torchbricks.model_stage, torchbricks.brick_tags) -------------------


class BrickGroup:
    """The standard group names as class attributes: ``BrickGroup.MODEL`` is ``"MODEL"`` (0.4.2: ``Tag``)."""

    MODEL = MODEL
    LOSS = LOSS
    METRIC = METRIC
    METRIC_EXTRA = METRIC_EXTRA
    VISUALIZATION = VISUALIZATION


DEFAULT_MODEL_STAGE_GROUPS: dict[str, frozenset[str]] = {stage.value: stage.groups for stage in Stage}
"""The groups of each stage, keyed by the stage's value (``"train"``, ...), as in 0.3."""

DEFAULT_MODEL_STAGE_TAGS: dict[str, frozenset[str]] = {stage.name: stage.groups for stage in Stage}
"""The groups of each stage, keyed by the stage's name (``"TRAIN"``, ...), as in 0.4.2."""


# -- calling a callable with named data (torchbricks.bricks_helper) -------------------------------------------------


def check_input_names(named_inputs: Mapping[str, Any], input_names: Iterable[str]) -> None:
    """Raise :class:`~torchbricks.errors.MissingInputsError` naming every input name absent from ``named_inputs``."""
    missing = [name for name in input_names if name != ALL_INPUTS and name not in named_inputs]
    if missing:
        raise MissingInputsError(f"Named inputs {missing} are missing; got {sorted(map(str, named_inputs))}")


def select_inputs_by_name(named_inputs: Mapping[str, Any], input_names: Iterable[str]) -> list[Any]:
    """The values of ``input_names``, in order (missing names raise, see :func:`check_input_names`)."""
    names = list(input_names)
    check_input_names(named_inputs, names)
    return [named_inputs[name] for name in names]


def name_callable_outputs(outputs: Any, output_names: list[str]) -> dict[str, Any]:
    """Pair returned values with output names: a tuple gives one value per name, anything else is one value.

    ``None`` with no output names gives ``{}``.
    """
    if outputs is None and not output_names:
        return {}
    values = outputs if isinstance(outputs, tuple) else (outputs,)
    if len(values) != len(output_names):
        raise wrong_output_count_error("callable", tuple(output_names), outputs)
    return dict(zip(output_names, values, strict=True))


def named_input_and_outputs_callable(
    callable: Callable[..., Any],  # the original's argument name
    named_inputs: Mapping[str, Any],
    input_names: InputNames,
    output_names: list[str],
    calculate_gradients: bool = True,
) -> dict[str, Any]:
    """Call ``callable`` with the named inputs of ``input_names``; return its outputs by ``output_names``.

    Runs through the same steps a collection plans (``input_names``: a list, a dict ``{parameter: data
    name}``, or ``"__all__"``); ``calculate_gradients=False`` runs it under ``torch.no_grad()``.
    ``named_inputs`` is not changed.
    """
    checked = checked_input_names(input_names, "named_input_and_outputs_callable")
    inputs, keywords, reads_all = resolved_inputs(checked, (), "callable")
    check_input_names(named_inputs, inputs)
    runner = callable if calculate_gradients else run_without_gradients(callable)
    outputs = tuple(output_names)
    step = make_step(runner, inputs, keywords, outputs, reads_all=reads_all, brick_path="callable")
    data = dict(named_inputs)
    step(data)
    return {name: data[name] for name in outputs}


def parse_argument_loss_output_name_indices(
    loss_output_names: list[str] | str, available_output_names: list[str]
) -> list[int]:
    """Positions in ``available_output_names`` of the loss outputs (``"all"``, ``"none"`` or a list of names)."""
    names = checked_loss_output_names(loss_output_names, list(available_output_names))
    return [available_output_names.index(name) for name in names]


# -- nested dicts of bricks (torchbricks.collection_utils, torchbricks.brick_collection_utils) ---------------------


def flatten_dict(bricks: Mapping[str, Any], parent_key: str = "", sep: str = ".") -> dict[str, Any]:
    """A collection's bricks as one flat dict keyed by their joined names (``{"head.classify": brick}``).

    Nested ``BrickCollection``s are flattened; any other value, a plain dict included, is kept as it is.
    ``collection.named_bricks()`` gives the same with ``/`` paths.
    """
    flat: dict[str, Any] = {}
    for key, value in bricks.items():
        name = f"{parent_key}{sep}{key}" if parent_key else key
        if isinstance(value, BrickCollection):
            flat.update(flatten_dict(value, name, sep=sep))
        else:
            flat[name] = value
    return flat


def unflatten(flat: Mapping[str, Any], base: dict[str, Any] | None = None, sep: str = "/") -> dict[str, Any]:
    """Nest the keys that contain ``sep`` (``{"a/b": 1}`` → ``{"a": {"b": 1}}``), merging into ``base``.

    Dict values are unflattened too and merged with what is already there; later keys overwrite earlier
    ones. ``base`` (default: a new dict) is filled in and returned.
    """
    result = {} if base is None else base
    for key, value in flat.items():
        *parents, leaf = key.split(sep) if sep in key else (key,)
        target = result
        for parent in parents:
            target = target.setdefault(parent, {})
        if isinstance(value, Mapping):
            existing = target.get(leaf)
            value = unflatten(value, existing if isinstance(existing, dict) else {}, sep=sep)
        target[leaf] = value
    return result


def filter_brick_types(brick_collection: BrickCollection | Mapping[str, Any], types: type | tuple[type, ...]) -> dict:
    """The bricks that are instances of ``types``, as a nested dict mirroring the collection.

    Every nested collection appears as a (possibly empty) dict; the collection itself is not changed.

    Example:
        >>> from torch import nn
        >>> from torchbricks import BrickLoss, BrickTrainable
        >>> model = BrickCollection({
        ...     "head": {
        ...         "classify": BrickTrainable(nn.Identity(), ["x"], ["y"]),
        ...         "loss": BrickLoss(nn.L1Loss(), ["y", "t"], ["l1"]),
        ...     },
        ... })
        >>> filter_brick_types(model, BrickLoss)
        {'head': {'loss': BrickLoss(L1Loss, input_names=['y', 't'], output_names=['l1'], groups={'LOSS'})}}
    """
    tree = brick_collection.to_dict() if isinstance(brick_collection, BrickCollection) else brick_collection
    selected: dict[str, Any] = {}
    for name, value in tree.items():
        if isinstance(value, Mapping):
            selected[name] = filter_brick_types(value, types)
        elif isinstance(value, types):
            selected[name] = value
    return selected
