"""Import Lightning once, with an error that says how to install it when it is missing.

``pytorch_lightning`` (the seed's import) is used when installed, otherwise the ``lightning``
package's ``lightning.pytorch``; a module and a Trainer must come from the same one.
"""

from __future__ import annotations

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
