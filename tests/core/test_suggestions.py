"""Close-match suggestions ignore case, everywhere a name is looked up; lookups themselves stay exact.

A name that differs only in case is suggested (and is the only suggestion); it is never silently
accepted. Each surface is tested with its real lookup: the registries (brick, pack and kind names),
the optimizer and scheduler of a train config, Lightning callbacks.
"""

from __future__ import annotations

import pytest

from torchbricks import registry
from torchbricks.errors import ConfigError, UnknownBrickError, UnknownKindError
from torchbricks.suggestions import close_matches, did_you_mean


def test_a_name_that_differs_only_in_case_is_the_one_suggestion() -> None:
    assert did_you_mean("adamw", ["Adam", "AdamW", "Adamax", "SGD"]) == " Did you mean 'AdamW'?"
    assert close_matches("RESNET18", ["resnet18", "resnet34", "ResNet18"]) == ["ResNet18", "resnet18"]
    assert close_matches("resnet18", ["resnet18", "resnet34"]) == ["resnet18", "resnet34"]  # exact: as before


def test_other_close_matches_are_found_ignoring_case() -> None:
    assert close_matches("ADAMM", ["Adam", "AdamW", "SGD"]) == ["Adam", "AdamW"]
    assert did_you_mean("Segmentation_Hed", ["segmentation_head", "image_classifier"]) == (
        " Did you mean 'segmentation_head'?"
    )
    assert did_you_mean("vgg", ["resnet18"]) == ""


def test_an_unknown_brick_name_suggests_its_case_insensitive_match_and_is_not_accepted() -> None:
    with pytest.raises(UnknownBrickError) as raised:
        registry.get_entry("backbones", "RESNET18")
    assert str(raised.value).startswith("No backbones brick named 'RESNET18'. Did you mean 'resnet18'?")
    with pytest.raises(UnknownBrickError) as raised:
        registry.get_entry("backbones", "torchbricks:RESNET18")
    assert "No backbones brick named 'torchbricks:RESNET18'. Did you mean 'torchbricks:resnet18'?" in str(raised.value)


def test_an_unknown_kind_suggests_its_case_insensitive_match() -> None:
    with pytest.raises(UnknownKindError) as raised:
        registry.normalize_kind("HEADS")
    assert str(raised.value).startswith("Unknown brick kind 'HEADS'. Did you mean 'heads'?")


def test_an_unknown_optimizer_or_scheduler_suggests_its_case_insensitive_match() -> None:
    import torch

    from torchbricks.training._optim import create_optimizer, create_scheduler, name_suggestion

    parameters = [torch.nn.Parameter(torch.zeros(2))]
    with pytest.raises(ConfigError) as raised:
        create_optimizer({"name": "adamw", "lr": 0.1}, parameters)
    assert str(raised.value) == (
        "Unknown optimizer 'adamw' (a torch.optim class name, e.g. 'AdamW'). Did you mean 'AdamW'?"
    )
    optimizer = create_optimizer({"name": "SGD", "lr": 0.1}, parameters)
    with pytest.raises(ConfigError) as raised:
        create_scheduler({"name": "WARMUP_COSINE"}, optimizer, total_steps=4)
    assert str(raised.value) == (
        "Unknown scheduler 'WARMUP_COSINE' (warmup_cosine or a torch.optim.lr_scheduler class name). "
        "Did you mean 'warmup_cosine'?"
    )
    assert name_suggestion("scheduler", "steplr") == " Did you mean 'StepLR'?"
    assert name_suggestion("optimizer", "Optimizer") == ""  # the base class is no suggestion
    assert name_suggestion("optimizer", "nothing_like_it") == ""


def test_an_unknown_callback_suggests_its_case_insensitive_match() -> None:
    from torchbricks.errors import MissingDependencyError
    from torchbricks.training._lightning import lightning

    try:
        lightning()
    except MissingDependencyError:
        pytest.skip("needs the train extra (Lightning)")
    from torchbricks.training._config import check_sections

    problems: list[str] = []
    check_sections({"callbacks": [{"name": "EARLYSTOPPING"}]}, problems)
    (problem,) = [problem for problem in problems if problem.startswith("callbacks[0]")]
    assert problem.startswith(
        "callbacks[0].name: unknown Lightning callback 'EARLYSTOPPING'. Did you mean 'EarlyStopping'?"
    )
