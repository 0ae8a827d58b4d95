"""Dataset adapters: what a train config's ``data.train`` / ``data.validation`` entries name.

Registered in ``pyproject.toml``::

    [project.entry-points."torchbricks.datasets"]
    example_stripes = "torchbricks_example.datasets:example_stripes"

A train config then reads ``data: {train: [{name: example_stripes, count: 64, image_size: 32}]}``: the
entry's other keys are the factory's keyword arguments. The dataset contract (the guide's "Dataset
adapters" section):

- The factory returns a ``torch.utils.data.Dataset`` whose samples are dicts of named tensors: the image,
  uint8 ``[3, H, W]`` RGB in 0–255 (one size for every sample), and the targets of the tasks the data is
  labelled for, under the names the task factories read by default (``targets``: a class index ``[]``
  int64). Take ``image=`` and ``targets=`` arguments so a config can rename them.
- ``names``: the names a sample gives, the image first.
- ``class_names``: ``dict[str, list[str]]``, target name → class names in index order.
- Names a dataset does not give are no concern of the adapter: when several datasets train one model,
  the batching fills them in and tells each task which samples are labelled for it.

Example:
    >>> data = example_stripes(count=4, image_size=8)
    >>> sample = data[1]
    >>> data.names, data.class_names
    (('images', 'targets'), {'targets': ['horizontal', 'vertical']})
    >>> sample["images"].dtype, tuple(sample["images"].shape), int(sample["targets"])
    (torch.uint8, (3, 8, 8), 1)
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

CLASS_NAMES = ("horizontal", "vertical")


class Stripes(Dataset):
    """Generated images of horizontal or vertical stripes (random period, phase and colour), made on access.

    Sample ``index`` is the same for the same ``seed`` (in any process, so DataLoader workers agree), and
    its class is ``index % 2``.
    """

    def __init__(self, count: int, image_size: int, seed: int, targets: str, image: str) -> None:
        if count < 1 or image_size < 4:
            raise ValueError(f"example_stripes needs count >= 1 and image_size >= 4, got {count} and {image_size}")
        self.count, self.image_size, self.seed = count, image_size, seed
        self.names = (image, targets)
        self.class_names = {targets: list(CLASS_NAMES)}

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.count:
            raise IndexError(f"example_stripes has {self.count} samples, asked for {index}")
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
        label = index % 2
        period = int(torch.randint(2, max(3, self.image_size // 2), (), generator=generator))
        phase = int(torch.randint(0, period, (), generator=generator))
        colour = torch.randint(0, 256, (3, 1, 1), generator=generator, dtype=torch.uint8)
        positions = torch.arange(self.image_size)
        stripe = ((positions + phase) // max(1, period // 2)) % 2  # 0/1 along one axis
        mask = stripe.view(1, -1, 1) if label == 0 else stripe.view(1, 1, -1)  # rows (horizontal) or columns
        mask = mask.expand(1, self.image_size, self.image_size).to(torch.bool)
        image = torch.where(mask, colour, 255 - colour)  # a colour and its complement
        return {self.names[0]: image.contiguous(), self.names[1]: torch.tensor(label)}


def example_stripes(
    count: int = 64, image_size: int = 32, seed: int = 0, targets: str = "targets", image: str = "images"
) -> Dataset:
    """Generated stripes, horizontal or vertical (for ``example_classification`` or ``image_classification``).

    Args:
        count: number of images.
        image_size: height and width of every image.
        seed: another seed gives other images (e.g. for validation).
        targets: name of the class index in a sample.
        image: name of the image in a sample.
    """
    return Stripes(count=count, image_size=image_size, seed=seed, targets=targets, image=image)
