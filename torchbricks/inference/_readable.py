"""What a person reads from each task's outputs: class names and scores, points and boxes in the original image.

A task is found by the name its head writes (:func:`torchbricks.features.task_predictions`); its class names
come from its config (``class_names``), else from its visualizer (the names it draws), else are the class
indices as text. :class:`TaskReader` turns one image's outputs into a JSON-ready dict:

* classification: ``{"class": "cat", "score": 0.93, "top_k": [{"class": "cat", "score": 0.93}, ...]}``
* multi-label: ``{"labels": [{"class": "circle", "score": 0.88}, ...]}`` (the present ones, best first)
* segmentation: ``{"mask": <file or array>, "class_shares": {"background": 0.81, "circle": 0.19}}``
  (the mask has the original image's size, resized with nearest neighbours; shares of its pixels)
* points: ``{"points": [{"x": 12.5, "y": 40.0, "class": "circle", "score": 0.9}, ...]}``
* boxes: ``{"boxes": [{"box": [x1, y1, x2, y2], "class": "dog", "score": 0.8}, ...]}``

Points and boxes are in the original image's pixels, clipped to it. Pixels are rounded to 2 decimals,
scores and shares to 4.

Example:
    >>> import numpy as np
    >>> reader = TaskReader(
    ...     "animal", "classification", "animal/class_prediction", "animal/probabilities", ["cat", "dog"]
    ... )
    >>> reader.read({"animal/class_prediction": np.array(1), "animal/probabilities": np.array([0.2, 0.8])},
    ...             scale=(1.0, 1.0), original=(8, 8), top_k=1)[0]
    {'class': 'dog', 'score': 0.8}
    >>> points = TaskReader("centres", "points", "centres/points", None, ["circle"])
    >>> points.read({"centres/points": np.array([[10.0, 4.0, 0.0, 0.9], [-1, -1, -1, -1]])},
    ...             scale=(2.0, 0.5), original=(16, 32), top_k=1)[0]
    {'points': [{'x': 20.0, 'y': 2.0, 'class': 'circle', 'score': 0.9}]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from torchbricks.features import (
    CLASSIFICATION,
    MULTILABEL,
    POINTS,
    SCORES_OUTPUT,
    SEGMENTATION,
    task_predictions,
)
from torchbricks.groups import MODEL


@dataclass(frozen=True)
class TaskReader:
    """Reads one task's prediction (``prediction``, and ``scores`` for the classifications) for one image."""

    task: str
    kind: str
    prediction: str
    scores: str | None
    class_names: Sequence[str]

    @property
    def output_names(self) -> tuple[str, ...]:
        """The model outputs this reader needs."""
        return (self.prediction,) if self.scores is None else (self.prediction, self.scores)

    def name(self, index: int) -> str:
        """The class name of ``index`` (the index as text past the known names)."""
        return self.class_names[index] if 0 <= index < len(self.class_names) else str(index)

    def read(
        self, outputs: Mapping[str, np.ndarray], scale: tuple[float, float], original: tuple[int, int], top_k: int
    ) -> tuple[dict[str, Any], np.ndarray]:
        """``(readable dict, the prediction in original pixels)`` for one image; ``original`` is ``(H, W)``.

        The second value is what the task's visualizer draws on the original image (a mask resized, points
        and boxes scaled); for segmentation the dict's ``mask`` is that array too, until a caller writes it.
        """
        prediction = np.asarray(outputs[self.prediction])
        if self.kind == CLASSIFICATION:
            return self._classification(prediction, np.asarray(outputs[self.scores]), top_k), prediction
        if self.kind == MULTILABEL:
            return self._multilabel(prediction, np.asarray(outputs[self.scores])), prediction
        if self.kind == SEGMENTATION:
            mask = resize_mask(prediction, original)
            return {"mask": mask, "class_shares": self._shares(mask)}, mask
        columns = 2 if self.kind == POINTS else 4
        mapped = scale_coordinates(prediction, scale, original, columns)
        rows = mapped[mapped[:, columns] >= 0] if mapped.size else mapped
        key = "points" if self.kind == POINTS else "boxes"
        return {key: [self._located(row, columns) for row in rows]}, mapped

    def _classification(self, prediction: np.ndarray, scores: np.ndarray, top_k: int) -> dict[str, Any]:
        index = int(prediction.reshape(-1)[0])
        readable: dict[str, Any] = {"class": self.name(index), "score": _score(scores[index])}
        if top_k > 1:
            best = np.argsort(-scores, kind="stable")[:top_k]
            readable["top_k"] = [{"class": self.name(int(i)), "score": _score(scores[i])} for i in best]
        return readable

    def _multilabel(self, present: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
        indices = [int(index) for index in np.flatnonzero(present > 0)]
        indices.sort(key=lambda index: -float(scores[index]))
        return {"labels": [{"class": self.name(index), "score": _score(scores[index])} for index in indices]}

    def _shares(self, mask: np.ndarray) -> dict[str, float]:
        counts = np.bincount(mask.reshape(-1).astype(np.int64).clip(min=0))
        total = max(int(mask.size), 1)
        return {self.name(index): round(int(count) / total, 4) for index, count in enumerate(counts) if count}

    def _located(self, row: np.ndarray, columns: int) -> dict[str, Any]:
        kind, score = int(row[columns]), _score(row[columns + 1]) if len(row) > columns + 1 else None
        located: dict[str, Any]
        if columns == 2:
            located = {"x": round(float(row[0]), 2), "y": round(float(row[1]), 2)}
        else:
            located = {"box": [round(float(value), 2) for value in row[:4]]}
        located["class"] = self.name(kind)
        if score is not None:
            located["score"] = score
        return located


def _score(value: Any) -> float:
    return round(float(value), 4)


def resize_mask(mask: np.ndarray, original: tuple[int, int]) -> np.ndarray:
    """A class map ``[h, w]`` at ``original`` ``(H, W)`` with nearest neighbours (pixel centres: ``nearest-exact``)."""
    if tuple(mask.shape[-2:]) == tuple(original):
        return np.ascontiguousarray(mask)
    tensor = torch.from_numpy(np.ascontiguousarray(mask)).to(torch.float32)[None, None]
    resized = functional.interpolate(tensor, size=tuple(original), mode="nearest-exact")[0, 0]
    return resized.to(torch.int64).numpy()


def scale_coordinates(
    rows: np.ndarray, scale: tuple[float, float], original: tuple[int, int], columns: int
) -> np.ndarray:
    """Points ``(x, y, class, score)`` or boxes ``(x1, y1, x2, y2, class, score)`` scaled to original pixels.

    Padding rows (class ``< 0``) stay as they are; coordinates are clipped to the original image.
    """
    mapped = np.array(rows, dtype=np.float64, copy=True).reshape(-1, rows.shape[-1]) if rows.size else rows
    if not mapped.size:
        return mapped
    valid = mapped[:, columns] >= 0
    x_factor, y_factor = scale
    height, width = original
    xs = list(range(0, columns, 2))
    ys = list(range(1, columns, 2))
    mapped[np.ix_(valid, xs)] = np.clip(mapped[np.ix_(valid, xs)] * x_factor, 0, width)
    mapped[np.ix_(valid, ys)] = np.clip(mapped[np.ix_(valid, ys)] * y_factor, 0, height)
    return mapped


def task_readers(model: Any, config: Mapping[str, Any] | None = None) -> list[TaskReader]:
    """A reader per task of ``model`` whose head writes a prediction named as :mod:`torchbricks.features` says."""
    outputs = model.output_names({MODEL})
    config_tasks = (config or {}).get("tasks") or {}
    readers = []
    for task, (kind, prediction) in task_predictions(outputs).items():
        scores = f"{task}/{SCORES_OUTPUT}"
        needs_scores = kind in (CLASSIFICATION, MULTILABEL)
        task_config = config_tasks.get(task) if isinstance(config_tasks, Mapping) else None
        readers.append(
            TaskReader(
                task,
                kind,
                prediction,
                scores if needs_scores and scores in outputs else None,
                class_names_of(model, task, prediction, task_config),
            )
        )
    for reader in readers:
        if reader.kind in (CLASSIFICATION, MULTILABEL) and reader.scores is None:
            from torchbricks.errors import PredictError

            raise PredictError(
                f"Task '{reader.task}' writes '{reader.prediction}' but no scores '{reader.task}/{SCORES_OUTPUT}'"
            )
    return readers


def class_names_of(model: Any, task: str, prediction: str, task_config: Any) -> list[str]:
    """The task's ``class_names`` from its config, else those its visualizer draws with, else ``[]`` (indices)."""
    if isinstance(task_config, Mapping):
        names = task_config.get("class_names")
        if isinstance(names, (list, tuple)) and names:
            return [str(name) for name in names]
    for node in model.nodes():
        if prediction in node.inputs:
            drawn = getattr(getattr(node.brick, "model", None), "class_names", None)
            if isinstance(drawn, (list, tuple)) and drawn and all(isinstance(name, str) for name in drawn):
                return list(drawn)
    return []
