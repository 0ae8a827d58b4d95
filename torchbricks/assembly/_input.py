"""The input contract a saved model records in ``config.json``: what images it takes and how they were sized.

::

    "input": {"channels": 3, "dtype": "float32", "value_range": [0.0, 1.0],
              "size": [64, 64] or null, "resize": "stretch" | "none"}

``channels``, ``dtype`` and ``value_range`` are what the preprocessor takes (float images in ``[0, 1]``;
the PyTorch model also takes ``uint8`` in ``[0, 255]``); the preprocessing itself is the config's
``preprocessor``. ``size`` is ``[height, width]`` of the images the model was trained on (``null`` when
unknown: a model built and saved outside a train run), ``resize`` how images of another size are brought to
it: ``stretch`` (resized to ``size`` without keeping the aspect ratio, as the dataset adapters do) or
``none``. A train run fills in the size from its training data (:func:`trained_input`).

Example:
    >>> input_contract({"input_shape": [3, 224, 224]})
    {'channels': 3, 'dtype': 'float32', 'value_range': [0.0, 1.0], 'size': None, 'resize': 'stretch'}
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

INPUT_KEY = "input"
RESIZE_POLICIES = ("stretch", "none")
_VALUE_RANGE = [0.0, 1.0]


def input_contract(
    config: Mapping[str, Any], size: Sequence[int] | None = None, resize: str = "stretch"
) -> dict[str, Any]:
    """The ``input`` entry for a model config: channels from ``input_shape``, ``size`` as given (else ``None``)."""
    shape = config.get("input_shape")
    channels = int(shape[0]) if isinstance(shape, list | tuple) and shape else 3
    return {
        "channels": channels,
        "dtype": "float32",
        "value_range": list(_VALUE_RANGE),
        "size": [int(size[0]), int(size[1])] if size is not None else None,
        "resize": resize if resize in RESIZE_POLICIES else "stretch",
    }


def recorded_input(config: Mapping[str, Any], given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``input`` to save: ``given`` (a train run's), else the config's (a loaded model's), else what is known."""
    known = given if given is not None else config.get(INPUT_KEY)
    contract = input_contract(config)
    if isinstance(known, Mapping):
        contract.update({key: known[key] for key in contract if key in known})
    return contract


def trained_input(settings: Mapping[str, Any], datasets: Sequence[Any]) -> dict[str, Any]:
    """The input contract of a train run: the size of its first training image, and its datasets' resize policy.

    Every dataset adapter resizes its images to ``image_size`` (a square, aspect ratio not kept: ``stretch``);
    a dataset built without a size (``image_size: null``) keeps its images' own (``none``).

    Example:
        >>> from bag_of_bricks.datasets import shapes
        >>> settings = {"model": {"image": "images", "input_shape": [3, 32, 32]},
        ...             "data": {"train": [{"name": "shapes", "image_size": 48}]}}
        >>> trained_input(settings, [shapes(count=1, image_size=48)])
        {'channels': 3, 'dtype': 'float32', 'value_range': [0.0, 1.0], 'size': [48, 48], 'resize': 'stretch'}
    """
    model = settings.get("model", {})
    image = model.get("image", "images")
    size = None
    if datasets:
        try:
            sample = datasets[0][0]
            shape = tuple(sample[image].shape)
            size = shape[-2:] if len(shape) >= 2 else None
        except Exception:
            size = None
    specs = settings.get("data", {}).get("train", [])
    resize = "stretch" if all(_resizes(spec) for spec in specs) else "none"
    contract = input_contract(model, size, resize)
    if size is not None and len(shape) >= 3:
        contract["channels"] = int(shape[-3])
    return contract


def _resizes(spec: Any) -> bool:
    """Whether a dataset spec's images are resized (its ``image_size``, or its factory's default, is set)."""
    if not isinstance(spec, Mapping):
        return True
    if "image_size" in spec:
        return bool(spec["image_size"])
    from torchbricks.errors import TorchBricksError
    from torchbricks.registry import get_entry

    try:
        factory = get_entry("datasets", str(spec.get("name"))).load()
        parameter = inspect.signature(factory).parameters.get("image_size")
    except (TorchBricksError, ImportError, TypeError, ValueError):
        return True
    return parameter is None or bool(parameter.default)
