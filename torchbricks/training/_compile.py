"""``compile: true``: the collection's training forward (model and losses) under ``torch.compile``.

The metric bricks (torchmetrics state, updated in Python) run eagerly on the compiled forward's outputs;
everything else of the training groups is one compiled function, asked only for the losses and the
names the metrics read. Validation runs eagerly. The first step pays the compile (reported on its own:
:attr:`CompiledTraining.first_step`); when compiling fails (a backend that is not installed, no C
compiler for inductor), one :class:`~torchbricks.errors.CompileFallbackWarning` says why and training
goes on eagerly.

``compile`` takes ``true`` (inductor) or ``{backend: ..., mode: ..., fullgraph: ..., dynamic: ...,
options: {...}}`` (:func:`torch.compile`'s arguments); an unknown backend is a config problem.

Example:
    >>> problems = []
    >>> compile_options({"backend": "aot_eagr"}, problems) is None
    True
    >>> print(problems[0].split(" Backends:")[0])
    compile.backend: unknown backend 'aot_eagr'. Did you mean 'aot_eager'?
    >>> compile_options(True, problems)
    {'backend': 'inductor', 'dynamic': False}
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch

from torchbricks.errors import CompileFallbackWarning
from torchbricks.groups import METRIC, METRIC_EXTRA, resolve_groups
from torchbricks.suggestions import did_you_mean

COMPILE_KEYS = ("backend", "mode", "fullgraph", "dynamic", "options")
MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
DEFAULT_OPTIONS: dict[str, Any] = {"backend": "inductor", "dynamic": False}
"""``dynamic: false``: the training batches have one size (the last incomplete one is dropped)."""


def compile_options(value: Any, problems: list[str]) -> dict[str, Any] | None:
    """The ``torch.compile`` arguments ``compile:`` asks for (``None``: no compiling, or after a problem)."""
    if value is None or value is False:
        return None
    if value is True:
        return dict(DEFAULT_OPTIONS)
    if not isinstance(value, Mapping):
        problems.append(f"compile: must be true, false or {{backend: inductor, mode: ...}}, got {value!r}")
        return None
    before = len(problems)
    for key in value:
        if key not in COMPILE_KEYS:
            hint = did_you_mean(str(key), COMPILE_KEYS)
            problems.append(f"compile.{key}: unknown key.{hint} Keys: {', '.join(COMPILE_KEYS)}")
    backend = value.get("backend", DEFAULT_OPTIONS["backend"])
    if not isinstance(backend, str):
        problems.append(f"compile.backend: must be a backend name (inductor, aot_eager, ...), got {backend!r}")
    else:
        known = backend_names()
        if backend not in known:
            shown = ", ".join(name for name in known if "TESTING" not in name)
            hint = did_you_mean(backend, known)
            problems.append(f"compile.backend: unknown backend {backend!r}.{hint} Backends: {shown}")
    mode = value.get("mode")
    if mode is not None and mode not in MODES:
        hint = did_you_mean(str(mode), MODES)
        problems.append(f"compile.mode: must be one of {', '.join(MODES)}, got {mode!r}.{hint}")
    for key in ("fullgraph", "dynamic"):
        if key in value and value[key] is not None and not isinstance(value[key], bool):
            problems.append(f"compile.{key}: must be true or false, got {value[key]!r}")
    if "options" in value and not isinstance(value["options"], Mapping):
        problems.append(f"compile.options: must be a mapping of backend options, got {value['options']!r}")
    if len(problems) > before:
        return None
    return {**DEFAULT_OPTIONS, **value}


def backend_names() -> list[str]:
    """The ``torch.compile`` backends torch knows (installed or not: one that is not fails when compiling)."""
    import torch._dynamo

    return sorted(torch._dynamo.list_backends(exclude_tags=()))


class CompiledTraining:
    """The training groups of a collection with the model and losses compiled, the metrics run eagerly.

    ``__call__`` returns the named outputs, or ``None`` once compiling failed (the caller runs eagerly);
    the failure is warned once.
    """

    def __init__(self, collection: torch.nn.Module, groups: Any, options: Mapping[str, Any]) -> None:
        selected = resolve_groups(groups)
        selected = frozenset(collection.groups) if selected is None else selected
        self.metric_groups = selected & {METRIC, METRIC_EXTRA}
        compiled_groups = selected - self.metric_groups
        losses = set(collection.graph.loss_names)
        metric_inputs = set(collection.required_inputs(self.metric_groups)) if self.metric_groups else set()
        keep = tuple(
            name
            for name in collection.output_names(compiled_groups)
            if name in losses or name == "loss" or name.endswith("/loss") or name in metric_inputs
        )
        self.collection = collection
        self.options = dict(options)

        def forward(batch: dict[str, Any]) -> dict[str, Any]:
            return collection(batch, groups=compiled_groups, outputs=keep)

        self.compiled: Callable[[dict[str, Any]], dict[str, Any]] | None = torch.compile(forward, **self.options)
        self.failure: str | None = None

    @property
    def backend(self) -> str:
        return str(self.options.get("backend", "inductor"))

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any] | None:
        if self.compiled is None:
            return None
        try:
            outputs = self.compiled(batch)
        except Exception as error:  # a backend that is not installed, no C compiler, a graph it cannot take
            self.compiled = None
            self.failure = fallback_message(self.backend, error)
            warnings.warn(self.failure, CompileFallbackWarning, stacklevel=2)
            return None
        named = {**batch, **outputs}
        if self.metric_groups:
            named = self.collection(named, groups=self.metric_groups)
        return named


def fallback_message(backend: str, error: BaseException) -> str:
    """One line: the backend, what failed (the underlying error's first line), and that training goes on eagerly.

    Example:
        >>> fallback_message("tvm", ImportError("Please install apache-tvm\\nmore"))
        "compile: backend 'tvm' failed (ImportError: Please install apache-tvm); training continues eagerly"
    """
    inner = getattr(error, "inner_exception", None) or error
    lines = [line.strip() for line in str(inner).splitlines() if line.strip() and not line.strip().endswith("raised:")]
    first = lines[0] if lines else ""
    if len(first) > 200:
        first = first[:197] + "..."
    what = f"{type(inner).__name__}: {first}" if first else type(inner).__name__
    return f"compile: backend {backend!r} failed ({what}); training continues eagerly"
