"""Read a factory's summary, signature and declared interface from its source file, without importing it.

Listing bricks must not import torch or a pack's dependencies. For ``module:attr`` entry points this
module finds the module's file, parses it with :mod:`ast` and reads the top-level function or class
``attr``. The file is found on ``sys.path`` without running anything; only modules that a path search
cannot find (e.g. editable installs served by an import hook) fall back to ``importlib.util.find_spec``,
which imports their parent packages.

Example:
    >>> describe_target("torchbricks.registry._kinds:normalize_kind")[0]
    'The registry kind for ``kind``, accepting singular forms (``backbone`` → ``backbones``).'
    >>> describe_target("bag_of_bricks.tasks:semantic_segmentation", "tasks")[2]
    TaskInterface(feature_kind='dense', max_stride=16)
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path

from torchbricks.features import FeatureSpec, TaskInterface

_DECLARE_FEATURES = "declare_features"
_TASK_KIND = "task_kind"
_TASK_KIND_PARAMETERS = ("feature_kind", "max_stride")
_LITERAL_ERRORS = (ValueError, KeyError, TypeError, SyntaxError, RecursionError, MemoryError)


def describe_target(target: str, kind: str | None = None) -> tuple[str, str, FeatureSpec | TaskInterface | None]:
    """``(summary, signature, interface)`` of ``"module:attr"``; empty values where unknown.

    The interface of a task (``kind="tasks"``) is its ``@task_kind(...)``, of any other brick its
    ``@declare_features(...)``, read when the decorator's arguments are valid literals.
    """
    module_name, _, attribute = target.partition(":")
    try:
        node = _definitions(module_name).get(attribute)
        if node is None:
            return "", "", None
        interface = _task_interface(node) if kind == "tasks" else _feature_spec(node)
        return _summary(node), _signature(node), interface
    except Exception:  # a pathological source (too deeply nested to unparse): nothing known without importing
        return "", "", None


def module_problem(module_name: str) -> str | None:
    """Why ``module_name`` cannot be imported, when that is known without running it; else ``None``.

    A module that does not exist, or a parent package that fails to import (when finding the module
    needs importing it), is a broken pack. A parent that lacks a third-party module is not: ``create``
    reports it as a missing dependency.

    Example:
        >>> module_problem("torchbricks.registry._kinds") is None
        True
        >>> module_problem("torchbricks.no_such_module")
        "module 'torchbricks.no_such_module' is not installed"
    """
    spec, error = _find_spec(module_name)
    if error is None:
        return None if spec is not None else f"module '{module_name}' is not installed"
    missing = getattr(error, "name", None) if isinstance(error, ModuleNotFoundError) else None
    if missing and not (module_name == missing or module_name.startswith(f"{missing}.")):
        return None
    return f"importing '{module_name}' failed: {type(error).__name__}: {error}"


def clear_caches() -> None:
    """Forget found and parsed modules (after installing or upgrading packs in a running process)."""
    _find_spec.cache_clear()
    _definitions.cache_clear()


class PluginImportError(ImportError):
    """A parent package raised something other than an ``Exception`` (``SystemExit``) while being found."""


_Definition = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


@functools.lru_cache(maxsize=256)
def _definitions(module_name: str) -> dict[str, _Definition]:
    """The module's top-level functions and classes by name (the last definition wins, as at run time)."""
    tree = _parsed_module(module_name)
    if tree is None:
        return {}
    return {
        node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }


@functools.lru_cache(maxsize=256)
def _find_spec(module_name: str) -> tuple[ModuleSpec | None, Exception | None]:
    """The module's spec, found without importing it or its parents where possible; never raises.

    ``importlib.util.find_spec`` (the fallback) imports the parent packages, and a pack's parent
    package may raise anything.
    """
    spec = _find_spec_on_path(module_name)
    if spec is not None:
        return spec, None
    try:
        return importlib.util.find_spec(module_name), None
    except Exception as error:
        return None, error
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # a parent package that calls sys.exit on import
        return None, PluginImportError(f"{type(error).__name__}: {error}")


def _find_spec_on_path(module_name: str) -> ModuleSpec | None:
    """Search ``sys.path`` (and each package's ``__path__``) for the module without executing any package."""
    search_path = None
    spec = None
    parts = module_name.split(".")
    for index in range(len(parts)):
        name = ".".join(parts[: index + 1])
        module = sys.modules.get(name)
        try:
            if module is not None:  # already imported: its spec and __path__ are authoritative
                spec = getattr(module, "__spec__", None)
                locations = getattr(module, "__path__", None)
            else:
                spec = PathFinder.find_spec(name, search_path)
                locations = spec.submodule_search_locations if spec is not None else None
        except Exception:  # an unusual path entry or finder: let the fallback decide
            return None
        if spec is None or (index < len(parts) - 1 and locations is None):
            return None
        search_path = list(locations) if locations is not None else None
    return spec


def _parsed_module(module_name: str) -> ast.Module | None:
    spec, _ = _find_spec(module_name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        return ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: not UTF-8, null bytes
        return None


def _summary(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    doc = ast.get_docstring(node) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    """The signature as ``str(inspect.signature(...))`` would print it (``self`` dropped for classes)."""
    if isinstance(node, ast.ClassDef):
        init = next((item for item in node.body if isinstance(item, ast.FunctionDef) and item.name == "__init__"), None)
        if init is None:
            return ""
        return f"{_arguments_text(init.args, drop_first=True)} -> {node.name}"  # a class factory returns an instance
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"{_arguments_text(node.args)}{returns}"


def _arguments_text(arguments: ast.arguments, drop_first: bool = False) -> str:
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
    defaults += arguments.defaults
    slash = len(arguments.posonlyargs)
    if drop_first and positional:
        positional, defaults, slash = positional[1:], defaults[1:], max(slash - 1, 0)
    parts = []
    for index, (argument, default) in enumerate(zip(positional, defaults, strict=True)):
        parts.append(_parameter_text(argument, default))
        if index == slash - 1:
            parts.append("/")
    if arguments.vararg is not None:
        parts.append(f"*{_parameter_text(arguments.vararg, None)}")
    elif arguments.kwonlyargs:
        parts.append("*")
    parts += [
        _parameter_text(argument, default)
        for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
    ]
    if arguments.kwarg is not None:
        parts.append(f"**{_parameter_text(arguments.kwarg, None)}")
    return f"({', '.join(parts)})"


def _parameter_text(argument: ast.arg, default: ast.expr | None) -> str:
    if argument.annotation is None:
        return argument.arg if default is None else f"{argument.arg}={ast.unparse(default)}"
    text = f"{argument.arg}: {ast.unparse(argument.annotation)}"
    return text if default is None else f"{text} = {ast.unparse(default)}"


def _decorator_calls(node: _Definition, name: str) -> list[ast.Call]:
    """The decorators ``@name(...)`` or ``@module.name(...)`` of ``node``, outermost (the one that wins) first."""
    calls = []
    for decorator in node.decorator_list:
        if not isinstance(decorator, ast.Call):
            continue
        function = decorator.func
        if (function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")) == name:
            calls.append(decorator)
    return calls


def _task_interface(node: _Definition) -> TaskInterface | None:
    """``@task_kind(feature_kind, max_stride=None)`` with literal, valid arguments; else ``None``."""
    calls = _decorator_calls(node, _TASK_KIND)
    if not calls:
        return None
    decorator = calls[0]
    if len(decorator.args) > len(_TASK_KIND_PARAMETERS):
        return None
    try:
        values = {
            parameter: ast.literal_eval(argument)
            for parameter, argument in zip(_TASK_KIND_PARAMETERS, decorator.args, strict=False)
        }
        for keyword in decorator.keywords:
            if keyword.arg not in _TASK_KIND_PARAMETERS or keyword.arg in values:  # **kwargs, unknown, twice
                return None
            values[keyword.arg] = ast.literal_eval(keyword.value)
        if "feature_kind" not in values:
            return None
        return TaskInterface(values["feature_kind"], values.get("max_stride"))
    except _LITERAL_ERRORS:  # not literals (a starred argument too), or invalid values
        return None


def _feature_spec(node: _Definition) -> FeatureSpec | None:
    for decorator in _decorator_calls(node, _DECLARE_FEATURES):
        try:
            values = {keyword.arg: ast.literal_eval(keyword.value) for keyword in decorator.keywords}
            names, channels, strides = (tuple(values[key]) for key in ("names", "channels", "strides"))
            if not all(isinstance(name, str) for name in names) or not all(
                isinstance(number, int) and not isinstance(number, bool) for number in (*channels, *strides)
            ):
                return None
            return FeatureSpec(names, channels, strides)
        except _LITERAL_ERRORS:
            return None
    return None
