"""Where ``predict``'s images come from: files, folders and globs, in-memory images, or a dataset — read lazily.

Each input becomes a stream of :class:`Source` (a name and a way to read the image) or :class:`Failure`
(a name and why it cannot be read). Nothing is read while the stream is built: folders are walked one
folder at a time (in sorted path order, hidden entries left out, symbolic links to folders not followed), so a folder of
100,000 images costs its file names, never its pixels.

* a file is read whatever its suffix; a folder gives the files below it whose suffix Pillow opens
  (:func:`image_suffixes`); a glob (``photos/**/*.jpg``) gives what it matches, sorted;
* a path that does not exist, or a glob that matches nothing, is a :class:`Failure`;
* Pillow images, ``[C, H, W]`` tensors (or ``[B, C, H, W]`` batches) and numpy ``[H, W, C]`` arrays are
  named by their position (``<image 3>``);
* a ``torch.utils.data.Dataset`` of named samples (``--data``) gives its image (the first of its ``names``).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> folder = Path(tempfile.mkdtemp())
    >>> for name in ("b.png", "a.jpg"):
    ...     Image.new("RGB", (4, 4)).save(folder / name)
    >>> _ = (folder / "notes.txt").write_text("not an image")
    >>> [Path(item.name).name for item in sources([folder])]
    ['a.jpg', 'b.png']
    >>> [item.reason for item in sources([folder / "missing.png"])]
    ['no such file or folder']
    >>> read_image_file(folder / "a.jpg", channels=3).shape
    torch.Size([3, 4, 4])
"""

from __future__ import annotations

import glob
import os
import stat
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from torchbricks.errors import DatasetError

GLOB_CHARACTERS = frozenset("*?[")
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})


@dataclass(frozen=True)
class Source:
    """One image to predict on: ``name`` (a path, ``<image 3>``, a dataset's file) and ``read() -> [C, H, W]``."""

    name: str
    read: Callable[[], torch.Tensor]


@dataclass(frozen=True)
class Failure:
    """An input that gives no image: ``name`` and the ``reason`` (one line)."""

    name: str
    reason: str


@lru_cache(maxsize=1)
def image_suffixes() -> frozenset[str]:
    """The file suffixes Pillow can open (``.png``, ``.jpg``, ``.webp``, ...), lower case."""
    from PIL import Image

    return frozenset(suffix.lower() for suffix, kind in Image.registered_extensions().items() if kind in Image.OPEN)


def sources(images: Any, channels: int = 3, image_name: str | None = None) -> Iterator[Source | Failure]:
    """The stream of sources of ``images`` (see the module docstring); ``channels`` of the images read."""
    if isinstance(images, torch.utils.data.Dataset):
        yield from dataset_sources(images, image_name)
        return
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    elif isinstance(images, torch.Tensor) and images.dim() == 4:
        images = list(images)
    position = 0
    for item in images:
        if isinstance(item, (str, os.PathLike)):
            for found in path_sources(str(item), channels):
                yield found
                position += 1
        elif isinstance(item, torch.utils.data.Dataset):
            yield from dataset_sources(item, image_name)
        else:
            yield in_memory_source(item, f"<image {position}>", channels)
            position += 1


def count_sources(images: Any) -> int | None:
    """How many items :func:`sources` gives (walking folders, nothing read); ``None`` for an unsized iterable."""
    if isinstance(images, torch.utils.data.Dataset):
        return len(images)  # type: ignore[arg-type]
    if isinstance(images, (str, os.PathLike)):
        images = [images]
    if isinstance(images, torch.Tensor):
        return int(images.shape[0]) if images.dim() == 4 else 1
    if not isinstance(images, (list, tuple)):
        return None
    total = 0
    for item in images:
        if isinstance(item, (str, os.PathLike)):
            total += sum(1 for _ in path_sources(str(item), 3))
        elif isinstance(item, torch.utils.data.Dataset):
            total += len(item)  # type: ignore[arg-type]
        else:
            total += 1
    return total


def path_sources(text: str, channels: int) -> Iterator[Source | Failure]:
    """A file, a folder (walked) or a glob pattern."""
    path = Path(text).expanduser()
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = None
    if mode is not None and stat.S_ISDIR(mode):
        yield from (file_source(found, channels) for found in walk_images(path))
    elif mode is not None:
        yield file_source(path, channels)
    elif GLOB_CHARACTERS & set(text):
        matched = False
        for match in sorted(glob.iglob(str(path), recursive=True)):
            found = Path(match)
            if found.is_dir():
                matched = True
                yield from (file_source(image, channels) for image in walk_images(found))
            elif not found.name.startswith("."):
                matched = True
                yield file_source(found, channels)
        if not matched:
            yield Failure(text, "the pattern matches no file")
    else:
        yield Failure(text, "no such file or folder")


def walk_images(folder: Path) -> Iterator[Path]:
    """The image files below ``folder`` (by suffix) in sorted path order; hidden entries and links to folders left out.

    On the way down, one sorted list of names per folder is held (about 60 bytes a name), never a ``Path``
    per file.
    """
    suffixes = image_suffixes()
    pending = [(folder, *_listing(folder), 0)]
    while pending:
        current, names, folders, position = pending.pop()
        if position == len(names):
            continue
        name = names[position]
        pending.append((current, names, folders, position + 1))
        if name in folders:
            pending.append((current / name, *_listing(current / name), 0))
        elif os.path.splitext(name)[1].lower() in suffixes:
            yield current / name


def _listing(folder: Path) -> tuple[list[str], frozenset[str]]:
    """The visible names in ``folder``, sorted, and those of its subfolders; nothing if it cannot be listed."""
    names, folders = [], set()
    try:
        with os.scandir(folder) as scan:
            for entry in scan:
                if entry.name.startswith("."):
                    continue
                names.append(entry.name)
                if entry.is_dir(follow_symlinks=False):
                    folders.add(entry.name)
    except OSError:
        return [], frozenset()
    names.sort()
    return names, frozenset(folders)


def file_source(path: Path, channels: int) -> Source:
    """A source reading ``path`` when asked."""
    return Source(str(path), lambda: read_image_file(path, channels))


def read_image_file(path: Path, channels: int = 3) -> torch.Tensor:
    """An image file as uint8 ``[channels, H, W]``; any problem is a one-line :class:`DatasetError` naming the file.

    Grayscale and palette images become RGB (and RGB images gray for ``channels=1``), 16-bit images are
    scaled to 8 bits; decompression bombs are refused. Only regular files are opened (a FIFO would block).
    """
    from PIL import Image

    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        raise DatasetError(f"image '{path}' cannot be read ({error.strerror or error})") from error
    if not stat.S_ISREG(mode):
        raise DatasetError(f"image '{path}' is not a regular file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                return pillow_to_tensor(image, channels)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DatasetError(
            f"image '{path}' is refused as a decompression bomb ({' '.join(str(error).split())})"
        ) from error
    except Image.UnidentifiedImageError as error:
        empty = os.path.getsize(path) == 0
        reason = "is empty (0 bytes)" if empty else "is in no image format Pillow knows"
        raise DatasetError(f"image '{path}' {reason}") from error
    except Exception as error:  # truncated or corrupt data: OSError, SyntaxError, ValueError, zlib errors, ...
        raise DatasetError(
            f"image '{path}' cannot be read ({type(error).__name__}: {' '.join(str(error).split())})"
        ) from error


def pillow_to_tensor(image: Any, channels: int = 3) -> torch.Tensor:
    """A Pillow image as uint8 ``[channels, H, W]``."""
    if image.mode in _SIXTEEN_BIT_MODES:
        deep = np.asarray(image).astype(np.float64)
        image_array = np.clip(np.round(deep / 257.0), 0, 255).astype(np.uint8)
        array = image_array[:, :, None] if channels == 1 else np.repeat(image_array[:, :, None], channels, axis=2)
    else:
        if image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")  # Pillow's advice for palette transparency
        target = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
        array = np.array(image if image.mode == target else image.convert(target), dtype=np.uint8)
        array = array[:, :, None] if array.ndim == 2 else array
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).contiguous()


def in_memory_source(item: Any, name: str, channels: int) -> Source | Failure:
    """A Pillow image, a ``[C, H, W]`` / ``[H, W]`` tensor or an ``[H, W, C]`` / ``[H, W]`` numpy array."""
    if isinstance(item, torch.Tensor):
        if item.dim() == 2:
            item = item[None]
        if item.dim() != 3:
            return Failure(name, f"a tensor image must be [C, H, W], got shape {tuple(item.shape)}")
        tensor = item.detach().cpu()
        return Source(name, lambda: _channels(tensor, channels))
    if isinstance(item, np.ndarray):
        array = item[:, :, None] if item.ndim == 2 else item
        if array.ndim != 3:
            return Failure(name, f"a numpy image must be [H, W, C], got shape {item.shape}")
        return Source(name, lambda: _channels(torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1), channels))
    if hasattr(item, "mode") and hasattr(item, "convert"):  # a Pillow image
        return Source(name, lambda: pillow_to_tensor(item, channels))
    return Failure(name, f"not an image: a {type(item).__name__} (pass paths, Pillow images, tensors or arrays)")


def _channels(image: torch.Tensor, channels: int) -> torch.Tensor:
    if image.shape[0] == channels:
        return image
    if image.shape[0] == 1:
        return image.expand(channels, *image.shape[1:])
    if channels == 1 and image.shape[0] in (3, 4):
        weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32).view(3, 1, 1)
        gray = (image[:3].float() * weights).sum(0, keepdim=True)
        return gray.round().to(torch.uint8) if image.dtype == torch.uint8 else gray.to(image.dtype)
    if image.shape[0] == 4 and channels == 3:
        return image[:3]
    raise DatasetError(f"has {image.shape[0]} channels; the model takes {channels}")


def dataset_sources(dataset: Any, image_name: str | None = None) -> Iterator[Source]:
    """One source per sample of a dataset of named samples; its image is ``image_name`` or its first name."""
    names = getattr(dataset, "names", None)
    key = image_name if image_name and (names is None or image_name in names) else (names[0] if names else None)
    for index in range(len(dataset)):
        yield Source(dataset_item_name(dataset, index), _sample_reader(dataset, index, key))


def _sample_reader(dataset: Any, index: int, key: str | None) -> Callable[[], torch.Tensor]:
    def read() -> torch.Tensor:
        sample = dataset[index]
        image = sample[key] if key is not None else next(iter(sample.values()))
        if not isinstance(image, torch.Tensor) or image.dim() != 3:
            raise DatasetError(f"sample {index} has no [C, H, W] image tensor under {key!r}")
        return image

    return read


def dataset_item_name(dataset: Any, index: int) -> str:
    """How a dataset names a sample: its ``source(index)`` (the file, unquoted), else ``<origin>[index]``."""
    inner, position = _innermost(dataset, index)
    source = getattr(inner, "source", None)
    if callable(source):
        try:
            described = str(source(position))
            quoted = len(described) > 1 and described[0] == described[-1] == "'" and "'" not in described[1:-1]
            return described[1:-1] if quoted else described  # a file named for messages: 'photos/cat.png'
        except Exception:
            pass
    origin = getattr(inner, "origin", None) or type(inner).__name__
    return f"{origin}[{position}]"


def _innermost(dataset: Any, index: int) -> tuple[Any, int]:
    """The dataset of a ``ConcatDataset`` that holds sample ``index``, and the sample's index in it."""
    import bisect

    sizes = getattr(dataset, "cumulative_sizes", None)
    parts = getattr(dataset, "datasets", None)
    if sizes is None or parts is None:
        return dataset, index
    which = bisect.bisect_right(sizes, index)
    return _innermost(parts[which], index - (sizes[which - 1] if which else 0))
