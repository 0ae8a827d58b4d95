"""The exceptions and warnings torchbricks raises.

Every error derives from :class:`TorchBricksError`, and also from the built-in exception a caller
would naturally catch (``ValueError``, ``KeyError``, ...), so both ``except TorchBricksError`` and
``except ValueError`` work. Messages name the brick path, the data name or the file at fault and,
where one exists, a close match.

Example:
    >>> from torchbricks.errors import DuplicateOutputError, TorchBricksError
    >>> issubclass(DuplicateOutputError, TorchBricksError) and issubclass(DuplicateOutputError, ValueError)
    True
"""

from __future__ import annotations


class TorchBricksError(Exception):
    """Base class of every error raised by torchbricks."""


class BrickDefinitionError(TorchBricksError, ValueError):
    """A brick was constructed with invalid arguments (names, groups, model)."""


class CollectionBuildError(TorchBricksError, ValueError):
    """A brick collection cannot be built: its bricks do not form a valid graph."""


class DuplicateOutputError(CollectionBuildError):
    """Two bricks write the same data name."""


class CyclicDependencyError(CollectionBuildError):
    """Bricks depend on each other's outputs in a cycle."""


class RelativeNameError(CollectionBuildError):
    """A relative name (``./x``, ``../x``) cannot be resolved against the brick's path."""


class UnknownGroupError(TorchBricksError, ValueError):
    """A requested group is used by no brick of the collection and is not a standard group."""


class MissingInputsError(TorchBricksError, KeyError):
    """Named inputs needed by the bricks being run were not passed to ``forward``."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class UnknownOutputError(TorchBricksError, KeyError):
    """``forward(..., outputs=[...])`` names data that the bricks run do not write."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class NamedInputsError(TorchBricksError, TypeError):
    """``forward`` was called with something other than a dict of named inputs."""


class InvalidGroupsError(TorchBricksError, TypeError):
    """``groups`` is neither a Stage, a name, nor an iterable of group names."""


class BrickOutputError(TorchBricksError, ValueError):
    """A brick's module returned a different number of values than the brick has output names."""


class BatchSizeError(TorchBricksError, ValueError):
    """A per-image brick cannot tell the batch size: no input unpacks per image, or inputs disagree."""


class PerImageUnpackError(BatchSizeError, TypeError):
    """A per-image brick has no unpack function for an input's type (also a ``TypeError``)."""


class ExportError(TorchBricksError, ValueError):
    """A collection cannot be exported as asked (a brick that cannot be traced, non-tensor data)."""


class WeightsError(TorchBricksError):
    """Base class of errors when saving or loading brick weights."""


class WeightsFolderExistsError(WeightsError, FileExistsError):
    """``save_bricks`` was asked to write into an existing folder without ``exist_ok=True``."""


class MissingWeightsError(WeightsError, FileNotFoundError):
    """A brick has state but its weight file is missing (an error only with ``strict=True``)."""


class NotAWeightsFolderError(MissingWeightsError, NotADirectoryError):
    """``load_bricks`` was given a file, not a folder of weight files (also a ``NotADirectoryError``)."""


class UnexpectedWeightsError(WeightsError, ValueError):
    """A weight file matches no brick of the collection (an error only with ``strict=True``)."""


class WeightsMismatchError(WeightsError, ValueError):
    """A weight file's tensors do not fit its brick (missing or extra keys, other shapes)."""


class CorruptWeightsError(WeightsError, ValueError):
    """A weight file cannot be read (truncated, corrupt or not a safetensors file)."""


class ChecksumMismatchError(CorruptWeightsError):
    """A model folder's files differ from its ``checksums.sha256`` (changed or missing); the message names them."""


class WeightsChecksumError(CorruptWeightsError):
    """A pretrained weights file differs from its entry's sha256 or size (corrupt, truncated, another file).

    The message names the weights and the file, and shows the expected and the actual sha256 and size.
    """


class WeightsUnavailableError(WeightsError, FileNotFoundError):
    """Pretrained weights are in none of the places looked in and cannot be downloaded (offline, no source, a
    network failure). The one-line message names the weights, every place looked in, and the command that
    fetches them on another machine (``torchbricks weights mirror DIR NAME``)."""


class WeightsChecksumWarning(UserWarning):
    """A pretrained weights file in a cache or mirror folder failed its check and was not used."""


class BrickWeightsWarning(UserWarning):
    """A weight file is missing or unexpected; the collection loaded everything else."""


class LegacyWeightsWarning(UserWarning):
    """Weights were read from the original torchbricks' ``.pt`` files (tensors only); save them again as safetensors."""


class PossibleTypoWarning(UserWarning):
    """A brick reads a name that no brick writes, but a brick writes a very similar name."""


class RegistryError(TorchBricksError):
    """Base class of errors raised by the brick registries."""


class UnknownKindError(RegistryError, ValueError):
    """A registry kind that does not exist (``backbone`` is accepted for ``backbones``)."""


class UnknownBrickError(RegistryError, KeyError):
    """No registered brick has this name; the message lists close matches and the packs searched."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class UnknownWeightsError(UnknownBrickError):
    """No registered pretrained weights have this name; the message lists close matches and the brick's tags."""


class NotABrickError(RegistryError, TypeError):
    """A registry entry that is not a brick (pretrained weights) was asked to build a brick."""


class InvalidWeightsEntryError(RegistryError, ValueError):
    """A pretrained-weights entry is invalid: its function fails or returns no ``PretrainedWeights``, its name
    is not the weights' ``<brick>.<tag>``, or a field is wrong. The message names the entry and the field."""


class AmbiguousBrickNameError(RegistryError, LookupError):
    """A bare name is registered by several packs; use ``pack:name``."""


class DuplicateBrickError(RegistryError, ValueError):
    """One pack registers the same name twice in one kind."""


class BrickArgumentError(RegistryError, TypeError):
    """``create`` got keyword arguments the factory does not accept, or lacks required ones."""


class PluginLoadError(RegistryError, ImportError):
    """A brick pack failed to load.

    Raised by ``get``/``create`` for the brick asked for, and for any broken pack in strict mode
    (``TORCHBRICKS_STRICT_PLUGINS=1``); otherwise a broken pack is recorded and reported by ``plugins``.
    """


class InvalidBrickError(RegistryError, ValueError):
    """A pack registers a brick with an invalid name, factory, summary, signature or interface.

    The message names the pack, the brick and the field at fault; the hook's registrations are dropped.
    """


class PluginTimeoutError(PluginLoadError):
    """A pack's plugin or its check did not finish in time (``TORCHBRICKS_HOOK_TIMEOUT``, ``--timeout``)."""


class MissingDependencyError(RegistryError, ImportError):
    """A registered brick needs a package that is not installed; the message says what to install."""


class ConfigError(TorchBricksError, ValueError):
    """A model config has unknown keys, unknown brick names or bad arguments; lists every problem with its path."""


class PartBuildError(ConfigError):
    """A part's factory rejected the arguments it was given (``levels: [7]``, ``num_classes: -1``)."""


class InterfaceMismatchError(TorchBricksError, ValueError):
    """Parts that do not fit: a neck or task expects other channels or strides than the backbone gives."""


class MissingPackError(TorchBricksError, ImportError):
    """A saved model needs a brick pack that is not installed; the message says what to install."""


class IncompatiblePackError(MissingPackError):
    """A saved model's packs are installed but cannot rebuild it (a brick renamed, an argument changed).

    The message gives the versions the model was saved with and the installed ones.
    """


class RunFolderError(TorchBricksError, FileExistsError):
    """A train run's ``--output`` folder is not one the run may write: it holds files of something else."""


class InputRangeWarning(UserWarning):
    """Images reached a preprocessor outside its input contract (uint8 in 0–255 or float in 0–1).

    Float images in 0–255, or images normalised twice, give wrong predictions without an error; the
    standard preprocessor checks a sample of each batch in eager mode and warns once.
    """


class CompileFallbackWarning(UserWarning):
    """``compile: true`` could not compile the training step (a backend that is not installed, no C compiler):
    training continues eagerly. The message names the backend and the underlying error."""


class DatasetError(TorchBricksError, ValueError):
    """A dataset's file cannot be used: an unreadable image, a mask that does not fit its image, a malformed
    CSV row or COCO entry, a FIFO among the images. The message names the file (and the row or entry).

    Raised in a DataLoader worker, it reaches the main process with its one-line message (PyTorch would
    put the worker's whole traceback into it).
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*_worker_message(args))


class DatasetConfigError(DatasetError, ConfigError):
    """A dataset's data does not fit the config: a mask class ``>= num_classes``, a path outside the
    dataset's root without ``allow_outside_root: true``, class names that differ between datasets."""


def _worker_message(args: tuple[object, ...]) -> tuple[object, ...]:
    """The original one-line message of an error re-raised from a DataLoader worker (else ``args``)."""
    if len(args) != 1 or not isinstance(args[0], str) or not args[0].startswith("Caught "):
        return args
    text = args[0]
    if "DataLoader worker" not in text.split("\n", 1)[0] or "Traceback" not in text:
        return args
    last = text.rstrip("\n").rsplit("\n", 1)[-1]
    _, separator, message = last.partition("Error: ")
    return (message,) if separator and message else args


class PredictError(TorchBricksError, ValueError):
    """``predict`` cannot run as asked: no image among the inputs, a model without readable predictions, a backend
    that cannot run the model (the message names it and what to use instead)."""


class PredictOutputExistsError(PredictError, FileExistsError):
    """``predict``'s output folder holds files that no earlier ``predict`` wrote; nothing in it is touched."""


class TrainingDivergedError(TorchBricksError, FloatingPointError):
    """A train run's loss, validation loss or weights became NaN or infinite; the message names the step and task.

    The run stops and writes no result: the output folder keeps the earlier run (``model/`` included).
    """
