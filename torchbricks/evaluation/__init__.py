"""Measure a model on labelled data: its metric bricks (as training's validation), per-class tables, pictures.

* :func:`evaluate` — a model (or a model folder) over a data config; writes ``metrics.json`` in the train
  run's format, ``evaluation.json``, confusion matrices and precision-recall curves (JSON and PNG).
* :func:`evaluation_datasets` — the datasets of a data config, built as a train run builds them.

Needs the ``train`` extra (datasets and the train run's metric functions). ``torchbricks evaluate MODEL
--data CONFIG`` is the command.

Example:
    >>> from torchbricks.evaluation import ConfusionAnalysis
    >>> import torch
    >>> analysis = ConfusionAnalysis(["a", "b"])
    >>> analysis.update(torch.tensor([1, 1]), torch.tensor([1, 0]))
    >>> analysis.document()["total"]
    2
"""

from torchbricks.evaluation._analysis import ConfusionAnalysis, DetectionAnalysis, MultilabelAnalysis, task_analysis
from torchbricks.evaluation._data import evaluation_datasets
from torchbricks.evaluation._evaluate import Evaluation, TaskEvaluation, evaluate, write_evaluation

__all__ = [
    "ConfusionAnalysis",
    "DetectionAnalysis",
    "Evaluation",
    "MultilabelAnalysis",
    "TaskEvaluation",
    "evaluate",
    "evaluation_datasets",
    "task_analysis",
    "write_evaluation",
]
