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

Example:
    >>> data = shapes(count=4, seed=0)
    >>> sample = data[0]
    >>> sorted(sample), sample["images"].shape, data.names[0]
    (['images', 'points', 'segmentation', 'shape_present'], torch.Size([3, 64, 64]), 'images')
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from bag_of_bricks.shapes import make_shapes_batch

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
AugmentSpec = Sequence[str | dict[str, Any]] | None


def build_transforms(augment: AugmentSpec, image_size: int | None) -> Any:
    """A ``transforms.v2.Compose`` of a resize to ``image_size`` and the ``augment`` transforms."""
    from torchvision.transforms import v2

    transforms: list[Any] = [v2.Resize((image_size, image_size), antialias=True)] if image_size else []
    for spec in augment or ():
        arguments = {"name": spec} if isinstance(spec, str) else dict(spec)
        name = arguments.pop("name")
        factory = getattr(v2, name, None)
        if not isinstance(factory, type):
            raise ValueError(f"augment: unknown torchvision.transforms.v2 transform {name!r}")
        transforms.append(factory(**arguments))
    return v2.Compose(transforms) if transforms else None


def read_image(path: Path) -> torch.Tensor:
    """An RGB image file as uint8 ``[3, H, W]``."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        array = np.asarray(image.convert("RGB"), dtype=np.uint8).copy()
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class NamedDataset(Dataset):
    """Samples ``{image: ..., targets: ...}`` read by ``load(index)`` and transformed consistently."""

    def __init__(self, size: int, names: Sequence[str], transforms: Any) -> None:
        self.size = size
        self.names = tuple(names)
        self.transforms = transforms

    def __len__(self) -> int:
        return self.size

    def load(self, index: int) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        return transform_sample(self.load(index), self.names[0], self.transforms)


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

    def __len__(self) -> int:
        return len(self.data["images"])

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = {name: value[index] for name, value in self.data.items()}
        if self.augment:
            sample = dihedral(sample, int(torch.randint(0, 8, ())))
        return sample


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
    """Generated shapes (no files): labels for multi-label classification, segmentation and point detection."""
    return _Shapes(count, seed, image_size, augment)


class _ImageFolder(NamedDataset):
    def __init__(self, root: Path, image: str, targets: str, transforms: Any) -> None:
        self.classes = sorted(path.name for path in root.iterdir() if path.is_dir())
        if not self.classes:
            raise ValueError(f"image_folder: '{root}' has no class folders")
        self.files = [
            (path, index)
            for index, name in enumerate(self.classes)
            for path in sorted((root / name).iterdir())
            if path.suffix.lower() in IMAGE_SUFFIXES
        ]
        super().__init__(len(self.files), (image, targets), transforms)

    def load(self, index: int) -> dict[str, Any]:
        path, label = self.files[index]
        return {self.names[0]: read_image(path), self.names[1]: torch.tensor(label)}


def image_folder(
    root: str, image_size: int = 64, targets: str = "targets", image: str = "images", augment: AugmentSpec = None
) -> Dataset:
    """One folder per class (``root/cat/*.jpg``; classes in sorted order) → ``image_classification``."""
    return _ImageFolder(Path(root), image, targets, build_transforms(augment, image_size))


class _MultilabelCsv(NamedDataset):
    def __init__(self, path: Path, root: Path, image_column: str, image: str, targets: str, transforms: Any) -> None:
        with path.open(newline="") as file:
            rows = list(csv.DictReader(file))
        if not rows or image_column not in rows[0]:
            raise ValueError(f"multilabel_csv: '{path}' needs a header with an '{image_column}' column")
        self.labels = [column for column in rows[0] if column != image_column]
        self.rows = [(root / row[image_column], [float(row[label]) for label in self.labels]) for row in rows]
        super().__init__(len(self.rows), (image, targets), transforms)

    def load(self, index: int) -> dict[str, Any]:
        path, labels = self.rows[index]
        return {self.names[0]: read_image(path), self.names[1]: torch.tensor(labels, dtype=torch.float32)}


def multilabel_csv(
    csv_file: str,
    root: str | None = None,
    image_column: str = "image",
    image_size: int = 64,
    targets: str = "targets",
    image: str = "images",
    augment: AugmentSpec = None,
) -> Dataset:
    """A CSV of image paths (``image_column``, relative to ``root``) and one 0/1 column per label."""
    path = Path(csv_file)
    return _MultilabelCsv(
        path, Path(root) if root else path.parent, image_column, image, targets, build_transforms(augment, image_size)
    )


class _SegmentationFolder(NamedDataset):
    def __init__(self, images: Path, masks: Path, image: str, targets: str, transforms: Any) -> None:
        self.pairs = []
        for path in sorted(images.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                mask = masks / f"{path.stem}.png"
                if not mask.is_file():
                    raise ValueError(f"segmentation_folder: no mask '{mask}' for '{path}'")
                self.pairs.append((path, mask))
        super().__init__(len(self.pairs), (image, targets), transforms)

    def load(self, index: int) -> dict[str, Any]:
        import numpy as np
        from PIL import Image

        path, mask_path = self.pairs[index]
        with Image.open(mask_path) as mask:
            classes = torch.from_numpy(np.asarray(mask, dtype=np.int64).copy())
        return {self.names[0]: read_image(path), self.names[1]: classes}


def segmentation_folder(
    root: str,
    images: str = "images",
    masks: str = "masks",
    image_size: int = 64,
    targets: str = "segmentation",
    image: str = "images",
    augment: AugmentSpec = None,
) -> Dataset:
    """``root/images/x.jpg`` with ``root/masks/x.png`` (class index per pixel; 255 is ignored) → segmentation.

    Masks are resized with nearest neighbours, so class indices stay exact.
    """
    base = Path(root)
    return _SegmentationFolder(base / images, base / masks, image, targets, build_transforms(augment, image_size))


class _Coco(NamedDataset):
    def __init__(self, path: Path, root: Path, kind: str, keypoints: bool, image: str, targets: str, transforms: Any):
        document = json.loads(path.read_text())
        categories = sorted(category["id"] for category in document.get("categories", []))
        self.class_of = {category: index for index, category in enumerate(categories)}
        self.images = sorted(document["images"], key=lambda entry: entry["id"])
        self.annotations: dict[int, list[dict[str, Any]]] = {entry["id"]: [] for entry in self.images}
        for annotation in document.get("annotations", []):
            if not annotation.get("iscrowd", 0):
                self.annotations.setdefault(annotation["image_id"], []).append(annotation)
        self.root, self.kind, self.keypoints = root, kind, keypoints
        super().__init__(len(self.images), (image, targets), transforms)

    def load(self, index: int) -> dict[str, Any]:
        entry = self.images[index]
        rows = []
        for annotation in self.annotations.get(entry["id"], []):
            label = float(self.class_of[annotation["category_id"]])
            x, y, width, height = annotation["bbox"]
            if self.kind == "boxes":
                rows.append([x, y, x + width, y + height, label])
            elif self.keypoints and annotation.get("keypoints"):
                values = annotation["keypoints"]
                rows.extend([values[k], values[k + 1], label] for k in range(0, len(values), 3) if values[k + 2] > 0)
            else:
                rows.append([x + width / 2, y + height / 2, label])
        columns = 5 if self.kind == "boxes" else 3
        targets = torch.tensor(rows, dtype=torch.float32).reshape(-1, columns)
        return {self.names[0]: read_image(self.root / entry["file_name"]), self.names[1]: targets}


def coco(
    annotations: str,
    root: str | None = None,
    kind: str = "boxes",
    keypoints: bool = True,
    image_size: int = 64,
    targets: str | None = None,
    image: str = "images",
    augment: AugmentSpec = None,
) -> Dataset:
    """COCO JSON: ``kind="boxes"`` → ``boxes`` for object_detection; ``kind="points"`` → ``points``.

    For points, each visible keypoint is a point of its object's class (``keypoints=True``),
    otherwise the box centre. Category ids map to classes 0, 1, ... in sorted id order.
    """
    if kind not in ("boxes", "points"):
        raise ValueError(f"coco: kind must be 'boxes' or 'points', got {kind!r}")
    path = Path(annotations)
    return _Coco(
        path,
        Path(root) if root else path.parent,
        kind,
        keypoints,
        image,
        targets or kind,
        build_transforms(augment, image_size),
    )
