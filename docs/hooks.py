"""MkDocs hooks: the generated parts of the site, and a check of every internal link of the built site.

Registered in ``mkdocs.yml`` under ``hooks:``. Nothing here is hand-written content that can drift:

* ``<!-- generated: NAME -->`` markers in a page are replaced by text made from the code at build time
  (:data:`GENERATORS`): the CLI reference from ``torchbricks.cli.build_parser()``, the API reference
  from ``torchbricks._PUBLIC_BY_MODULE``, the entry-point groups from the registry kinds, the config
  defaults from the assembler, and a model's Mermaid graph from ``torchbricks.to_mermaid``.
* Pictures (``assets/generated/*.png``) are drawn from real runs: a tiny model's
  ``BrickPerImageVisualization`` output and the loss curve of a short training run.
* After the build, every ``href``/``src`` to a page, file or anchor of the site must exist; a dead
  one is logged as a warning, which fails ``mkdocs build --strict``.

The functions take no MkDocs objects except the hook entry points, so the tests call them directly.
"""

from __future__ import annotations

import html.parser
import io
import logging
import os
import posixpath
import re
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger("mkdocs.hooks.torchbricks")

MARKER = re.compile(r"<!-- generated: ([a-z-]+) -->")
GENERATED_FOLDER = "assets/generated"
HELP_WIDTH = "100"

# -- a tiny model, the same one for the graph and the visualization grid ----------------------------------------------

TINY_CONFIG: dict[str, Any] = {
    "backbone": {"name": "resnet18", "levels": [5]},
    "tasks": {
        "shapes": {"task": "multilabel_classification", "num_classes": 3, "targets": "shape_present"},
    },
    "input_shape": [3, 64, 64],
}


def tiny_model() -> Any:
    """The docs' example model: a resnet18 backbone (last level only) and one multi-label task."""
    import torch

    from torchbricks import build_model

    torch.manual_seed(0)
    return build_model(TINY_CONFIG)


# -- generated markdown ---------------------------------------------------------------------------------------------


@contextmanager
def _help_width() -> Any:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = HELP_WIDTH  # argparse wraps help at $COLUMNS: a fixed width, the same text everywhere
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def cli_commands() -> list[str]:
    """Every subcommand of the ``torchbricks`` command, core commands and those installed packs add."""
    import argparse

    from torchbricks.cli import build_parser

    parser = build_parser()
    choices = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction)).choices
    return list(choices)


def cli_reference() -> str:
    """``torchbricks --help`` and each subcommand's ``--help``, from the parser itself."""
    import argparse

    from torchbricks.cli import build_parser

    parts = []
    with _help_width():
        parser = build_parser()
        parts.append(f"## `torchbricks`\n\n```text\n{parser.format_help().rstrip()}\n```\n")
        for name in cli_commands():
            full = build_parser([name])  # loads a pack's command only when it is asked for, like the command line
            action = next(action for action in full._actions if isinstance(action, argparse._SubParsersAction))
            help_text = action.choices[name].format_help().rstrip()
            parts.append(f"## `torchbricks {name}`\n\n```text\n{help_text}\n```\n")
    return "\n".join(parts)


def public_api() -> dict[str, tuple[str, ...]]:
    """Public names by module: the top-level ``torchbricks`` names, then the registry, assembly, CLI, errors."""
    import torchbricks
    import torchbricks.assembly
    import torchbricks.cli
    import torchbricks.errors
    import torchbricks.evaluation
    import torchbricks.inference
    import torchbricks.pretrained
    import torchbricks.registry
    import torchbricks.training

    modules: dict[str, tuple[str, ...]] = dict(torchbricks._PUBLIC_BY_MODULE)
    modules.pop("torchbricks.errors", None)  # all errors are listed below, with their module
    modules["torchbricks.registry"] = tuple(torchbricks.registry.__all__)
    modules["torchbricks.assembly"] = tuple(torchbricks.assembly.__all__)
    modules["torchbricks.cli"] = tuple(torchbricks.cli.__all__)
    modules["torchbricks.training"] = tuple(torchbricks.training.__all__)
    modules["torchbricks.pretrained"] = tuple(torchbricks.pretrained.__all__)
    modules["torchbricks.inference"] = tuple(torchbricks.inference.__all__)
    modules["torchbricks.evaluation"] = tuple(torchbricks.evaluation.__all__)
    errors = [
        name
        for name, value in vars(torchbricks.errors).items()
        if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == "torchbricks.errors"
    ]
    modules["torchbricks.errors"] = tuple(errors)
    return modules


def object_path(module: str, name: str) -> str:
    """Where mkdocstrings finds ``module.name``: the defining module of a lazily re-exported class or function."""
    import importlib
    import inspect

    imported = importlib.import_module(module)
    value = getattr(imported, name)
    if (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__.startswith("torchbricks"):
        return f"{value.__module__}.{value.__qualname__}"
    lazy = getattr(imported, "_PUBLIC", None) or getattr(imported, "_LAZY_ATTRIBUTES", None) or {}
    return f"{lazy.get(name, module)}.{name}"  # a constant of a lazily loading module: where it is assigned


def api_reference() -> str:
    """One section per module, one mkdocstrings block per public name."""
    parts = []
    for module, names in public_api().items():
        parts.append(f"## `{module}`\n")
        parts.append(f"::: {module}\n    options:\n      members: false\n      show_root_heading: false\n")
        parts.extend(f"::: {object_path(module, name)}\n" for name in names)
    return "\n".join(parts)


def entry_point_groups() -> str:
    """A table: each registry kind and the entry-point group a pack lists its bricks under."""
    from torchbricks.cli import COMMAND_GROUP
    from torchbricks.registry import KINDS, OPTIONAL_EXTRAS_GROUP, PLUGIN_GROUP, entry_point_group

    rows = ["| Entry-point group | What it registers |", "| --- | --- |"]
    rows.extend(f'| `{entry_point_group(kind)}` | {kind}: `name = "module:factory"` |' for kind in KINDS)
    rows.append(f"| `{PLUGIN_GROUP}` | a pluggy plugin implementing the hooks below |")
    rows.append(
        f'| `{OPTIONAL_EXTRAS_GROUP}` | optional extras: `extra = "your_package"` (`packs --check` skips bricks '
        "that need only them) |"
    )
    rows.append(f'| `{COMMAND_GROUP}` | a `torchbricks` subcommand: `name = "module:command"` |')
    return "\n".join(rows) + "\n"


def config_defaults() -> str:
    """A table: every top-level config key and its default (``required`` where there is none)."""
    import json

    from torchbricks.assembly import CONFIG_DEFAULTS as DEFAULTS
    from torchbricks.assembly import CONFIG_KEYS

    rows = ["| Key | Default |", "| --- | --- |"]
    for key in CONFIG_KEYS:
        default = f"`{json.dumps(DEFAULTS[key])}`" if key in DEFAULTS else "required" if key != "packs" else "filled in"
        rows.append(f"| `{key}` | {default} |")
    return "\n".join(rows) + "\n"


def mermaid_graph() -> str:
    """The Mermaid flowchart of the docs' tiny model (rendered in the browser by mkdocs-material)."""
    from torchbricks import to_mermaid

    return f"```mermaid\n{to_mermaid(tiny_model()).rstrip()}\n```\n"


GENERATORS: dict[str, Callable[[], str]] = {
    "cli-reference": cli_reference,
    "api-reference": api_reference,
    "entry-point-groups": entry_point_groups,
    "config-defaults": config_defaults,
    "mermaid-graph": mermaid_graph,
}


def expand_markers(markdown: str) -> str:
    """Replace each ``<!-- generated: NAME -->`` with the text of its generator; an unknown name is an error."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"Unknown generated block '{name}'. Known: {', '.join(GENERATORS)}")
        return GENERATORS[name]()

    return MARKER.sub(replace, markdown)


# -- generated pictures ---------------------------------------------------------------------------------------------


def visualization_grid_png() -> bytes:
    """The tiny model's per-image visualizations of eight generated shapes images, as one PNG sheet."""
    import torch
    from PIL import Image

    from bag_of_bricks.shapes import make_shapes_batch

    model = tiny_model().eval()
    with torch.no_grad():
        outputs = model({"images": make_shapes_batch(8, seed=0)["images"]}, groups={"MODEL", "VISUALIZATION"})
    pictures = outputs["shapes/visualization"]
    width, height = pictures[0].size
    sheet = Image.new("RGB", (width * 4, height * 2), "white")
    for index, picture in enumerate(pictures):
        sheet.paste(picture.convert("RGB"), ((index % 4) * width, (index // 4) * height))
    sheet = sheet.resize((sheet.width * 2, sheet.height * 2), Image.NEAREST)
    return _png(sheet)


def small_model() -> Any:
    """A model small enough to train for the docs in seconds: two convolutions and a multi-label task."""
    import torch
    from torch import nn

    from bag_of_bricks.tasks import multilabel_classification
    from torchbricks import BrickCollection, BrickNotTrainable, BrickTrainable

    torch.manual_seed(0)
    encoder = nn.Sequential(
        nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU()
    )
    return BrickCollection(
        {
            "scale": BrickNotTrainable(lambda images: images.float() / 255, ["images"], ["scaled"]),
            "encoder": BrickTrainable(encoder, ["scaled"], ["features"]),
            "shapes": multilabel_classification(3, features="features", in_channels=32, targets="shape_present"),
        }
    )


def training_losses(steps: int = 40, batch_size: int = 16) -> list[float]:
    """The summed loss of each step of a short, seeded training run of :func:`small_model` on generated images."""
    import torch

    from bag_of_bricks.shapes import make_shapes_batch

    model = small_model().train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for step in range(steps):
        batch = make_shapes_batch(batch_size, seed=step, image_size=32)
        total = sum(model.extract_losses(model(batch, groups="train")).values())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        losses.append(total.item())
    model.summarize(reset=True)
    return losses


def training_plot_png(losses: list[float] | None = None) -> bytes:
    """A line plot of :func:`training_losses`, drawn with Pillow (no plotting library needed)."""
    from PIL import Image, ImageDraw

    losses = training_losses() if losses is None else losses
    width, height, margin = 640, 320, 48
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    low, high = min(losses), max(losses)
    span = (high - low) or 1.0

    def point(step: int, loss: float) -> tuple[float, float]:
        x = margin + step * (width - 2 * margin) / max(len(losses) - 1, 1)
        y = height - margin - (loss - low) * (height - 2 * margin) / span
        return x, y

    draw.line([(margin, margin), (margin, height - margin), (width - margin, height - margin)], fill="black")
    draw.line([point(step, loss) for step, loss in enumerate(losses)], fill="#337CCF", width=2)
    draw.text((margin, height - margin + 8), "step 0", fill="black")
    draw.text((width - margin - 40, height - margin + 8), f"step {len(losses) - 1}", fill="black")
    draw.text((4, margin - 16), f"loss {high:.3f}", fill="black")
    draw.text((4, height - margin - 4), f"{low:.3f}", fill="black")
    draw.text((width // 2 - 80, 12), "training loss (small model, generated shapes)", fill="black")
    return _png(image)


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


PICTURES: dict[str, Callable[[], bytes]] = {
    f"{GENERATED_FOLDER}/visualization-grid.png": visualization_grid_png,
    f"{GENERATED_FOLDER}/training-loss.png": training_plot_png,
}


# -- the internal link check ----------------------------------------------------------------------------------------


class _LinkParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for attribute in ("id", "name"):
            if values.get(attribute) and (attribute == "id" or tag == "a"):
                self.ids.add(values[attribute] or "")
        for attribute in ("href", "src"):
            target = values.get(attribute)
            if target and tag in {"a", "img", "script", "link"}:
                self.links.append(target)


def dead_internal_links(site: Path) -> list[str]:
    """Every link of the built ``site`` to a file or anchor of the site that does not exist (``page: link``)."""
    pages: dict[Path, _LinkParser] = {}
    for page in sorted(site.rglob("*.html")):
        parser = _LinkParser()
        parser.feed(page.read_text(encoding="utf-8"))
        pages[page] = parser
    dead = []
    for page, parser in pages.items():
        for link in parser.links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith(("mailto:", "data:", "javascript:")):
                continue
            path = unquote(parts.path)
            base = site if path.startswith("/") else page.parent  # 404.html links from the site's root
            target = page if not path else Path(posixpath.normpath((base / path.lstrip("/")).as_posix()))
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                dead.append(f"{page.relative_to(site)}: {link}")
                continue
            if parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else set()
                if unquote(parts.fragment) not in ids:
                    dead.append(f"{page.relative_to(site)}: {link} (no such anchor)")
    return dead


# -- docstrings as the API reference shows them -------------------------------------------------------------------


_SPHINX_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):`~?([^`]+)`")


def markdown_docstring(text: str) -> str:
    """The project's Google-style docstring as mkdocstrings renders it.

    ``Example:`` becomes ``Examples:`` (griffe parses that section's ``>>>`` lines as code, so their output
    is not read as Markdown) and Sphinx roles (``:func:`name```) become code spans.
    """
    text = re.sub(r"^(\s*)Example:[ \t]*$", r"\1Examples:", text, flags=re.MULTILINE)
    return _SPHINX_ROLE.sub(r"`\1`", text)


try:
    import griffe
except ImportError:  # the hooks' functions are importable without the docs extra (the tests call them)
    pass
else:

    class DocstringConventions(griffe.Extension):
        """A griffe extension (``mkdocs.yml``: ``extensions``) applying :func:`markdown_docstring` to every object."""

        def on_object(self, *, obj: Any, **kwargs: Any) -> None:
            if obj.docstring is not None:
                obj.docstring.value = markdown_docstring(obj.docstring.value)


# -- the MkDocs hooks -----------------------------------------------------------------------------------------------


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pictures to the site, so pages link to them like to any file."""
    from mkdocs.structure.files import File

    for uri, make in PICTURES.items():
        files.append(File.generated(config, uri, content=make()))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Expand the ``<!-- generated: NAME -->`` markers of a page."""
    return expand_markers(markdown)


def on_post_build(config: Any) -> None:
    """Log every dead internal link of the built site as a warning (``--strict`` fails on it)."""
    for dead in dead_internal_links(Path(config["site_dir"])):
        log.warning("Dead internal link in %s", dead)
