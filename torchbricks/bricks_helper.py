"""torchbricks 0.3 import path of the helpers that call a callable with named data.

In the project a collection builds one step per brick when its graph is built (:mod:`torchbricks._steps`);
these helpers run a callable once through the same steps, for code that called them directly.
``input_names`` follow the project's rules: a list (positional), a dict ``{parameter: data name}``
(keywords), and ``"__all__"`` for the dict of all named data.

Example:
    >>> named_input_and_outputs_callable(lambda a, b: (a + b, a - b), {"x": 3, "y": 1}, ["x", "y"], ["sum", "diff"])
    {'sum': 4, 'diff': 2}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from torchbricks._steps import make_step, wrong_output_count_error
from torchbricks.bricks import run_without_gradients
from torchbricks.errors import MissingInputsError
from torchbricks.names import ALL_INPUTS, InputNames, checked_input_names, checked_loss_output_names, resolved_inputs

__all__ = [
    "check_input_names",
    "name_callable_outputs",
    "named_input_and_outputs_callable",
    "parse_argument_loss_output_name_indices",
    "select_inputs_by_name",
]


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

    ``calculate_gradients=False`` runs it under ``torch.no_grad()``. ``named_inputs`` is not changed.
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
