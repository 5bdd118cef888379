"""The offline digits dataset: no files, fixed sizes, same split every time."""

from __future__ import annotations

import torch

from spikefa.data import DATASETS, load_dataset
from spikefa.data.digits import load_digits, split_indices


def test_digits_offline_sizes_and_range() -> None:
    splits = load_dataset("digits")
    assert not DATASETS["digits"].needs_files
    assert splits.sizes() == {"train": 1149, "val": 288, "test": 360}
    assert splits.input_shape == (1, 8, 8) and splits.num_classes == 10
    assert float(splits.x_train.min()) == 0.0 and float(splits.x_train.max()) == 1.0
    assert set(splits.y_test.tolist()) == set(range(10))


def test_digits_split_is_deterministic_and_disjoint() -> None:
    a, b = load_digits(), load_digits()
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(a, f"x_{split}"), getattr(b, f"x_{split}"))
    train, val, test = split_indices(1797, None)
    assert sorted(torch.cat([train, val, test]).tolist()) == list(range(1797))
    other = load_digits(seed=1)
    assert not torch.equal(other.y_test, a.y_test)


def test_digits_val_size_override_keeps_test() -> None:
    base, small = load_digits(), load_dataset("digits", val_size=100)
    assert small.sizes() == {"train": 1337, "val": 100, "test": 360}
    assert torch.equal(small.y_test, base.y_test)
