"""Import Lightning once, with an error that says how to install it when it is missing.

``pytorch_lightning`` (the seed's import) is used when installed, otherwise the ``lightning``
package's ``lightning.pytorch``; a module and a Trainer must come from the same one.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from torchbricks.errors import MissingDependencyError

INSTALL_HINT = "pip install 'torchbricks[train]'"


def lightning() -> ModuleType:
    """The Lightning package (``pytorch_lightning`` or ``lightning.pytorch``).

    Raises :class:`MissingDependencyError` (with the install command) when neither is installed.
    """
    try:
        import pytorch_lightning

        return pytorch_lightning
    except ImportError:
        pass
    try:
        import lightning.pytorch

        return lightning.pytorch
    except ImportError as error:
        raise MissingDependencyError(f"Training needs Lightning, which is not installed: {INSTALL_HINT}") from error


LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric")
QUIET_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)",  # Lightning's _pytree on recent torch
    r".*weights_only",  # torch.load's default changed; Lightning's checkpoints are read as Lightning says
)
"""Known deprecation noise from inside Lightning that a user cannot act on."""


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's start-up chatter (accelerator lines, tips) and its known deprecation noise off; other warnings stay.

    Example:
        >>> with quiet_lightning():
        ...     pass
    """
    lightning()  # imports Lightning, which sets its loggers' levels
    levels = {name: logging.getLogger(name).level for name in LIGHTNING_LOGGERS}
    for name in LIGHTNING_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for message in QUIET_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
