"""Docstrings of the public API: present, Google style, and with a runnable example.

Public names are ``torchbricks.__all__`` (lazy attributes, see ``_PUBLIC_BY_MODULE``), the ``__all__`` of
:mod:`torchbricks.registry`, :mod:`torchbricks.assembly`, :mod:`torchbricks.training` and
:mod:`torchbricks.cli`, and every class defined in :mod:`torchbricks.errors`.

The rules:

* Every public class and callable has a docstring. Constants (other values) are exempt.
* Every public class and function has a runnable example: a ``>>>`` line in its own docstring, or, for
  small helpers, in the docstring of one of its *home modules* (the package that exports it, the module
  ``_PUBLIC_BY_MODULE`` names for it, the module that defines it) where a ``>>>`` or ``...`` line of that
  example uses the name as a whole word. Classes of :mod:`torchbricks.errors` are exempt (a one-line
  docstring is enough for an exception or warning). The docstring carrying the example must belong to a
  ``torchbricks`` module (an object defined elsewhere, such as pluggy's ``hookimpl`` marker, needs the
  module route), so ``pytest --doctest-modules`` runs it.
* Google style only: no NumPy-style underlined section headers (``Parameters`` over ``----------``) and
  no Sphinx fields (``:param x:``, ``:returns:``, ...), neither in the public names' docstrings nor in
  their home modules' docstrings.
"""

from __future__ import annotations

import importlib
import inspect
import re
from types import ModuleType
from typing import Any

import pytest

import torchbricks
import torchbricks.errors

PACKAGES = ("torchbricks.registry", "torchbricks.assembly", "torchbricks.training", "torchbricks.cli")
"""Packages whose ``__all__`` is public API besides ``torchbricks.__all__``."""

NUMPY_HEADER = re.compile(r"^[ \t]*[A-Z][A-Za-z ]*\n[ \t]*-{3,}[ \t]*$", re.M)
SPHINX_FIELD = re.compile(r"^[ \t]*:(param|type|returns?|rtype|raises?|yields?|ivar|cvar|var)\b[^:]*:", re.M)
EXAMPLE_LINE = re.compile(r"^[ \t]*(>>>|\.\.\.)( |$)(?P<code>.*)$", re.M)


def _public_names() -> list[tuple[str, str, Any]]:
    """``(exporting module, name, object)`` of every public name, each pair once."""
    found: dict[tuple[str, str], Any] = {}
    for name in torchbricks.__all__:
        found["torchbricks", name] = getattr(torchbricks, name)
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for name in package.__all__:
            found[package_name, name] = getattr(package, name)
    for name, value in vars(torchbricks.errors).items():
        if inspect.isclass(value) and value.__module__ == torchbricks.errors.__name__:
            found[torchbricks.errors.__name__, name] = value
    return [(module, name, value) for (module, name), value in found.items()]


PUBLIC = _public_names()
DOCUMENTED = [item for item in PUBLIC if inspect.isclass(item[2]) or callable(item[2])]
NEEDS_EXAMPLE = [item for item in DOCUMENTED if item[0] != torchbricks.errors.__name__]


def _ids(items: list[tuple[str, str, Any]]) -> list[str]:
    return [f"{module}.{name}" for module, name, _ in items]


def _home_modules(exported_by: str, name: str, value: Any) -> list[ModuleType]:
    names = [exported_by, torchbricks._LAZY_ATTRIBUTES.get(name) if exported_by == "torchbricks" else None]
    names.append(getattr(value, "__module__", None))
    modules = []
    for module_name in dict.fromkeys(names):
        if module_name and module_name.startswith("torchbricks"):
            modules.append(importlib.import_module(module_name))
    return modules


def _own_example(value: Any) -> bool:
    doc = inspect.getdoc(value) or ""
    return str(getattr(value, "__module__", "")).startswith("torchbricks") and bool(EXAMPLE_LINE.search(doc))


def _module_example_uses(module: ModuleType, name: str) -> bool:
    word = re.compile(rf"\b{re.escape(name)}\b")
    return any(word.search(match["code"]) for match in EXAMPLE_LINE.finditer(module.__doc__ or ""))


def test_public_names_are_found() -> None:
    assert len(NEEDS_EXAMPLE) > 50
    assert ("torchbricks", "BrickCollection") in {(module, name) for module, name, _ in NEEDS_EXAMPLE}


@pytest.mark.parametrize(("exported_by", "name", "value"), DOCUMENTED, ids=_ids(DOCUMENTED))
def test_has_docstring(exported_by: str, name: str, value: Any) -> None:
    assert (inspect.getdoc(value) or "").strip(), f"{exported_by}.{name} has no docstring"


@pytest.mark.parametrize(("exported_by", "name", "value"), NEEDS_EXAMPLE, ids=_ids(NEEDS_EXAMPLE))
def test_has_runnable_example(exported_by: str, name: str, value: Any) -> None:
    if _own_example(value):
        return
    homes = _home_modules(exported_by, name, value)
    assert any(_module_example_uses(module, name) for module in homes), (
        f"{exported_by}.{name}: no `>>>` example in its docstring, nor one using `{name}` in the docstring of "
        f"{', '.join(module.__name__ for module in homes)}"
    )


@pytest.mark.parametrize(("exported_by", "name", "value"), DOCUMENTED, ids=_ids(DOCUMENTED))
def test_google_style(exported_by: str, name: str, value: Any) -> None:
    docs = {f"{exported_by}.{name}": inspect.getdoc(value) or ""}
    for module in _home_modules(exported_by, name, value):
        docs[module.__name__] = inspect.getdoc(module) or ""
    for where, doc in docs.items():
        assert not NUMPY_HEADER.search(doc), f"{where}: NumPy-style section header; use Google style (`Args:`)"
        assert not SPHINX_FIELD.search(doc), f"{where}: Sphinx `:field:`; use Google style (`Args:`, `Returns:`)"


@pytest.mark.parametrize(
    "doc",
    ["Args\n----\nx: a value.", "Parameters\n    ----------\n    x : int", ":param x: a value.", "  :returns: x"],
)
def test_style_checks_catch_non_google(doc: str) -> None:
    assert NUMPY_HEADER.search(doc) or SPHINX_FIELD.search(doc)


def test_style_checks_accept_google() -> None:
    doc = "Sum.\n\nArgs:\n    x: a value.\n\nReturns:\n    The sum.\n\nExample:\n    >>> 1 + 1\n    2\n"
    assert not NUMPY_HEADER.search(doc)
    assert not SPHINX_FIELD.search(doc)
    assert EXAMPLE_LINE.search(doc)
