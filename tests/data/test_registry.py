"""The dataset registry and the validated DataSplits record."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
import torch

from spikefa.data import DATASETS, DatasetSpec, DataSplits, load_dataset
from spikefa.errors import DataError

from .fakes import write_fake_mnist


def test_registry_names_and_specs() -> None:
    assert list(DATASETS) == ["digits", "mnist", "fashion-mnist", "cifar10"]
    for name, spec in DATASETS.items():
        assert spec.name == name and spec.description
        assert (spec.download is not None) == spec.needs_files


def test_unknown_name_lists_known() -> None:
    with pytest.raises(DataError, match="unknown dataset 'mnsit'; known datasets: digits, mnist"):
        load_dataset("mnsit")


def test_spec_rejects_bad_values() -> None:
    with pytest.raises(DataError, match="not callable"):
        DatasetSpec("x", None, False, None, "")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="needs_files=True"):
        DatasetSpec("x", print, False, DATASETS["mnist"].download, "")  # type: ignore[arg-type]


def test_env_var_reaches_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_fake_mnist(tmp_path / "mnist", n_train=12, n_test=3)
    monkeypatch.setenv("SPIKEFA_DATA", str(tmp_path))
    assert load_dataset("mnist", val_size=2).sizes() == {"train": 10, "val": 2, "test": 3}


def _splits(**changes: object) -> DataSplits:
    x, y = torch.rand(4, 1, 2, 2), torch.tensor([0, 1, 2, 1])
    fields: dict[str, object] = {
        "name": "toy", "x_train": x, "y_train": y, "x_val": x[:0], "y_val": y[:0],
        "x_test": x, "y_test": y, "input_shape": (1, 2, 2), "num_classes": 3,
    }  # fmt: skip
    fields.update(changes)
    return DataSplits(**fields)  # type: ignore[arg-type]


def test_data_splits_frozen_and_valid() -> None:
    splits = _splits()
    assert splits.sizes() == {"train": 4, "val": 0, "test": 4}
    with pytest.raises(FrozenInstanceError):
        splits.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"x_train": torch.rand(4, 1, 2, 2).double()}, "x_train must be float32"),
        ({"x_test": torch.rand(4, 1, 3, 2)}, r"x_test must be float32 \[N, 1, 2, 2\]"),
        ({"y_train": torch.tensor([0, 1, 2])}, "y_train must be int64 \\[4\\]"),
        ({"x_train": torch.full((4, 1, 2, 2), 2.0)}, r"pixel values must lie in \[0, 1\]"),
        ({"y_test": torch.tensor([0, 1, 2, 3])}, r"y_test labels span \[0, 3\], must lie in \[0, 2\]"),
        ({"classes": ("a", "b")}, "2 class names given for num_classes=3"),
        ({"input_shape": (2, 2)}, "three positive ints"),
    ],
)
def test_data_splits_rejects(changes: dict[str, object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        _splits(**changes)
