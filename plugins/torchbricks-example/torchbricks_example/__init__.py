"""torchbricks-example: a template brick pack: a neck, a head, a loss, a visualizer, a task, a dataset, weights.

The bricks are registered by the entry points in ``pyproject.toml``; nothing here registers them.

Keep this file free of heavy imports (no ``torch``): listing bricks reads the modules' source without
importing anything, but this file runs whenever any brick of the pack is built, and some editable
installs can only be searched by importing it.
"""
