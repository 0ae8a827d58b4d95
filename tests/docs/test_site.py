"""The documentation site: its generated parts follow the code, and ``mkdocs build --strict`` passes
with no dead internal link (``docs/hooks.py`` checks the built site's links and anchors)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = load_hooks()


def test_cli_reference_shows_every_subcommand() -> None:
    reference = hooks.cli_reference()

    commands = hooks.cli_commands()
    assert {"list", "info", "packs", "build", "demo"} <= set(commands)
    sections = {section.split("`", 1)[0]: section for section in reference.split("## `torchbricks ")[1:]}
    assert set(sections) == set(commands)
    for command, section in sections.items():
        assert "usage: torchbricks " in section, command  # an alias (plugins) shows its command's usage (packs)


def test_api_reference_names_every_public_name() -> None:
    import torchbricks

    reference = hooks.api_reference()

    for module, names in torchbricks._PUBLIC_BY_MODULE.items():
        for name in names:
            assert f".{name}\n" in reference, f"{module}.{name}"
    assert "::: torchbricks.registry._api.create\n" in reference
    assert "::: torchbricks.errors.ConfigError\n" in reference


def test_markers_expand_and_unknown_markers_fail() -> None:
    from torchbricks.assembly import CONFIG_KEYS
    from torchbricks.registry import KINDS

    page = hooks.expand_markers("a\n<!-- generated: config-defaults -->\n<!-- generated: entry-point-groups -->\n")

    assert all(f"| `{key}` |" in page for key in CONFIG_KEYS)
    assert all(f"`torchbricks.{kind}`" in page for kind in KINDS)
    with pytest.raises(ValueError, match="Unknown generated block 'no-such-block'"):
        hooks.expand_markers("<!-- generated: no-such-block -->")


def test_config_page_documents_every_config_key() -> None:
    from torchbricks.assembly import CONFIG_KEYS

    page = (ROOT / "docs" / "reference" / "config.md").read_text()

    assert all(f"| `{key}` | " in page for key in CONFIG_KEYS)


def test_mermaid_graph_is_the_models_graph() -> None:
    from torchbricks import to_mermaid

    assert hooks.mermaid_graph() == f"```mermaid\n{to_mermaid(hooks.tiny_model()).rstrip()}\n```\n"


def test_visualization_grid_is_a_png_of_eight_pictures() -> None:
    import io

    from PIL import Image

    data = hooks.visualization_grid_png()

    assert data.startswith(PNG_SIGNATURE)
    assert Image.open(io.BytesIO(data)).size == (4 * 64 * 2, 2 * 64 * 2)


def test_training_plot_is_drawn_from_losses() -> None:
    data = hooks.training_plot_png([1.0, 0.5, 0.25])

    assert data.startswith(PNG_SIGNATURE)


def test_docstring_conventions_for_the_api_reference() -> None:
    text = "Summary.\n\nExample:\n    >>> f([1][0])\n    1\n\nSee :func:`register`."

    assert hooks.markdown_docstring(text) == "Summary.\n\nExamples:\n    >>> f([1][0])\n    1\n\nSee `register`."


def test_dead_internal_links_are_found(tmp_path: Path) -> None:
    (tmp_path / "page").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="page/#here">ok</a><a href="page/#gone">x</a><a href="nowhere/">x</a>'
    )
    (tmp_path / "page" / "index.html").write_text('<h2 id="here">Here</h2><a href="../index.html">up</a>')

    assert hooks.dead_internal_links(tmp_path) == ["index.html: page/#gone (no such anchor)", "index.html: nowhere/"]


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text().split("\nnav:", 1)[1]
    pages = sorted(path.relative_to(ROOT / "docs").as_posix() for path in (ROOT / "docs").rglob("*.md"))

    assert [page for page in pages if f": {page}" not in nav] == []


@pytest.mark.slow
def test_site_builds_strictly(tmp_path: Path) -> None:
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.skip("the docs extra is not installed")
    site = tmp_path / "site"

    result = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )

    assert result.returncode == 0, result.stderr[-4000:]
    assert (site / "reference" / "cli" / "index.html").is_file()
    assert (site / "assets" / "generated" / "visualization-grid.png").read_bytes().startswith(PNG_SIGNATURE)
    assert hooks.dead_internal_links(site) == []
