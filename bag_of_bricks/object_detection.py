"""Deprecated: ``BoxDetectionHead`` moved to :mod:`bag_of_bricks.heads`, ``BoxDetectionLoss`` to
:mod:`bag_of_bricks.losses`, ``decode_boxes`` to the pack's private detection module; this module goes in
the next release.

Importing a name from here still works and warns with a ``FutureWarning`` naming its new place.
"""

from bag_of_bricks._moved import NEW_PLACES
from torchbricks._deprecation import moved_module_getattr

__all__ = sorted(NEW_PLACES[__name__])  # served by __getattr__, each with a warning
__getattr__ = moved_module_getattr(__name__, NEW_PLACES[__name__])
