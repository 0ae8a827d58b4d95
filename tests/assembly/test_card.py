"""The model card (README.md): Hugging Face front matter, the body, ``torchbricks card``, the demo model's page."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from tests.helpers.configs import small_config
from torchbricks.assembly import (
    CARD_FILE,
    build_model,
    compare_checksums,
    load_model,
    model_card,
    save_model,
    trained_input,
)
from torchbricks.assembly._card import LATENCY_LABEL, CardSources, card_sources
from torchbricks.cli import main

ROOT = Path(__file__).resolve().parents[2]
DEMO_CARD_PAGE = ROOT / "docs" / "demo-model-card.md"
SECTIONS = (
    "## Tasks and classes",
    "## Input",
    "## Metrics",
    "## Training",
    "## Size and speed",
    "## Graph",
    "## Use it",
)


def front_matter(text: str) -> dict[str, Any]:
    assert text.startswith("---\n")
    block = text[4 : text.index("\n---\n", 4)]
    return yaml.safe_load(block)


def without_measured(text: str) -> str:
    """The card less its one measured line (latency)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith(f"| {LATENCY_LABEL}"))


def classes_config() -> dict[str, Any]:
    config = small_config()
    config["tasks"]["kind"]["class_names"] = ["cat", "dog", "fish"]
    return config


def fake_run(folder: Path, metrics: dict[str, Any]) -> Path:
    """A train run's files (as ``torchbricks train`` writes them) around ``folder/model``."""
    folder.mkdir(parents=True, exist_ok=True)
    train = {
        "model": classes_config(),
        "data": {
            "train": [{"name": "image_folder", "root": "/data/pets/train", "image_size": 32}],
            "validation": [{"name": "image_folder", "root": "/data/pets/val", "image_size": 32}],
            "batch_size": 8,
        },
        "trainer": {"max_steps": 120},
        "optimizer": {"name": "AdamW", "lr": 0.001},
        "scheduler": None,
        "seed": 7,
    }
    (folder / "config.json").write_text(json.dumps(train))
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "run.json").write_text(json.dumps({"steps": 120, "seed": 7, "train_seconds": 3.2}))
    return folder


METRICS = {"kind": {"accuracy": 0.8125, "f1": 0.75}, "seg": {"mean_iou": 0.5}}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = fake_run(tmp_path_factory.mktemp("card") / "run", METRICS)
    torch.manual_seed(0)
    contract = {"size": [32, 32], "resize": "stretch"}
    save_model(build_model(classes_config()), folder / "model", input_contract=contract, run=folder)
    return folder


def test_front_matter_is_yaml_with_the_hugging_face_fields(run: Path) -> None:
    meta = front_matter((run / "model" / CARD_FILE).read_text())
    assert meta["library_name"] == "torchbricks"
    assert {"torchbricks", "image-classification", "image-segmentation", "resnet18"} <= set(meta["tags"])
    assert meta["datasets"] == ["train", "val"]  # the image folders' names
    (entry,) = meta["model-index"]
    assert entry["name"] == "resnet18: kind, seg"
    results = {result["task"]["name"].split()[0]: result for result in entry["results"]}
    assert set(results) == set(METRICS)  # one entry per task, from metrics.json
    assert results["kind"]["task"]["type"] == "image-classification"
    assert results["seg"]["task"]["type"] == "image-segmentation"
    assert results["kind"]["dataset"] == {"name": "val", "type": "image_folder"}
    for task, values in METRICS.items():
        assert {metric["type"]: metric["value"] for metric in results[task]["metrics"]} == values


def test_body_tells_tasks_classes_training_size_and_use(run: Path) -> None:
    text = (run / "model" / CARD_FILE).read_text()
    for section in SECTIONS:
        assert f"\n{section}\n" in text, section
    model = load_model(run / "model")
    parameters = sum(parameter.numel() for parameter in model.parameters())
    assert f"| Parameters | {parameters:,} |" in text
    assert "| kind | image classification | cat, dog, fish |" in text
    assert "| seg | semantic segmentation | 4 classes (indices 0–3; no names recorded) |" in text
    assert "| Steps | 120 |" in text
    assert "| Seed | 7 |" in text
    assert "| Optimizer | AdamW (lr 0.001) |" in text
    assert "Trained on 32 × 32 images" in text
    assert re.search(r"\| GMACs \(batch 1, 3 × 32 × 32\) \| \d+\.\d{3} \|", text)
    assert re.search(rf"\| {re.escape(LATENCY_LABEL)}, median of [345] runs; measured on the saving machine: cpu", text)
    assert "```mermaid\nflowchart LR" in text
    assert "torchbricks predict path/to/this/folder" in text


def test_the_cards_python_example_runs(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (run / "model" / CARD_FILE).read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code.replace("path/to/this/folder", str(run / "model")), "card", "exec"), {})
    assert "kind/class_prediction" in capsys.readouterr().out


def test_gmacs_match_the_published_figure_of_resnet18() -> None:
    """torchvision lists ResNet-18 at 1.81 G(multiply-add)s for one 224 × 224 image; a linear head adds ~0."""
    model = build_model(
        {
            "backbone": {"name": "resnet18", "levels": [5]},
            "tasks": {"kind": {"task": "image_classification", "num_classes": 1000}},
            "input_shape": [3, 224, 224],
        }
    )
    text = model_card(model.config, model, measure=False)
    value = float(re.search(r"\| GMACs \(batch 1, 3 × 224 × 224\) \| (\d+\.\d+) \|", text).group(1))
    assert 1.78 <= value <= 1.86


def test_the_card_is_the_same_for_the_same_model_but_the_measured_latency(run: Path) -> None:
    model = load_model(run / "model")
    sources = card_sources(run)
    first = model_card(model.config, model, sources, measure=False)
    second = model_card(model.config, model, sources, measure=False)
    assert without_measured(first) == without_measured(second)
    assert without_measured(first) == without_measured((run / "model" / CARD_FILE).read_text())


def test_an_optional_figure_that_fails_is_left_out_with_a_note_and_the_save_goes_on(tmp_path: Path) -> None:
    model = build_model(small_config())
    folder = save_model(model, tmp_path / "model", input_contract={"size": [0, 0]})  # no image fits a 0 × 0 input
    text = (folder / CARD_FILE).read_text()
    assert "GMACs not computed: RuntimeError" in text
    assert "Latency not measured: RuntimeError" in text
    assert "| GMACs" not in text
    assert f"| {LATENCY_LABEL}" not in text
    assert compare_checksums(folder).ok
    assert load_model(folder) is not None


def test_a_model_saved_outside_a_train_run_says_what_it_does_not_know(tmp_path: Path) -> None:
    folder = save_model(build_model(small_config()), tmp_path / "model")
    text = (folder / CARD_FILE).read_text()
    assert "Not recorded: the model was saved outside a train run." in text
    assert "No metrics recorded" in text
    assert "model-index" not in front_matter(text)
    assert json.loads((folder / "config.json").read_text())["input"] == {
        "channels": 3,
        "dtype": "float32",
        "resize": "stretch",
        "size": None,
        "value_range": [0.0, 1.0],
    }


def run_cli(*arguments: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(list(arguments))
    return code, out.getvalue()


def test_card_command_takes_the_new_metrics_and_keeps_the_checksums(run: Path, tmp_path: Path) -> None:
    copied = fake_run(tmp_path / "run", METRICS)
    import shutil

    shutil.copytree(run / "model", copied / "model")
    better = copy.deepcopy(METRICS)
    better["kind"]["accuracy"] = 0.9375
    (copied / "metrics.json").write_text(json.dumps(better))
    code, out = run_cli("card", str(copied / "model"), "--no-latency")
    assert code == 0, out
    text = (copied / "model" / CARD_FILE).read_text()
    assert "| kind | accuracy | 0.9375 |" in text
    assert f"| {LATENCY_LABEL}" not in text
    assert compare_checksums(copied / "model").ok  # README.md's line was updated, every other line kept

    elsewhere = tmp_path / "card.md"
    code, _ = run_cli("card", str(copied / "model"), "--output", str(elsewhere), "--no-latency")
    assert code == 0
    assert elsewhere.read_text() == text


def test_card_takes_metrics_from_evaluate(run: Path, tmp_path: Path) -> None:
    evaluation = tmp_path / "evaluation"
    evaluation.mkdir()
    (evaluation / "metrics.json").write_text(json.dumps({"kind": {"accuracy": 0.5}}))
    (evaluation / "evaluation.json").write_text(json.dumps({"data": [{"name": "image_folder", "root": "/d/test"}]}))
    model = load_model(run / "model")
    text = model_card(model.config, model, card_sources(run, evaluation / "metrics.json"), measure=False)
    (entry,) = front_matter(text)["model-index"]
    assert entry["results"] == [
        {
            "task": {"type": "image-classification", "name": "kind (image_classification)"},
            "dataset": {"name": "test", "type": "image_folder"},
            "metrics": [{"type": "accuracy", "value": 0.5, "name": "kind accuracy"}],
        }
    ]
    assert "On image_folder 'test' (`torchbricks evaluate`):" in text


# -- the demo model's card, a page of the docs site ------------------------------------------------------------


def demo_card_sources(page: str) -> tuple[dict[str, Any], CardSources]:
    """The demo's model config and the card's sources as the demo run has them (metrics from the page itself).

    The page is the card of ``torchbricks demo`` (400 steps) or ``torchbricks demo --quick`` (4 steps); its
    Steps row tells which. The datasets are built with two images each (the resolved config is the same; the
    run's counts are put back).
    """
    pytest.importorskip("pytorch_lightning")
    from bag_of_bricks.demo.run import DEMO_TRAIN_CONFIG, QUICK_OVERRIDES
    from torchbricks.training import apply_overrides
    from torchbricks.training._config import plan_training

    steps = int(re.search(r"^\| Steps \| (\d+) \|$", page, re.M).group(1))
    demo = apply_overrides(DEMO_TRAIN_CONFIG, QUICK_OVERRIDES if steps == 4 else ())
    plan = plan_training(demo, ["data.train[0].count=2", "data.validation[0].count=2"])
    settings = json.loads(json.dumps(plan.settings, default=str))  # as the run's config.json holds it
    for split in ("train", "validation"):
        settings["data"][split][0]["count"] = demo["data"][split][0]["count"]
    model_config = {**settings["model"], "input": trained_input(settings, plan.datasets["train"])}
    model_config = json.loads(json.dumps(model_config, sort_keys=True))  # as config.json holds it: tasks sorted
    metrics: dict[str, dict[str, float]] = {}
    for result in front_matter(page)["model-index"][0]["results"]:
        task = result["task"]["name"].split()[0]
        metrics[task] = {metric["type"]: metric["value"] for metric in result["metrics"]}
    run = {"steps": settings["trainer"]["max_steps"], "seed": settings["seed"]}
    sources = CardSources(metrics, settings["data"]["validation"], "the train run's validation data", settings, run)
    return model_config, sources


def test_demo_model_card_page_has_the_front_matter_and_sections() -> None:
    page = DEMO_CARD_PAGE.read_text()
    meta = front_matter(page)
    assert meta["library_name"] == "torchbricks"
    assert meta["datasets"] == ["shapes"]
    results = meta["model-index"][0]["results"]
    assert [result["task"]["type"] for result in results] == [  # centres, segmentation, shapes
        "keypoint-detection",
        "image-segmentation",
        "image-classification",
    ]
    for section in SECTIONS:
        assert f"\n{section}\n" in page, section
    mkdocs = (ROOT / "mkdocs.yml").read_text()
    assert "demo-model-card.md" in mkdocs


@pytest.mark.slow  # builds the demo model and counts its GMACs
def test_demo_model_card_page_is_what_torchbricks_card_writes() -> None:
    """Regenerate: ``torchbricks demo``, then ``torchbricks card demo_output/model --output docs/demo-model-card.md``.

    The test builds the card from the demo's config (no training: weights do not change the card) with the
    page's own metrics, and compares everything but the measured latency.
    """
    page = DEMO_CARD_PAGE.read_text()
    config, sources = demo_card_sources(page)
    model = build_model({key: value for key, value in config.items() if key != "input"}, resolved=True)
    expected = model_card(config, model, sources, measure=False)
    assert without_measured(page) == without_measured(expected)
