"""Dataset adapters (registry kind ``datasets``): each yields the named inputs the task factories read.

Every dataset gives ``images`` (uint8 ``[3, H, W]``, resized to ``image_size``) and the targets of
the tasks it is labelled for, under the names the task factories read by default:

=====================  ================================  ===========================================
dataset                gives                             for the task
=====================  ================================  ===========================================
``shapes``             ``shape_present`` ``[3]``,        multilabel_classification,
                       ``segmentation`` ``[H, W]``,      semantic_segmentation, point_detection
                       ``points`` ``[N, 3]``
``image_folder``       ``targets`` (class index)         image_classification (one folder per class)
``multilabel_csv``     ``targets`` ``[C]`` of 0/1        multilabel_classification
``segmentation_folder`` ``segmentation`` ``[H, W]``      semantic_segmentation (PNG class-index masks)
``coco``               ``boxes`` ``[N, 5]`` or           object_detection (``x1, y1, x2, y2, class``)
                       ``points`` ``[N, 3]``             or point_detection (``x, y, class``)
=====================  ================================  ===========================================

The target name can be changed with ``targets=`` (to give two datasets' labels different names).
``augment`` lists ``torchvision.transforms.v2`` transforms (names, or ``{"name": ..., arguments}``);
they move masks, points and boxes with the image. Several datasets, each labelled for some tasks,
train one model: the train run fills each task's ``labelled`` mask per sample.

Every adapter has ``class_names``: target name → class names (``{"targets": ["cat", "dog"]}`` for an
image folder; empty for a name whose classes it does not know), and ``num_classes``: target name →
the number of classes its values are checked against when a sample is loaded (filled from
``class_names``; a train run may add the tasks' ``num_classes``).

Hostile data is refused with one line naming the file (:class:`~torchbricks.errors.DatasetError`, or
:class:`~torchbricks.errors.DatasetConfigError` where the data does not fit the config): unreadable,
empty or truncated images, decompression bombs, FIFOs and other non-regular files (refused when the
folder or file list is read, never opened), masks of another size or mode, class values out of range,
malformed CSV rows and COCO entries, and paths outside the dataset's root (unless
``allow_outside_root=True``). Hidden files and folders (``.name``) are skipped. Grayscale, palette,
RGBA and 16-bit images become RGB (16-bit values scaled to 8 bits; alpha dropped). JPEG and PNG files
are decoded by torchvision (libjpeg-turbo, libpng: about twice Pillow's speed for JPEG), the rest and
whatever torchvision refuses by Pillow, to the same pixels (``bag_of_bricks._image_decoding``).

Example:
    >>> data = shapes(count=4, seed=0)
    >>> sample = data[0]
    >>> sorted(sample), sample["images"].shape, data.names[0]
    (['images', 'points', 'segmentation', 'shape_present'], torch.Size([3, 64, 64]), 'images')
    >>> data.class_names["points"]
    ['circle', 'square', 'triangle']
"""

from __future__ import annotations

import csv
import errno
import inspect
import io
import json
import math
import os
import re
import stat
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from bag_of_bricks._image_decoding import decode_rgb
from bag_of_bricks.shapes import CLASS_NAMES, SHAPE_NAMES, make_shapes_batch
from torchbricks.errors import ConfigError, DatasetConfigError, DatasetError
from torchbricks.suggestions import did_you_mean

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
IGNORE_INDEX = 255
"""A mask value that marks pixels without a label (left out of the loss and metrics)."""
BOX_TOLERANCE = 1.0
"""Pixels a COCO box or keypoint may stick out of its image (rounding in real annotation files)."""
MASK_MODES = ("L", "P", "1", "I", "I;16", "I;16L", "I;16B", "I;16N")
SIXTEEN_BIT_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")
AugmentSpec = Sequence[str | dict[str, Any]] | str | dict[str, Any] | None


def build_transforms(augment: AugmentSpec, image_size: int | None, dataset: str = "dataset") -> Any:
    """A ``transforms.v2.Compose`` of a resize to ``image_size`` and the ``augment`` transforms.

    ``augment`` is a list of transform names or ``{"name": ..., arguments}`` (one alone counts as a list of
    one); ``transforms`` arguments (``RandomApply``, ``RandomChoice``, ...) take such specs too. Problems raise
    :class:`~torchbricks.errors.ConfigError` naming the entry (``augment[0].lambd``): an unknown transform or
    argument, and a callable given as text (a config cannot hold a callable).

    Example:
        >>> jitter = {"name": "RandomApply", "transforms": ["ColorJitter"], "p": 0.3}
        >>> composed = build_transforms(["RandomHorizontalFlip", jitter], 8)
        >>> [type(transform).__name__ for transform in composed.transforms]
        ['Resize', 'RandomHorizontalFlip', 'RandomApply']
        >>> try:
        ...     build_transforms([{"name": "Lambda", "lambd": "lambda x: x"}], 8, "image_folder")
        ... except ConfigError as error:
        ...     print(error)
        image_folder: augment[0].lambd: Lambda takes a callable, which a config cannot give as text (got 'lambda x: x')
    """
    from torchvision.transforms import v2

    transforms: list[Any] = [v2.Resize((image_size, image_size), antialias=True)] if image_size else []
    if isinstance(augment, str | Mapping):
        augment = [augment]  # type: ignore[list-item]
    elif augment is not None and not isinstance(augment, Sequence):
        raise ConfigError(
            f"{dataset}: augment: must be a list of torchvision.transforms.v2 transforms "
            f"(names or {{name: ..., arguments}}), got {augment!r}"
        )
    for index, spec in enumerate(augment or ()):
        transforms.append(_transform(spec, f"augment[{index}]", dataset))
    return v2.Compose(transforms) if transforms else None


def _transform(spec: Any, key: str, dataset: str) -> Any:
    """One transform of a spec (a name or ``{"name": ..., arguments}``); ``key`` names it in errors."""
    from torch import nn
    from torchvision.transforms import v2

    if isinstance(spec, str):
        name, arguments = spec, {}
    elif isinstance(spec, Mapping) and isinstance(spec.get("name"), str):
        name, arguments = spec["name"], {key: value for key, value in spec.items() if key != "name"}
    else:
        raise ConfigError(f"{dataset}: {key}: must be a transform name or {{name: ..., arguments}}, got {spec!r}")
    factory = getattr(v2, name, None)
    if not (isinstance(factory, type) and issubclass(factory, nn.Module)):
        known = [item for item in dir(v2) if isinstance(getattr(v2, item), type) and item[0].isupper()]
        raise ConfigError(
            f"{dataset}: {key}: unknown torchvision.transforms.v2 transform {name!r}.{did_you_mean(name, known)}"
        )
    parameters = inspect.signature(factory).parameters
    for argument, value in list(arguments.items()):
        parameter = parameters.get(argument)
        if parameter is None or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            accepted = [item for item in parameters if parameters[item].kind is not parameters[item].VAR_KEYWORD]
            raise ConfigError(
                f"{dataset}: {key}.{argument}: {name} has no argument {argument!r}."
                f"{did_you_mean(argument, accepted)} Accepted: {', '.join(accepted)}"
            )
        annotation = str(parameter.annotation)
        if "Callable" not in annotation or callable(value) or value is None:
            continue
        if argument == "transforms" and isinstance(value, list):
            arguments[argument] = [_transform(item, f"{key}.{argument}[{i}]", dataset) for i, item in enumerate(value)]
        elif not (isinstance(value, str) and re.search(r"\bstr\b", annotation)):
            raise ConfigError(
                f"{dataset}: {key}.{argument}: {name} takes a callable, which a config cannot give as text "
                f"(got {value!r})"
            )
    try:
        return factory(**arguments)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{dataset}: {key}: {name}: {_one_line(error)}") from error


def _one_line(error: BaseException | str) -> str:
    return " ".join(str(error).split())


def file_problem(path: Path) -> str | None:
    """What keeps ``path`` from being read as a file (``"missing"``, ``"a FIFO"``, ...), ``None`` when it is a file.

    Symlinks are followed; nothing is opened (opening a FIFO would wait forever).

    Example:
        >>> file_problem(Path("/dev/null")), file_problem(Path("/no/such/file"))
        ('a character device', 'missing')
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "a broken symlink" if os.path.islink(path) else "missing"
    except OSError as error:
        return "a symlink loop" if error.errno == errno.ELOOP else f"unreadable ({error.strerror})"
    if stat.S_ISREG(mode):
        return None
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISSOCK: "a socket",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
    }
    return next((text for test, text in kinds.items() if test(mode)), "not a regular file")


def _visible_entries(folder: Path) -> list[Path]:
    """The entries of ``folder`` in sorted order, hidden ones (``.name``) left out."""
    return sorted(path for path in folder.iterdir() if not path.name.startswith("."))


def _image_files(folder: Path, dataset: str) -> list[Path]:
    """The image files of ``folder`` (by suffix); an entry with an image suffix that is not a file is refused."""
    files = []
    for path in _visible_entries(folder):
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        problem = file_problem(path)
        if problem is not None:
            raise DatasetError(f"{dataset}: '{path}' is {problem}, not an image file")
        files.append(path)
    return files


def _folder(path: Path, dataset: str, what: str) -> Path:
    problem = file_problem(path)
    if problem != "a folder":
        raise DatasetError(f"{dataset}: {what} '{path}' is not a folder ({problem or 'a file'})")
    return path


def _open_image(path: Path, dataset: str, what: str = "image") -> Any:
    """A Pillow image of ``path``, loaded; any problem raises :class:`DatasetError` naming the file."""
    from PIL import Image

    problem = file_problem(path)
    if problem is not None:
        raise DatasetError(f"{dataset}: {what} '{path}' is {problem}, not an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            image.load()
            return image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise DatasetError(
            f"{dataset}: {what} '{path}' is refused as a decompression bomb ({_one_line(error)})"
        ) from error
    except Image.UnidentifiedImageError as error:
        empty = os.path.getsize(path) == 0
        reason = "it is empty (0 bytes)" if empty else "its content is no image format Pillow knows"
        raise DatasetError(f"{dataset}: {what} '{path}' cannot be read: {reason}") from error
    except Exception as error:  # truncated or corrupt data: OSError, SyntaxError, ValueError, zlib errors, ...
        raise DatasetError(
            f"{dataset}: {what} '{path}' cannot be read ({type(error).__name__}: {_one_line(error)})"
        ) from error


def read_image(path: Path, dataset: str = "dataset") -> torch.Tensor:
    """An image file as uint8 RGB ``[3, H, W]``; problems raise :class:`~torchbricks.errors.DatasetError`.

    Grayscale and palette images become gray/coloured RGB, alpha is dropped, 16-bit images are scaled
    to 8 bits (65535 → 255); EXIF orientation is not applied. The file's name does not matter, only its
    content (a JPEG named ``.png`` is read). JPEG and PNG are decoded by torchvision (libjpeg-turbo,
    libpng) where it can, other formats and variants by Pillow, with the same pixels either way.

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> from PIL import Image
        >>> path = Path(tempfile.mkdtemp()) / "deep.png"
        >>> Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16)).save(path)
        >>> read_image(path)[0].tolist()
        [[0, 128, 255]]
    """
    return load_image(path, dataset).contiguous()


def load_image(path: Path, dataset: str = "dataset", *, pillow_only: bool = False) -> torch.Tensor:
    """:func:`read_image` without the final copy: ``[3, H, W]``, possibly a view of ``[H, W, 3]`` memory.

    Transforms resize such a view as it is (the copy to a contiguous image costs as much as the resize;
    the dataset makes the resized image contiguous). ``pillow_only`` reads every file with Pillow (the
    reader before torchvision decoded JPEG and PNG; for comparisons).

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> path = Path(tempfile.mkdtemp()) / "photo.jpg"
        >>> Image.new("RGB", (4, 2), (200, 10, 10)).save(path)
        >>> image = load_image(path)
        >>> image.shape, image.is_contiguous(), torch.equal(image, load_image(path, pillow_only=True))
        (torch.Size([3, 2, 4]), False, True)
    """
    problem = file_problem(path)
    if problem is not None:
        raise DatasetError(f"{dataset}: image '{path}' is {problem}, not an image file")
    if not pillow_only:
        try:
            with open(path, "rb") as file:
                data = file.read()
        except OSError:
            data = b""  # Pillow opens it again and names the problem
        decoded = decode_rgb(data)
        if decoded is not None:
            return decoded
    return _read_with_pillow(path, dataset)


def _read_with_pillow(path: Path, dataset: str) -> torch.Tensor:
    import numpy as np

    with _open_image(path, dataset) as image:
        if image.mode in SIXTEEN_BIT_MODES:
            deep = np.asarray(image).astype(np.float64)
            gray = np.clip(np.round(deep / 257.0), 0, 255).astype(np.uint8)
            array = np.repeat(gray[:, :, None], 3, axis=2)
        else:
            if image.mode == "P" and "transparency" in image.info:
                image = image.convert("RGBA")  # Pillow's advice for palette transparency
            array = np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    return torch.from_numpy(array).permute(2, 0, 1)


def read_mask(path: Path, dataset: str = "dataset") -> torch.Tensor:
    """A class-index mask (one value per pixel: a mode L, P or 16-bit PNG) as int64 ``[H, W]``.

    An RGB(A) mask, or any other mode, raises :class:`~torchbricks.errors.DatasetError` naming the file.
    """
    import numpy as np

    with _open_image(path, dataset, "mask") as mask:
        if mask.mode not in MASK_MODES:
            raise DatasetError(
                f"{dataset}: mask '{path}' is a mode {mask.mode} image; a mask holds one class index per pixel "
                f"(a mode L or P PNG)"
            )
        values = torch.from_numpy(np.asarray(mask).astype(np.int64))
    if values.numel() and int(values.min()) < 0:
        raise DatasetError(f"{dataset}: mask '{path}' has negative class {int(values.min())}")
    return values


def _inside(root: Path, name: str, allow_outside_root: bool, where: str, dataset: str) -> Path:
    """``root / name``; refused (:class:`DatasetConfigError`) when it lies outside ``root``, unless allowed."""
    path = root / name
    if allow_outside_root:
        return path
    base = os.path.normpath(os.path.abspath(root))
    target = os.path.normpath(os.path.abspath(path))
    if os.path.commonpath([base, target]) != base:
        raise DatasetConfigError(
            f"{dataset}: {where}: image {name!r} is outside the dataset's root '{root}' "
            f"(allow_outside_root: true allows it)"
        )
    return path


def _check_file(path: Path, where: str, dataset: str) -> Path:
    problem = file_problem(path)
    if problem is not None:
        raise DatasetError(f"{dataset}: {where}: image '{path}' is {problem}")
    return path


class NamedDataset(Dataset):
    """Samples ``{image: ..., targets: ...}`` read by ``load(index)``, checked, and transformed consistently.

    Subclasses set ``kind`` (the adapter's name, for messages) and implement ``load(index)``,
    ``source(index)`` (the file a sample's targets come from, for messages) and, when it is cheap,
    ``classes_of(index)`` (class indices per target name, without reading the image).

    Attributes:
        names: the names a sample gives, the image first.
        origin: how messages name the dataset (``image_folder '/data/animals'``).
        class_names: target name → class names, for the targets whose classes the dataset knows.
        num_classes: target name → number of classes; a loaded sample whose values do not fit raises
            :class:`~torchbricks.errors.DatasetConfigError` naming the file (masks may also hold 255, ignored).
    """

    kind = "dataset"

    def __init__(
        self,
        size: int,
        names: Sequence[str],
        transforms: Any,
        class_names: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.size = size
        self.names = tuple(names)
        self.transforms = transforms
        self.class_names: dict[str, list[str]] = {name: list(values) for name, values in (class_names or {}).items()}
        self.num_classes: dict[str, int] = {name: len(values) for name, values in self.class_names.items()}

    def __len__(self) -> int:
        return self.size

    def load(self, index: int) -> dict[str, Any]:
        raise NotImplementedError

    def source(self, index: int) -> str:
        """The file (and entry) a sample's targets come from, quoted for messages."""
        return f"sample {index}"

    def classes_of(self, index: int) -> dict[str, list[int]] | None:
        """Class indices per target name of sample ``index``, when known without reading the image."""
        return None

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        sample = self.load(index)
        for name, count in self.num_classes.items():
            if name in sample:
                self._check_classes(index, name, sample[name], count)
        sample = transform_sample(sample, self.names[0], self.transforms)
        image = sample[self.names[0]]
        if not image.is_contiguous():  # read as a view of [H, W, 3] memory (resized without a copy): [3, H, W] now
            sample[self.names[0]] = image.contiguous()
        return sample

    def _check_classes(self, index: int, name: str, value: torch.Tensor, count: int) -> None:
        if value.ndim == 0 and not value.dtype.is_floating_point:  # one class index (-1: unlabelled)
            label = int(value)
            if not (0 <= label < count or label == -1):
                raise DatasetConfigError(
                    f"{self.kind}: {self.source(index)} has class {label} in '{name}', "
                    f"but num_classes is {count} (classes 0..{count - 1})"
                )
            return
        if value.dtype.is_floating_point and value.ndim == 1:
            if len(value) != count:
                raise DatasetConfigError(
                    f"{self.kind}: {self.source(index)} gives {len(value)} labels for '{name}', "
                    f"but num_classes is {count}"
                )
            return
        if value.dtype.is_floating_point and value.ndim == 2:  # points [N, 3] / boxes [N, 5]: class last
            classes = value[:, -1].to(torch.int64)
            bad = classes[(classes >= count) | (classes < -1)]
        else:
            classes = value.to(torch.int64).reshape(-1)
            ignored = (classes == IGNORE_INDEX) if value.ndim == 2 else (classes == -1)
            bad = classes[((classes >= count) | (classes < 0)) & ~ignored]
        if bad.numel():
            ignore = f"; {IGNORE_INDEX} is ignored" if value.ndim == 2 and not value.dtype.is_floating_point else ""
            raise DatasetConfigError(
                f"{self.kind}: {self.source(index)} has class {int(bad[0])} in '{name}', "
                f"but num_classes is {count} (classes 0..{count - 1}{ignore})"
            )


def transform_sample(sample: dict[str, Any], image_name: str, transforms: Any) -> dict[str, torch.Tensor]:
    """Apply ``transforms`` to the image and, alike, to its mask (``[H, W]``), points and boxes.

    Points ``[N, 3]`` (x, y, class) and boxes ``[N, 5]`` (x1, y1, x2, y2, class) keep their class
    column; samples are recognised by the shape and dtype of their targets.
    """
    if transforms is None:
        return sample
    from torchvision import tv_tensors

    image = sample[image_name]
    size = tuple(image.shape[-2:])
    wrapped: dict[str, Any] = {image_name: tv_tensors.Image(image)}
    classes: dict[str, torch.Tensor] = {}
    points: set[str] = set()
    for name, value in sample.items():
        if name == image_name or not isinstance(value, torch.Tensor):
            continue
        if value.ndim == 2 and tuple(value.shape) == size and not value.dtype.is_floating_point:
            wrapped[name] = tv_tensors.Mask(value)
        elif value.ndim == 2 and value.dtype.is_floating_point and value.shape[1] == 5:
            classes[name] = value[:, 4]
            wrapped[name] = tv_tensors.BoundingBoxes(value[:, :4], format="XYXY", canvas_size=size)
        elif value.ndim == 2 and value.dtype.is_floating_point and value.shape[1] == 3:
            # points as zero-size boxes: continuous pixel coordinates, like boxes (a flip maps x to W - x)
            classes[name] = value[:, 2]
            points.add(name)
            corners = torch.cat([value[:, :2], value[:, :2]], dim=1)
            wrapped[name] = tv_tensors.BoundingBoxes(corners, format="XYXY", canvas_size=size)
        else:
            wrapped[name] = value
    out = transforms(wrapped)
    result: dict[str, torch.Tensor] = {}
    for name, value in out.items():
        tensor = value.as_subclass(torch.Tensor)
        if name in points:
            tensor = (tensor[:, :2] + tensor[:, 2:4]) / 2
        if name in classes:
            tensor = torch.cat([tensor.to(torch.float32), classes[name][:, None]], dim=1)
        result[name] = tensor
    return result


class _Shapes(Dataset):
    """Generated shapes, in memory; ``augment`` applies one of the 8 flips/rotations per sample."""

    def __init__(self, count: int, seed: int, image_size: int, augment: bool) -> None:
        self.data = make_shapes_batch(count, seed=seed, image_size=image_size)
        self.augment = augment
        self.names = ("images", "shape_present", "segmentation", "points")
        self.origin = "shapes"
        self.class_names = {
            "shape_present": list(SHAPE_NAMES),
            "segmentation": list(CLASS_NAMES),
            "points": list(SHAPE_NAMES),
        }
        self.num_classes = {name: len(values) for name, values in self.class_names.items()}

    def __len__(self) -> int:
        return len(self.data["images"])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = {name: value[index] for name, value in self.data.items()}
        if self.augment:
            sample = dihedral(sample, int(torch.randint(0, 8, ())))
        return sample

    def classes_of(self, index: int) -> dict[str, list[int]]:
        present = self.data["shape_present"][index]
        points = self.data["points"][index]
        return {
            "shape_present": [int(kind) for kind in torch.nonzero(present > 0.5).flatten()],
            "segmentation": sorted(int(value) for value in self.data["segmentation"][index].unique()),
            "points": sorted({int(kind) for kind in points[:, 2] if kind >= 0}),
        }


def dihedral(sample: dict[str, torch.Tensor], variant: int) -> dict[str, torch.Tensor]:
    """One of the 8 flips/rotations of a square image, applied to its mask and points alike."""
    image, mask, points = sample["images"], sample["segmentation"], sample["points"].clone()
    size = image.shape[-1]
    valid = points[:, 2] >= 0
    if variant & 1:
        image, mask = image.flip(-1), mask.flip(-1)
        points[:, 0] = torch.where(valid, size - points[:, 0], points[:, 0])
    if variant & 2:
        image, mask = image.flip(-2), mask.flip(-2)
        points[:, 1] = torch.where(valid, size - points[:, 1], points[:, 1])
    if variant & 4:
        image, mask = image.transpose(-1, -2), mask.transpose(-1, -2)
        points[:, [0, 1]] = points[:, [1, 0]]
    return {**sample, "images": image.contiguous(), "segmentation": mask.contiguous(), "points": points}


def shapes(count: int = 1000, seed: int = 0, image_size: int = 64, augment: bool = False) -> Dataset:
    """Generated shapes (no files): labels for multi-label classification, segmentation and point detection.

    ``class_names``: ``shape_present`` and ``points`` circle, square, triangle; ``segmentation`` background
    and the three shapes.
    """
    return _Shapes(count, seed, image_size, augment)


class _ImageFolder(NamedDataset):
    kind = "image_folder"

    def __init__(
        self, root: Path, image: str, targets: str, transforms: Any, classes: Sequence[str] | None = None
    ) -> None:
        _folder(root, self.kind, "root")
        self.origin = f"{self.kind} '{root}'"
        found = []
        for path in _visible_entries(root):
            problem = file_problem(path)
            if problem == "a folder":
                found.append(path.name)
            elif problem in ("a symlink loop", "a broken symlink"):
                raise DatasetError(f"{self.kind}: '{path}' is {problem}, not a class folder")
        if classes is not None:
            self.classes = [str(name) for name in classes]
            for name in self.classes:
                if name not in found:
                    raise DatasetConfigError(
                        f"{self.kind}: class {name!r} (from classes) has no folder '{root / name}'"
                    )
            for name in found:
                if name not in self.classes:
                    raise DatasetConfigError(
                        f"{self.kind}: class folder '{root / name}' is not among classes {self.classes}"
                    )
        else:
            self.classes = found
        if not self.classes:
            raise DatasetError(f"{self.kind}: root '{root}' has no class folders (one folder of images per class)")
        self.files: list[tuple[Path, int]] = []
        for index, name in enumerate(self.classes):
            images = _image_files(root / name, self.kind)
            if not images:
                raise DatasetError(
                    f"{self.kind}: class folder '{root / name}' has no images ({', '.join(IMAGE_SUFFIXES)})"
                )
            self.files.extend((path, index) for path in images)
        super().__init__(len(self.files), (image, targets), transforms, {targets: self.classes})

    def load(self, index: int) -> dict[str, Any]:
        path, label = self.files[index]
        return {self.names[0]: load_image(path, self.kind), self.names[1]: torch.tensor(label)}

    def source(self, index: int) -> str:
        return f"'{self.files[index][0]}'"

    def classes_of(self, index: int) -> dict[str, list[int]]:
        return {self.names[1]: [self.files[index][1]]}


def image_folder(
    root: str,
    image_size: int = 64,
    targets: str = "targets",
    image: str = "images",
    augment: AugmentSpec = None,
    classes: list[str] | None = None,
) -> Dataset:
    """One folder per class (``root/cat/*.jpg``; classes in sorted order) → ``image_classification``.

    ``classes`` fixes the class names and their order (every one must have a folder, and every folder
    be listed): give it to keep indices equal across training and validation folders. An empty class
    folder is refused. ``class_names`` is ``{targets: classes}``.
    """
    return _ImageFolder(Path(root), image, targets, build_transforms(augment, image_size, "image_folder"), classes)


LABEL_VALUES = (0.0, 1.0, -1.0)


class _MultilabelCsv(NamedDataset):
    kind = "multilabel_csv"

    def __init__(
        self,
        path: Path,
        root: Path,
        image_column: str,
        image: str,
        targets: str,
        transforms: Any,
        allow_outside_root: bool = False,
    ) -> None:
        self.origin = f"{self.kind} '{path}'"
        problem = file_problem(path)
        if problem is not None:
            raise DatasetError(f"{self.kind}: '{path}' is {problem}, not a CSV file")
        try:
            text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (Excel) before the header is fine
        except UnicodeDecodeError as error:
            raise DatasetError(f"{self.kind}: '{path}' is not UTF-8 text ({_one_line(error)})") from error
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, None)
        if not header or image_column not in header:
            raise DatasetError(f"{self.kind}: '{path}' needs a header with an '{image_column}' column")
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise DatasetError(f"{self.kind}: '{path}' has the column {duplicates[0]!r} twice in its header")
        column = header.index(image_column)
        self.labels = [name for name in header if name != image_column]
        if not self.labels:
            raise DatasetError(f"{self.kind}: '{path}' has no label columns (one 0/1 column per label)")
        label_columns = [(position, name) for position, name in enumerate(header) if name != image_column]
        self.path = path
        self.rows: list[tuple[Path, list[float]]] = []
        self.lines: list[int] = []
        for row in reader:
            line = reader.line_num
            if not row or not any(cell.strip() for cell in row):
                continue
            where = f"'{path}' line {line}"
            if len(row) != len(header):
                raise DatasetError(f"{self.kind}: {where} has {len(row)} columns, the header {len(header)}")
            values = [self._label(row[position], name, where) for position, name in label_columns]
            file = _check_file(_inside(root, row[column], allow_outside_root, where, self.kind), where, self.kind)
            self.rows.append((file, values))
            self.lines.append(line)
        if not self.rows:
            raise DatasetError(f"{self.kind}: '{path}' has no rows")
        super().__init__(len(self.rows), (image, targets), transforms, {targets: self.labels})

    def _label(self, text: str, name: str, where: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if value not in LABEL_VALUES:  # NaN is in no list
            raise DatasetError(
                f"{self.kind}: {where}, column {name!r}: a label must be 0 or 1 (-1: unknown), got {text!r}"
            )
        return value

    def load(self, index: int) -> dict[str, Any]:
        path, labels = self.rows[index]
        return {self.names[0]: load_image(path, self.kind), self.names[1]: torch.tensor(labels, dtype=torch.float32)}

    def source(self, index: int) -> str:
        return f"'{self.path}' line {self.lines[index]} ('{self.rows[index][0]}')"

    def classes_of(self, index: int) -> dict[str, list[int]]:
        return {self.names[1]: [position for position, value in enumerate(self.rows[index][1]) if value == 1.0]}


def multilabel_csv(
    csv_file: str,
    root: str | None = None,
    image_column: str = "image",
    image_size: int = 64,
    targets: str = "targets",
    image: str = "images",
    augment: AugmentSpec = None,
    allow_outside_root: bool = False,
) -> Dataset:
    """A CSV of image paths (``image_column``, relative to ``root``) and one 0/1 column per label.

    A label may be -1 (unknown: the sample is left out of the task's loss and metrics); anything else
    (2, yes, NaN, empty) is refused with its line. Image paths outside ``root`` (``../x.jpg``, an absolute
    path elsewhere) are refused unless ``allow_outside_root``. A byte-order mark before the header (Excel's
    "CSV UTF-8") is fine. ``class_names`` is ``{targets: the label columns}``.
    """
    path = Path(csv_file)
    return _MultilabelCsv(
        path,
        Path(root) if root else path.parent,
        image_column,
        image,
        targets,
        build_transforms(augment, image_size, "multilabel_csv"),
        allow_outside_root,
    )


class _SegmentationFolder(NamedDataset):
    kind = "segmentation_folder"

    def __init__(
        self,
        images: Path,
        masks: Path,
        image: str,
        targets: str,
        transforms: Any,
        labels: Sequence[str] | None = None,
        num_classes: int | None = None,
    ) -> None:
        _folder(images, self.kind, "images folder")
        self.origin = f"{self.kind} '{images.parent}'"
        _folder(masks, self.kind, "masks folder")
        self.pairs: list[tuple[Path, Path]] = []
        for path in _image_files(images, self.kind):
            mask = masks / f"{path.stem}.png"
            problem = file_problem(mask)
            if problem == "missing":
                raise DatasetError(f"{self.kind}: no mask '{mask}' for image '{path}'")
            if problem is not None:
                raise DatasetError(f"{self.kind}: mask '{mask}' is {problem}, not an image file")
            self.pairs.append((path, mask))
        if not self.pairs:
            raise DatasetError(f"{self.kind}: images folder '{images}' has no images ({', '.join(IMAGE_SUFFIXES)})")
        if labels is not None and num_classes is not None and len(labels) != num_classes:
            raise DatasetConfigError(
                f"{self.kind}: {len(labels)} labels {list(labels)} but num_classes {num_classes} (masks '{masks}')"
            )
        super().__init__(len(self.pairs), (image, targets), transforms, {targets: labels} if labels else None)
        if num_classes is not None:
            self.num_classes[targets] = num_classes

    def load(self, index: int) -> dict[str, Any]:
        path, mask_path = self.pairs[index]
        image = load_image(path, self.kind)
        classes = read_mask(mask_path, self.kind)
        if tuple(classes.shape) != tuple(image.shape[-2:]):
            mask_size, image_size = "×".join(map(str, classes.shape[::-1])), "×".join(map(str, image.shape[:0:-1]))
            raise DatasetError(f"{self.kind}: mask '{mask_path}' is {mask_size} but its image '{path}' is {image_size}")
        return {self.names[0]: image, self.names[1]: classes}

    def source(self, index: int) -> str:
        return f"mask '{self.pairs[index][1]}'"

    def classes_of(self, index: int) -> dict[str, list[int]]:
        values = read_mask(self.pairs[index][1], self.kind).unique().tolist()
        return {self.names[1]: [int(value) for value in values if value != IGNORE_INDEX]}


def segmentation_folder(
    root: str,
    images: str = "images",
    masks: str = "masks",
    image_size: int = 64,
    targets: str = "segmentation",
    image: str = "images",
    augment: AugmentSpec = None,
    labels: list[str] | None = None,
    num_classes: int | None = None,
) -> Dataset:
    """``root/images/x.jpg`` with ``root/masks/x.png`` (class index per pixel; 255 is ignored) → segmentation.

    Masks are resized with nearest neighbours, so class indices stay exact. A missing mask is refused
    when the folder is read; a mask of another size than its image, or not one value per pixel (RGB),
    when it is loaded. ``labels`` names the classes (``class_names`` is ``{targets: labels}``, else
    empty); with ``labels`` or ``num_classes``, a mask value ``>= num_classes`` (other than 255) is
    refused naming the mask.
    """
    base = Path(root)
    return _SegmentationFolder(
        base / images,
        base / masks,
        image,
        targets,
        build_transforms(augment, image_size, "segmentation_folder"),
        labels,
        num_classes,
    )


class _Coco(NamedDataset):
    kind = "coco"

    def __init__(
        self,
        path: Path,
        root: Path,
        kind: str,
        keypoints: bool,
        image: str,
        targets: str,
        transforms: Any,
        allow_outside_root: bool = False,
    ) -> None:
        self.path, self.root, self.target_kind, self.keypoints = path, root, kind, keypoints
        self.origin = f"{self.kind} '{path}'"
        document = self._document(path)
        categories = self._list(document, "categories", required=False)
        names: dict[int, str] = {}
        for position, category in enumerate(categories):
            identifier = self._id(category, f"categories[{position}]")
            if identifier in names:
                raise DatasetError(f"{self.kind}: '{path}' has category id {identifier} twice")
            names[identifier] = str(category.get("name", identifier))
        self.class_of = {category: index for index, category in enumerate(sorted(names))}
        self.images: list[dict[str, Any]] = []
        seen: dict[int, str] = {}
        for position, entry in enumerate(self._list(document, "images")):
            where = f"images[{position}]"
            identifier = self._id(entry, where)
            file_name = entry.get("file_name")
            if not isinstance(file_name, str) or not file_name:
                raise DatasetError(f"{self.kind}: '{path}' {where} (id {identifier}) has no 'file_name'")
            if identifier in seen:
                raise DatasetError(
                    f"{self.kind}: '{path}' has image id {identifier} twice ('{seen[identifier]}' and '{file_name}')"
                )
            seen[identifier] = file_name
            where = f"'{path}' image {identifier}"
            file = _check_file(_inside(root, file_name, allow_outside_root, where, self.kind), where, self.kind)
            self.images.append({**entry, "path": file})
        self.images.sort(key=lambda entry: entry["id"])
        sizes = {entry["id"]: (entry.get("width"), entry.get("height")) for entry in self.images}
        self.annotations: dict[int, list[dict[str, Any]]] = {entry["id"]: [] for entry in self.images}
        for position, annotation in enumerate(self._list(document, "annotations", required=False)):
            checked = self._annotation(annotation, position, sizes)
            if checked is not None:
                self.annotations[checked["image_id"]].append(checked)
        super().__init__(len(self.images), (image, targets), transforms, {targets: [names[i] for i in sorted(names)]})

    def _document(self, path: Path) -> dict[str, Any]:
        problem = file_problem(path)
        if problem is not None:
            raise DatasetError(f"{self.kind}: '{path}' is {problem}, not a COCO JSON file")
        try:
            document = json.loads(path.read_text(encoding="utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DatasetError(f"{self.kind}: '{path}' is not JSON ({_one_line(error)})") from error
        if not isinstance(document, dict):
            raise DatasetError(f"{self.kind}: '{path}' is not a COCO document (a JSON object with 'images')")
        return document

    def _list(self, document: dict[str, Any], key: str, required: bool = True) -> list[dict[str, Any]]:
        value = document.get(key)
        if value is None and not required:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise DatasetError(f"{self.kind}: '{self.path}' needs '{key}': a list of objects")
        return value

    def _id(self, entry: dict[str, Any], where: str) -> int:
        identifier = entry.get("id")
        if not isinstance(identifier, int) or isinstance(identifier, bool):
            raise DatasetError(f"{self.kind}: '{self.path}' {where} has no integer 'id' (got {identifier!r})")
        return identifier

    def _annotation(
        self, annotation: dict[str, Any], position: int, sizes: dict[int, tuple[Any, Any]]
    ) -> dict[str, Any] | None:
        """The annotation checked (``None`` for a crowd region, which is left out)."""
        where = f"'{self.path}' annotation {annotation.get('id', f'[{position}]')}"
        image_id = annotation.get("image_id")
        if image_id not in self.annotations:
            raise DatasetError(f"{self.kind}: {where} is for image id {image_id!r}, which is not among the images")
        category = annotation.get("category_id")
        if category not in self.class_of:
            raise DatasetError(
                f"{self.kind}: {where} (image {image_id}) has category_id {category!r}, "
                f"not among the categories {sorted(self.class_of)}"
            )
        if annotation.get("iscrowd", 0):
            return None
        box = annotation.get("bbox")
        if not (isinstance(box, list) and len(box) == 4 and all(_finite(value) for value in box)):
            raise DatasetError(
                f"{self.kind}: {where} (image {image_id}) needs 'bbox': [x, y, width, height], got {box!r}"
            )
        if box[2] < 0 or box[3] < 0:
            raise DatasetError(f"{self.kind}: {where} (image {image_id}): box {box} has a negative width or height")
        values = annotation.get("keypoints") or []
        if not (isinstance(values, list) and len(values) % 3 == 0 and all(_finite(value) for value in values)):
            raise DatasetError(f"{self.kind}: {where} (image {image_id}): keypoints must be [x, y, visibility, ...]")
        width, height = sizes[image_id]
        if _finite(width) and _finite(height):
            self._check_inside(annotation, float(width), float(height), f"{where} (image {image_id})")
        return annotation

    def _check_inside(self, annotation: dict[str, Any], width: float, height: float, where: str) -> None:
        x, y, box_width, box_height = annotation["bbox"]
        corners = [(x, y), (x + box_width, y + box_height)]
        values = annotation.get("keypoints") or []
        points = [(values[k], values[k + 1]) for k in range(0, len(values), 3) if values[k + 2] > 0]
        for what, coordinates in (("box", corners), ("keypoint", points)):
            for px, py in coordinates:
                inside_x = -BOX_TOLERANCE <= px <= width + BOX_TOLERANCE
                if not (inside_x and -BOX_TOLERANCE <= py <= height + BOX_TOLERANCE):
                    shown = annotation["bbox"] if what == "box" else [px, py]
                    raise DatasetError(
                        f"{self.kind}: {where}: {what} {shown} lies outside the {width:g}×{height:g} image"
                    )

    def load(self, index: int) -> dict[str, Any]:
        entry = self.images[index]
        image = load_image(entry["path"], self.kind)
        height, width = image.shape[-2:]
        declared = (entry.get("width"), entry.get("height"))
        known = _finite(declared[0]) and _finite(declared[1])
        if known and (int(declared[0]), int(declared[1])) != (width, height):  # type: ignore[arg-type]
            raise DatasetError(
                f"{self.kind}: image '{entry['path']}' is {width}×{height}, but '{self.path}' says "
                f"{declared[0]}×{declared[1]} (image {entry['id']})"
            )
        rows = []
        for annotation in self.annotations[entry["id"]]:
            if not known:
                self._check_inside(annotation, width, height, f"'{self.path}' image {entry['id']}")
            label = float(self.class_of[annotation["category_id"]])
            x, y, box_width, box_height = annotation["bbox"]
            if self.target_kind == "boxes":
                rows.append([x, y, x + box_width, y + box_height, label])
            elif self.keypoints and annotation.get("keypoints"):
                values = annotation["keypoints"]
                rows.extend([values[k], values[k + 1], label] for k in range(0, len(values), 3) if values[k + 2] > 0)
            else:
                rows.append([x + box_width / 2, y + box_height / 2, label])
        columns = 5 if self.target_kind == "boxes" else 3
        targets = torch.tensor(rows, dtype=torch.float32).reshape(-1, columns)
        return {self.names[0]: image, self.names[1]: targets}

    def source(self, index: int) -> str:
        entry = self.images[index]
        return f"'{self.path}' image {entry['id']} ('{entry['path']}')"

    def classes_of(self, index: int) -> dict[str, list[int]]:
        annotations = self.annotations[self.images[index]["id"]]
        return {self.names[1]: sorted({self.class_of[annotation["category_id"]] for annotation in annotations})}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def coco(
    annotations: str,
    root: str | None = None,
    kind: str = "boxes",
    keypoints: bool = True,
    image_size: int = 64,
    targets: str | None = None,
    image: str = "images",
    augment: AugmentSpec = None,
    allow_outside_root: bool = False,
) -> Dataset:
    """COCO JSON: ``kind="boxes"`` → ``boxes`` for object_detection; ``kind="points"`` → ``points``.

    For points, each visible keypoint is a point of its object's class (``keypoints=True``),
    otherwise the box centre. Category ids map to classes 0, 1, ... in sorted id order; ``class_names``
    is ``{targets: the category names in that order}``. Refused with the file and the id: duplicate image
    or category ids, annotations of unknown images or categories, boxes of negative size or outside their
    image (by more than a pixel), an image whose size differs from its ``width``/``height``, and
    ``file_name`` paths outside ``root`` unless ``allow_outside_root``. Crowd regions are left out.
    """
    if kind not in ("boxes", "points"):
        raise ConfigError(f"coco: kind must be 'boxes' or 'points', got {kind!r}")
    path = Path(annotations)
    return _Coco(
        path,
        Path(root) if root else path.parent,
        kind,
        keypoints,
        image,
        targets or kind,
        build_transforms(augment, image_size, "coco"),
        allow_outside_root,
    )
