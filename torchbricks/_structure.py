"""A process-wide counter of structural changes to bricks and collections.

Collections cache their validated execution plans. Any change that could alter a plan (a brick's
model, names or groups reassigned; a collection's items set, deleted or cleared) bumps this counter,
and a collection whose cached plan is older rebuilds and revalidates it before the next forward.
Checking it costs one integer comparison per forward.
"""

from __future__ import annotations


class StructureVersion:
    """Holds the current structure version in ``value``."""

    value: int = 0


STRUCTURE = StructureVersion()


def structure_changed() -> None:
    """Invalidate every cached execution plan (they are rebuilt lazily)."""
    STRUCTURE.value += 1
