"""Batching named samples from several datasets: placeholders, padding and per-task ``labelled`` masks."""

from __future__ import annotations

import pytest
import torch

from torchbricks.errors import DatasetConfigError, DatasetError
from torchbricks.training import Collate, collate, combine, labelled_name, placeholders, with_labelled_masks
from torchbricks.training._data import check_num_classes, dataset_class_names, merged_class_names


class Named(torch.utils.data.Dataset):
    def __init__(
        self, samples: list[dict[str, torch.Tensor]], class_names: dict | None = None, origin: str = ""
    ) -> None:
        self.samples = samples
        self.names = tuple(samples[0])
        if class_names is not None:
            self.class_names = class_names
            self.origin = origin

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


def test_combined_datasets_keep_their_class_names() -> None:
    pets = Named(classification(2).samples, {"targets": ["cat", "dog"]}, "pets")
    more = Named(classification(2).samples, {"targets": ["cat", "dog", "fish"]}, "more pets")
    combined = combine([pets, segmentation(2), more])
    assert combined.class_names == {"targets": ["cat", "dog", "fish"]}
    assert dataset_class_names(segmentation(1)) == {}


def test_datasets_naming_classes_differently_are_refused_naming_both() -> None:
    pets = Named(classification(2).samples, {"targets": ["cat", "dog"]}, "pets")
    swapped = Named(classification(2).samples, {"targets": ["dog", "cat"]}, "swapped pets")
    with pytest.raises(DatasetConfigError) as raised:
        combine([pets, swapped])
    assert str(raised.value) == "targets: pets names class 0 'cat', but swapped pets names it 'dog'"
    with pytest.raises(DatasetConfigError):
        merged_class_names([pets, swapped])


def test_num_classes_are_checked_against_the_class_names_datasets_know() -> None:
    pets = Named(classification(2).samples, {"targets": ["cat", "dog"]}, "pets")
    check_num_classes([pets, segmentation(1)], {"targets": 2, "segmentation": 5})
    with pytest.raises(DatasetConfigError) as raised:
        check_num_classes([pets], {"targets": 3})
    assert (
        str(raised.value) == "targets: pets gives 2 classes ['cat', 'dog'], but the task reading it has num_classes 3"
    )


class Broken(torch.utils.data.Dataset):
    names = ("images",)

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        raise DatasetError(f"broken: image 'photos/{index}.jpg' cannot be read")


@pytest.mark.parametrize("workers", [0, 1])
def test_dataset_errors_keep_their_one_line_from_loader_workers(workers: int) -> None:
    loader = torch.utils.data.DataLoader(Broken(), batch_size=2, num_workers=workers, collate_fn=Collate())
    with pytest.raises(DatasetError) as raised:
        next(iter(loader))
    assert str(raised.value) == "broken: image 'photos/0.jpg' cannot be read"
