"""Read a factory's summary, signature and declared features from its source file, without importing it.

Listing bricks must not import torch or a pack's dependencies. For ``module:attr`` entry points this
module finds the module's file (importing only its parent packages), parses it with :mod:`ast` and
reads the top-level function or class ``attr``.

Example:
    >>> describe_target("torchbricks.registry.kinds:normalize_kind")[0]
    'The registry kind for ``kind``, accepting singular forms (``backbone`` → ``backbones``).'
"""

from __future__ import annotations

import ast
import copy
import functools
import importlib.util
from pathlib import Path

from torchbricks.registry.entries import FeatureSpec

_DECLARE_FEATURES = "declare_features"


def describe_target(target: str) -> tuple[str, str, FeatureSpec | None]:
    """``(summary, signature, feature spec)`` of ``"module:attr"``; empty values where unknown."""
    module_name, _, attribute = target.partition(":")
    tree = _parsed_module(module_name)
    if tree is None or not attribute or "." in attribute:
        return "", "", None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == attribute:
            return _summary(node), _signature(node), _feature_spec(node)
    return "", "", None


@functools.lru_cache(maxsize=256)
def _parsed_module(module_name: str) -> ast.Module | None:
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError, AttributeError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        return ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None


def _summary(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    doc = ast.get_docstring(node) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    if isinstance(node, ast.ClassDef):
        init = next((item for item in node.body if isinstance(item, ast.FunctionDef) and item.name == "__init__"), None)
        if init is None:
            return ""
        arguments = copy.copy(init.args)
        if arguments.posonlyargs:  # drop self
            arguments.posonlyargs = arguments.posonlyargs[1:]
        elif arguments.args:
            arguments.args = arguments.args[1:]
        return f"({ast.unparse(arguments)})"
    returns = f" -> {ast.unparse(node.returns)}" if node.returns is not None else ""
    return f"({ast.unparse(node.args)}){returns}"


def _feature_spec(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> FeatureSpec | None:
    for decorator in node.decorator_list:
        if not isinstance(decorator, ast.Call):
            continue
        function = decorator.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        if name != _DECLARE_FEATURES:
            continue
        try:
            values = {keyword.arg: ast.literal_eval(keyword.value) for keyword in decorator.keywords}
            return FeatureSpec(tuple(values["names"]), tuple(values["channels"]), tuple(values["strides"]))
        except (ValueError, KeyError, TypeError, SyntaxError):
            return None
    return None
