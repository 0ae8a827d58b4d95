"""Steps: the per-brick closures an execution plan runs.

A step reads a brick's inputs from the dict of named data, calls the brick's runner and writes its
outputs back. Steps are specialised when the plan is built (one input, one output, ...) so that the
per-forward work is a dictionary read, a call and a dictionary write — no type checks, no list
building. They are plain closures, which ``torch.compile`` traces without graph breaks.

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

Step = Callable[[dict[str, Any]], None]


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
        reads_all: pass the whole dict of named data (``"__all__"``) instead of ``inputs``.
        brick_path: used in error messages.
    """
    call = _make_call(runner, inputs, keywords, reads_all)
    return _make_write(call, outputs, brick_path)


def _make_call(
    runner: Callable[..., Any], inputs: tuple[str, ...], keywords: tuple[str, ...] | None, reads_all: bool
) -> Callable[[dict[str, Any]], Any]:
    if reads_all:
        return lambda data: runner(dict(data))
    if keywords is not None:
        pairs = tuple(zip(keywords, inputs, strict=True))
        return lambda data: runner(**{keyword: data[name] for keyword, name in pairs})
    if len(inputs) == 0:
        return lambda data: runner()
    if len(inputs) == 1:
        (first,) = inputs
        return lambda data: runner(data[first])
    if len(inputs) == 2:
        first, second = inputs
        return lambda data: runner(data[first], data[second])
    return lambda data: runner(*[data[name] for name in inputs])


def _make_write(call: Callable[[dict[str, Any]], Any], outputs: tuple[str, ...], brick_path: str) -> Step:
    if len(outputs) == 0:

        def step_without_outputs(data: dict[str, Any]) -> None:
            call(data)

        return step_without_outputs

    if len(outputs) == 1:
        (output,) = outputs

        def step_with_one_output(data: dict[str, Any]) -> None:
            data[output] = call(data)

        return step_with_one_output

    count = len(outputs)

    def step_with_outputs(data: dict[str, Any]) -> None:
        result = call(data)
        if not isinstance(result, (tuple, list)) or len(result) != count:
            raise wrong_output_count_error(brick_path, outputs, result)
        for name, value in zip(outputs, result, strict=False):  # length checked above
            data[name] = value

    return step_with_outputs


def wrong_output_count_error(brick_path: str, outputs: tuple[str, ...], result: Any) -> BrickOutputError:
    """The error for a brick whose module returned the wrong number of values."""
    got = f"{len(result)} values" if isinstance(result, (tuple, list)) else f"a single {type(result).__name__}"
    return BrickOutputError(
        f"Brick '{brick_path}' has {len(outputs)} output names {list(outputs)} but its module returned {got}; "
        f"make the module return a tuple of {len(outputs)} values or change output_names"
    )
