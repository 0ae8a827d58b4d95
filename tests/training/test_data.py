"""Batching named samples from several datasets: placeholders, padding and per-task ``labelled`` masks."""

from __future__ import annotations

import pytest
import torch

from torchbricks.training import Collate, collate, combine, labelled_name, placeholders, with_labelled_masks


class Named(torch.utils.data.Dataset):
    def __init__(self, samples: list[dict[str, torch.Tensor]]) -> None:
        self.samples = samples
        self.names = tuple(samples[0])

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.samples[index]


def classification(count: int) -> Named:
    return Named([{"images": torch.zeros(3, 4, 4), "targets": torch.tensor(index % 2)} for index in range(count)])


def segmentation(count: int) -> Named:
    return Named([{"images": torch.ones(3, 4, 4), "segmentation": torch.full((4, 4), 2)} for _ in range(count)])


def test_mixed_batch_has_labelled_masks_and_placeholders() -> None:
    datasets = [classification(2), segmentation(2)]
    combined = combine(datasets)
    assert set(combined.names) == {"images", "targets", "segmentation"}
    batch = Collate(placeholders(datasets))([combined[index] for index in range(4)])
    assert batch["images"].shape == (4, 3, 4, 4)
    assert batch[labelled_name("targets")].tolist() == [True, True, False, False]
    assert batch[labelled_name("segmentation")].tolist() == [False, False, True, True]
    assert batch["segmentation"].shape == (4, 4, 4)


def test_a_batch_from_one_dataset_still_has_every_name() -> None:
    datasets = [classification(2), segmentation(2)]
    batch = collate([datasets[0][0], datasets[0][1]], placeholders(datasets))
    assert batch["segmentation"].shape == (2, 4, 4)
    assert batch[labelled_name("segmentation")].tolist() == [False, False]


def test_points_are_padded_with_minus_one_rows() -> None:
    batch = collate([{"points": torch.ones(2, 3)}, {"points": torch.ones(0, 3)}])
    assert batch["points"].shape == (2, 2, 3)
    assert bool((batch["points"][1] == -1).all())


def test_images_of_different_sizes_are_reported() -> None:
    with pytest.raises(ValueError, match="resize"):
        collate([{"images": torch.zeros(3, 4, 4)}, {"images": torch.zeros(3, 5, 5)}])


def test_tasks_with_partial_targets_get_labelled_inputs() -> None:
    config = {
        "tasks": {
            "a": {"targets": "targets"},
            "b": {"targets": "segmentation"},
            "c": {"targets": "x", "labelled": "mine"},
        }
    }
    tasks = with_labelled_masks(config, ["segmentation", "x"])["tasks"]
    assert tasks["a"].get("labelled") is None
    assert tasks["b"]["labelled"] == "segmentation_labelled"
    assert tasks["c"]["labelled"] == "mine"
