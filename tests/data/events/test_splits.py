"""EventSplits: validation naming the field, sizes, time-major binary batches."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from spikefa.data.events import EventSplits
from spikefa.errors import DataError


def make_splits(**override: object) -> EventSplits:
    gen = torch.Generator().manual_seed(0)
    fields: dict[str, object] = {
        "name": "toy",
        "input_shape": (2, 4, 5),
        "time_steps": 3,
        "bin_ms": 10.0,
        "num_classes": 10,
        "classes": None,
    }
    for split, n in (("train", 6), ("val", 2), ("test", 3)):
        fields[f"x_{split}"] = torch.randint(0, 4, (n, 3, 2, 4, 5), generator=gen, dtype=torch.uint8)
        fields[f"y_{split}"] = torch.randint(0, 10, (n,), generator=gen)
    fields.update(override)
    return EventSplits(**fields)  # type: ignore[arg-type]


def test_sizes_and_batch_time_major() -> None:
    splits = make_splits()
    assert splits.sizes() == {"train": 6, "val": 2, "test": 3}
    index = torch.tensor([4, 1])
    counts = splits.batch("train", index, binary=False)
    assert counts.dtype == torch.float32 and counts.shape == (3, 2, 2, 4, 5)
    torch.testing.assert_close(counts[:, 0], splits.x_train[4].float())
    spikes = splits.batch("train", index)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(spikes, counts.clamp(max=1))


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"x_val": torch.zeros(2, 3, 2, 4, 5)}, "x_val must be uint8"),
        ({"x_test": torch.zeros(3, 4, 2, 4, 5, dtype=torch.uint8)}, "x_test must be uint8 [N, 3, 2, 4, 5]"),
        ({"y_train": torch.zeros(5, dtype=torch.int64)}, "y_train must be int64 [6]"),
        ({"y_val": torch.tensor([0, 10])}, "y_val labels span [0, 10]"),
        ({"time_steps": 0}, "time_steps=0"),
        ({"bin_ms": float("nan")}, "bin_ms=nan"),
        ({"input_shape": (2, 4)}, "input_shape=(2, 4)"),
        ({"classes": ("a", "b")}, "2 class names given"),
    ],
)
def test_validation_names_field(override: dict, fragment: str) -> None:
    with pytest.raises(DataError, match="EventSplits 'toy'") as info:
        make_splits(**override)
    assert fragment in str(info.value)


def test_frozen_and_bad_split_name() -> None:
    splits = make_splits()
    with pytest.raises(dataclasses.FrozenInstanceError):
        splits.time_steps = 4  # type: ignore[misc]
    with pytest.raises(DataError, match="split='dev' unknown"):
        splits.batch("dev", torch.tensor([0]))
