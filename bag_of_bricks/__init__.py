"""bag_of_bricks: the standard brick pack of torchbricks, one module per kind of brick.

``preprocessors``, ``backbones``, ``necks``, ``heads``, ``losses``, ``metrics``, ``visualizers`` and
``tasks`` (factories returning a task's bricks); each is registered through the entry points in
``pyproject.toml``, like any other pack.
"""

__all__: list[str] = []
