"""The image folder ``bench_loader.py`` and ``bench_vs_timm.py`` read: two classes of generated JPEGs.

``write_image_folder(root, per_class, size)`` writes ``root/<split>/{horizontal,vertical}/<i>.jpg``:
``size``×``size`` RGB JPEGs (quality 90, 4:2:0, like most photos; about 20 KiB at 256×256) of
stripes at a random angle — within 30° of horizontal for one class, of vertical for the other — with
random period (12–40 px), phase, two random colours and Gaussian noise (σ = 12), seeded per split, so
every run writes the same files. Splits: ``train`` (``per_class`` images per class) and ``validation``
(``per_class // 4``, at least 8), the layout timm's ``train.py --data-dir`` expects.

Example:
    >>> import tempfile
    >>> root = write_image_folder(Path(tempfile.mkdtemp()), per_class=8, size=32)
    >>> sorted(path.name for path in (root / "train").iterdir()), len(list((root / "train" / "vertical").iterdir()))
    (['horizontal', 'vertical'], 8)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CLASSES = ("horizontal", "vertical")


def striped_image(rng: np.random.Generator, size: int, vertical: bool) -> np.ndarray:
    """One ``size``×``size``×3 uint8 picture of noisy stripes, near vertical or near horizontal."""
    angle = np.deg2rad(rng.uniform(-30, 30) + (90 if vertical else 0))
    period = rng.uniform(12, 40)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    wave = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period + rng.uniform(0, 2 * np.pi))
    light, dark = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    mix = (wave[..., None] + 1) / 2
    picture = mix * light + (1 - mix) * dark + rng.normal(0, 12, (size, size, 3))
    return np.clip(picture, 0, 255).astype(np.uint8)


def write_image_folder(root: Path, per_class: int = 320, size: int = 256) -> Path:
    """Write the ``train`` and ``validation`` splits under ``root`` (see the module docstring); returns ``root``."""
    from PIL import Image

    for seed, (split, count) in enumerate((("train", per_class), ("validation", max(8, per_class // 4)))):
        rng = np.random.default_rng(seed)
        for label, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                picture = striped_image(rng, size, vertical=bool(label))
                Image.fromarray(picture).save(folder / f"{index:05d}.jpg", quality=90)
    return root
