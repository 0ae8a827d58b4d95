"""Run a trained model on images: ``predict`` (eager, compiled or ONNX Runtime), outputs a person reads.

* :func:`predict` — images of any size (files, folders, globs, Pillow images, tensors, a dataset) →
  batches resized the way the model was trained → one dict per image: per task class names and scores,
  the present labels, points and boxes in the original image's pixels, a mask of the original size.
* :func:`write_predictions` — the same into a folder: ``predictions.jsonl`` (one line per image,
  streamed), ``errors.jsonl``, ``masks/``, ``pictures/`` (``draw=True``); ``torchbricks predict`` runs it.
* :func:`dataset_from_config` — the images of any registered dataset from a ``--data`` file.
* :data:`BACKENDS` — ``eager``, ``compile``, ``onnx``; :func:`model_input_contract` — the size and value range
  a model folder records for its images.

Example:
    >>> import torch
    >>> from torchbricks import build_model
    >>> model = build_model({"backbone": {"name": "resnet18", "levels": [5]}, "input_shape": [3, 32, 32],
    ...     "tasks": {"animal": {"task": "image_classification", "num_classes": 2, "class_names": ["cat", "dog"]}}})
    >>> [result] = predict(model, [torch.zeros(3, 64, 48, dtype=torch.uint8)], top_k=1)
    >>> sorted(result), sorted(result["tasks"]["animal"])
    (['height', 'image', 'index', 'tasks', 'width'], ['class', 'score'])
"""

from torchbricks.inference._backends import BACKENDS, ONNX_FILE
from torchbricks.inference._contract import InputContract, model_input_contract
from torchbricks.inference._datasets import dataset_from_config
from torchbricks.inference._output import ERRORS_FILE, PREDICTIONS_FILE
from torchbricks.inference._predict import PredictionSummary, predict, write_predictions
from torchbricks.inference._sources import image_suffixes

__all__ = [
    "BACKENDS",
    "ERRORS_FILE",
    "ONNX_FILE",
    "PREDICTIONS_FILE",
    "InputContract",
    "PredictionSummary",
    "dataset_from_config",
    "image_suffixes",
    "model_input_contract",
    "predict",
    "write_predictions",
]
