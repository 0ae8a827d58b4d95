"""Fine-tuning: frozen parts (unfrozen at a step) and a learning rate per part, by the model's part paths.

A part is a brick or a nested collection of the model, named by its path: the assembler's top-level
parts are ``preprocessor``, ``backbone``, ``neck`` and one collection per task (``segmentation``), and
``segmentation/head`` names the brick inside it. A frozen part has ``requires_grad=False`` and stays in
eval mode, so its batch-norm statistics do not change either; its parameters are in the optimizer from
the start (an optimizer skips parameters without gradients), so unfreezing it at a step rebuilds
nothing. ``lr_multipliers`` put each part's parameters in their own parameter group with the learning
rate times the multiplier; a schedule scales each group's own rate (``LambdaLR``, ``warmup_cosine``).

Example:
    >>> from torch import nn
    >>> from torchbricks import BrickCollection, BrickTrainable
    >>> model = BrickCollection({
    ...     "backbone": BrickTrainable(nn.Linear(2, 2), ["x"], ["features"]),
    ...     "task": {"head": BrickTrainable(nn.Linear(2, 1), ["features"], ["./logits"])},
    ... })
    >>> part_paths(model)
    ['backbone', 'task', 'task/head']
    >>> problems = []
    >>> check_part_names(model, {"finetune.freeze[0]": "backbon"}, problems)
    >>> for part in problems[0].split(" Parts: "):
    ...     print(part)
    finetune.freeze[0]: unknown part 'backbon'. Did you mean 'backbone'?
    backbone, task (or a brick in one: task/head)
    >>> groups = parameter_groups(model, {"backbone": 0.1}, base_lr=0.01)
    >>> [(len(group["params"]), group["lr"]) for group in groups]
    [(2, 0.01), (2, 0.001)]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from torchbricks.errors import ConfigError
from torchbricks.names import PATH_SEPARATOR
from torchbricks.suggestions import did_you_mean

FINETUNE_KEYS = ("freeze", "unfreeze_at_step")


def part_paths(collection: torch.nn.Module) -> list[str]:
    """Every brick's and nested collection's path (``backbone``, ``segmentation``, ``segmentation/head``)."""
    return [name.replace(".", PATH_SEPARATOR) for name, _ in _parts(collection)]


def part_module(collection: torch.nn.Module, path: str) -> torch.nn.Module:
    """The brick or nested collection at ``path``; :class:`ConfigError` with a close match for an unknown one."""
    problems: list[str] = []
    check_part_names(collection, {"part": path}, problems, require_parameters=False)
    if problems:
        raise ConfigError(problems[0])
    return collection.get_submodule(path.replace(PATH_SEPARATOR, "."))


def check_part_names(
    collection: torch.nn.Module, named: Mapping[str, Any], problems: list[str], require_parameters: bool = True
) -> None:
    """Append a problem for each part path in ``named`` (config path → part path) the model lacks or cannot train."""
    paths = part_paths(collection)
    for where, path in named.items():
        if not isinstance(path, str) or path not in paths:
            top = [known for known in paths if PATH_SEPARATOR not in known]
            nested = [known for known in paths if PATH_SEPARATOR in known][:1]
            hint = f" (or a brick in one: {nested[0]})" if nested else ""
            close = did_you_mean(str(path), paths if PATH_SEPARATOR in str(path) else top)
            problems.append(f"{where}: unknown part {path!r}.{close} Parts: {', '.join(top)}{hint}")
        elif require_parameters and not _trainable_parameters(part_module(collection, path)):
            problems.append(f"{where}: the part {path!r} has no trainable parameters")


def check_finetune_section(section: Any, problems: list[str], processes: int = 1) -> None:
    """The ``finetune`` section's shape (the part names are checked on the built model: :func:`check_part_names`)."""
    if section is None:
        return
    if not isinstance(section, Mapping):
        problems.append(f"finetune: must be a mapping (freeze: [backbone], unfreeze_at_step: 500), got {section!r}")
        return
    for key in section:
        if key not in FINETUNE_KEYS:
            problems.append(
                f"finetune.{key}: unknown key.{did_you_mean(str(key), FINETUNE_KEYS)} Keys: {', '.join(FINETUNE_KEYS)}"
            )
    freeze = section.get("freeze", [])
    if isinstance(freeze, str):
        freeze = [freeze]
    if not isinstance(freeze, list) or not all(isinstance(path, str) for path in freeze):
        problems.append(f"finetune.freeze: must be a list of part paths ([backbone]), got {freeze!r}")
    step = section.get("unfreeze_at_step")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step <= 0):
        problems.append(f"finetune.unfreeze_at_step: must be a positive number of steps, got {step!r}")
    elif step is not None and not freeze:
        problems.append("finetune.unfreeze_at_step: nothing is frozen (finetune.freeze is empty)")
    elif step is not None and processes > 1:
        problems.append(
            "finetune.unfreeze_at_step: cannot unfreeze under DDP (it registers the parameters that train when the "
            "run starts); train the frozen run and fine-tune from its model in a second run"
        )


def check_lr_multipliers(multipliers: Any, problems: list[str]) -> None:
    """``optimizer.lr_multipliers``: a mapping of part path → a positive finite number."""
    if multipliers is None:
        return
    if not isinstance(multipliers, Mapping):
        problems.append(f"optimizer.lr_multipliers: must be a mapping of part → multiplier, got {multipliers!r}")
        return
    for path, value in multipliers.items():
        number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        if not number or value <= 0:
            problems.append(f"optimizer.lr_multipliers.{path}: must be a positive number, got {value!r}")


def finetune_names(freeze: Sequence[str], lr_multipliers: Mapping[str, Any] | None) -> dict[str, str]:
    """Config path → part path of every part a fine-tuning setting names (for :func:`check_part_names`)."""
    named = {f"finetune.freeze[{index}]": path for index, path in enumerate(freeze)}
    named.update({f"optimizer.lr_multipliers.{path}": path for path in lr_multipliers or {}})
    return named


class FrozenParts:
    """Parts of a model kept frozen (``requires_grad=False``, eval mode) until :meth:`unfreeze`.

    Only parameters that trained are frozen, and only they are unfrozen: a not-trainable brick inside a
    frozen part stays as it was.
    """

    def __init__(self, collection: torch.nn.Module, paths: Iterable[str]) -> None:
        self.modules = [part_module(collection, path) for path in paths]
        self.parameters = [parameter for module in self.modules for parameter in _trainable_parameters(module)]
        self.frozen = False
        self.freeze()

    def freeze(self) -> None:
        for parameter in self.parameters:
            parameter.requires_grad_(False)
        self.frozen = bool(self.modules)
        self.keep_eval()

    def keep_eval(self) -> None:
        """Put the frozen parts back in eval mode (after a ``train()`` of the whole model)."""
        if self.frozen:
            for module in self.modules:
                module.eval()

    def unfreeze(self) -> None:
        """Train the frozen parameters from now on; the parts follow the model's mode again."""
        for parameter in self.parameters:
            parameter.requires_grad_(True)
        self.frozen = False
        for module in self.modules:
            module.train()  # a not-trainable brick inside keeps its model in eval mode itself

    def module_ids(self) -> set[int]:
        """The ids of every module inside the frozen parts (empty once unfrozen)."""
        return {id(inner) for module in self.modules for inner in module.modules()} if self.frozen else set()


def parameter_groups(
    collection: torch.nn.Module,
    lr_multipliers: Mapping[str, float],
    base_lr: float,
    extra: Iterable[torch.nn.Parameter] = (),
) -> list[dict[str, Any]]:
    """Parameter groups: every trainable parameter (and ``extra``) at ``base_lr``, each multiplied part's at its own.

    A parameter belongs to the longest part path that contains it. Each group also holds its
    ``lr_multiplier``; empty groups are left out.
    """
    wanted = {id(parameter) for parameter in extra}
    prefixes = sorted(((path.replace(PATH_SEPARATOR, ".") + ".", path) for path in lr_multipliers), reverse=True)
    members: dict[str | None, list[torch.nn.Parameter]] = {None: [], **{path: [] for path in lr_multipliers}}
    for name, parameter in collection.named_parameters():
        if not (parameter.requires_grad or id(parameter) in wanted):
            continue
        owner = next((path for prefix, path in prefixes if name.startswith(prefix)), None)
        members[owner].append(parameter)
    groups = []
    for path, parameters in members.items():
        multiplier = 1.0 if path is None else float(lr_multipliers[path])
        if parameters:
            groups.append({"params": parameters, "lr": base_lr * multiplier, "lr_multiplier": multiplier})
    return groups


def _parts(collection: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    from torchbricks.bricks import BrickInterface
    from torchbricks.collection import BrickCollection

    found = []
    for name, module in collection.named_modules():
        if name and isinstance(module, BrickInterface | BrickCollection):
            parent = name.rpartition(".")[0]
            if not parent or isinstance(collection.get_submodule(parent), BrickCollection):
                found.append((name, module))
    return found


def _trainable_parameters(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [parameter for parameter in module.parameters() if parameter.requires_grad]
