"""Steps: the per-brick closures an execution plan runs.

A step reads a brick's inputs from the dict of named data, calls the brick's runner and writes its
outputs back. Each step is one closure specialised when the plan is built (one input and one output,
two inputs, ...) so that the per-forward work is dictionary reads, one call and dictionary writes —
no type checks, no list building, no nested calls. ``torch.compile`` traces them without graph breaks.

Example:
    >>> step = make_step(lambda x: x + 1, ("a",), None, ("b",), reads_all=False, brick_path="inc")
    >>> data = {"a": 1}
    >>> step(data)
    >>> data
    {'a': 1, 'b': 2}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torchbricks.errors import BrickOutputError
from torchbricks.names import ALL_INPUTS

Step = Callable[[dict[str, Any]], None]
Data = dict[str, Any]


def make_step(
    runner: Callable[..., Any],
    inputs: tuple[str, ...],
    keywords: tuple[str, ...] | None,
    outputs: tuple[str, ...],
    *,
    reads_all: bool,
    brick_path: str,
) -> Step:
    """Build the step for one brick.

    Args:
        runner: called with the brick's inputs; returns its output(s).
        inputs: resolved data names to read, in order.
        keywords: parameter names when inputs are passed by keyword (``input_names`` given as a dict).
        outputs: resolved data names to write.
        reads_all: ``"__all__"`` is among the inputs: with no other ``inputs`` the whole dict of named
            data is the only argument; otherwise the argument at the place of ``"__all__"`` in ``inputs``.
        brick_path: used in error messages.
    """
    if reads_all or keywords is not None or len(inputs) > 2:
        return _general_step(runner, inputs, keywords, outputs, reads_all, brick_path)
    if len(outputs) <= 1:
        return _single_output_step(runner, inputs, outputs)
    return _multiple_outputs_step(runner, inputs, outputs, brick_path)


def _single_output_step(runner: Callable[..., Any], inputs: tuple[str, ...], outputs: tuple[str, ...]) -> Step:
    """Fast paths for 0-2 positional inputs and 0-1 outputs (most bricks)."""
    if not outputs:
        names = inputs

        def step_without_outputs(data: Data) -> None:  # e.g. metric updates
            runner(*[data[name] for name in names])

        return step_without_outputs
    (output,) = outputs
    if len(inputs) == 0:

        def step_no_input(data: Data) -> None:
            data[output] = runner()

        return step_no_input
    if len(inputs) == 1:
        (first,) = inputs

        def step_one_input(data: Data) -> None:
            data[output] = runner(data[first])

        return step_one_input
    first, second = inputs

    def step_two_inputs(data: Data) -> None:
        data[output] = runner(data[first], data[second])

    return step_two_inputs


def _multiple_outputs_step(
    runner: Callable[..., Any], inputs: tuple[str, ...], outputs: tuple[str, ...], brick_path: str
) -> Step:
    count = len(outputs)
    if len(inputs) == 1:
        (first,) = inputs

        def step_one_input(data: Data) -> None:
            result = runner(data[first])
            if not isinstance(result, (tuple, list)) or len(result) != count:
                raise wrong_output_count_error(brick_path, outputs, result)
            for name, value in zip(outputs, result, strict=False):  # length checked above
                data[name] = value

        return step_one_input
    arguments = inputs

    def step_positional(data: Data) -> None:
        result = runner(*[data[name] for name in arguments])
        if not isinstance(result, (tuple, list)) or len(result) != count:
            raise wrong_output_count_error(brick_path, outputs, result)
        for name, value in zip(outputs, result, strict=False):  # length checked above
            data[name] = value

    return step_positional


def _general_step(
    runner: Callable[..., Any],
    inputs: tuple[str, ...],
    keywords: tuple[str, ...] | None,
    outputs: tuple[str, ...],
    reads_all: bool,
    brick_path: str,
) -> Step:
    """Any brick: ``__all__``, keyword inputs, three or more inputs; any number of outputs."""
    if reads_all and inputs:
        return _step_with_all_inputs_among_others(runner, inputs, keywords, outputs, brick_path)
    pairs = tuple(zip(keywords, inputs, strict=True)) if keywords is not None else ()

    def step(data: Data) -> None:
        if reads_all:
            result = runner(dict(data))
        elif keywords is not None:
            result = runner(**{keyword: data[name] for keyword, name in pairs})
        else:
            result = runner(*[data[name] for name in inputs])
        _write_outputs(data, outputs, result, brick_path)

    return step


def _step_with_all_inputs_among_others(
    runner: Callable[..., Any],
    inputs: tuple[str, ...],
    keywords: tuple[str, ...] | None,
    outputs: tuple[str, ...],
    brick_path: str,
) -> Step:
    """``"__all__"`` among other input names: that argument receives a dict of every named data item."""

    def arguments(data: Data) -> list[Any]:
        return [dict(data) if name == ALL_INPUTS else data[name] for name in inputs]

    def step(data: Data) -> None:
        if keywords is None:
            result = runner(*arguments(data))
        else:
            result = runner(**dict(zip(keywords, arguments(data), strict=True)))
        _write_outputs(data, outputs, result, brick_path)

    return step


def _write_outputs(data: Data, outputs: tuple[str, ...], result: Any, brick_path: str) -> None:
    """Write a general step's result: one value for one output name, a tuple of values for several."""
    if len(outputs) == 1:
        data[outputs[0]] = result
    elif outputs:
        if not isinstance(result, (tuple, list)) or len(result) != len(outputs):
            raise wrong_output_count_error(brick_path, outputs, result)
        for name, value in zip(outputs, result, strict=False):  # length checked above
            data[name] = value


def wrong_output_count_error(brick_path: str, outputs: tuple[str, ...], result: Any) -> BrickOutputError:
    """The error for a brick whose module returned the wrong number of values."""
    got = f"{len(result)} values" if isinstance(result, (tuple, list)) else f"a single {type(result).__name__}"
    return BrickOutputError(
        f"Brick '{brick_path}' has {len(outputs)} output names {list(outputs)} but its module returned {got}; "
        f"make the module return a tuple of {len(outputs)} values or change output_names"
    )
