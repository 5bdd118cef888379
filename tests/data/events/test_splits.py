"""Splits of kind events: validation naming the field, sizes, time-major binary batches."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from spikefa.data import Splits
from spikefa.errors import DataError


def make_splits(**override: object) -> Splits:
    gen = torch.Generator().manual_seed(0)
    fields: dict[str, object] = {
        "name": "toy",
        "kind": "events",
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
    return Splits(**fields)  # type: ignore[arg-type]


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
        ({"x_val": torch.zeros(2, 3, 2, 4, 5)},
         "x_val = float32 [2, 3, 2, 4, 5] is not allowed; expected uint8 [N, 3, 2, 4, 5] (spike counts)"),
        ({"x_test": torch.zeros(3, 4, 2, 4, 5, dtype=torch.uint8)}, "x_test = uint8 [3, 4, 2, 4, 5] is not allowed; "
                                                                    "expected uint8 [N, 3, 2, 4, 5]"),
        ({"y_train": torch.zeros(5, dtype=torch.int64)}, "y_train = int64 [5] is not allowed; expected int64 [6]"),
        ({"y_val": torch.tensor([0, 10])}, "y_val = labels in [0, 10] is not allowed; expected labels in [0, 9]"),
        ({"time_steps": 0}, "time_steps = 0 is not allowed; expected an integer >= 1"),
        ({"time_steps": None}, "time_steps = None is not allowed; expected an integer >= 1"),
        ({"bin_ms": float("nan")}, "bin_ms = nan is not allowed; expected a finite number"),
        ({"bin_ms": 0.0}, "bin_ms = 0.0 is not allowed; expected a positive number"),
        ({"input_shape": (2, 4)}, "input_shape = [2, 4] is not allowed; expected three positive integers"),
        ({"classes": ("a", "b")}, "classes = ['a', 'b'] is not allowed; expected one name per class"),
        ({"standardized": True}, "standardized = true is not allowed; expected false: event splits are spike counts"),
        ({"kind": "frames"}, "kind = 'frames' is not allowed; expected one of 'images', 'events'"),
    ],
)
def test_validation_names_field(override: dict, fragment: str) -> None:
    with pytest.raises(DataError) as info:
        make_splits(**override)
    kind = override.get("kind", "events")
    assert str(info.value).startswith(f"splits 'toy' ({kind}): {fragment}") and "\n" not in str(info.value)


def test_frozen_and_bad_split_name() -> None:
    splits = make_splits()
    with pytest.raises(dataclasses.FrozenInstanceError):
        splits.time_steps = 4  # type: ignore[misc]
    with pytest.raises(DataError, match="split='dev' unknown"):
        splits.batch("dev", torch.tensor([0]))
