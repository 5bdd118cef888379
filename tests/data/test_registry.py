"""The one dataset registry (images and events) and the validated Splits record (images here;
events in tests/data/events/test_splits.py)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
import torch

from spikefa.data import DATASETS, DatasetSpec, Splits, load_dataset
from spikefa.errors import DataError

from .fakes import write_fake_mnist


def test_registry_names_and_specs() -> None:
    assert [n for n, s in DATASETS.items() if s.kind == "images"] == ["digits", "mnist", "fashion-mnist", "cifar10"]
    assert [n for n, s in DATASETS.items() if s.kind == "events"] == [
        "nmnist-synth", "nmnist", "tonic-nmnist", "dvsgesture", "shd", "pokerdvs"]
    for name, spec in DATASETS.items():
        assert spec.name == name and spec.description
        if spec.kind == "images":
            assert (spec.download is not None) == spec.needs_files
        else:  # events: files by hand, and the message says how
            assert spec.needs_files and spec.download is None and spec.how_to_get


def test_unknown_name_lists_known() -> None:
    with pytest.raises(DataError, match="unknown dataset 'mnsit'; known datasets: digits, mnist"):
        load_dataset("mnsit")


def test_spec_rejects_bad_values() -> None:
    with pytest.raises(DataError, match="DatasetSpec 'x': loader = None is not allowed; expected a function"):
        DatasetSpec("x", "images", None, "")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="needs_files = false is not allowed; expected true"):
        DatasetSpec("x", "images", print, "", needs_files=False, download=DATASETS["mnist"].download)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="kind = 'audio' is not allowed; expected one of 'images', 'events'"):
        DatasetSpec("x", "audio", print, "", needs_files=False)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="how_to_get = '' is not allowed"):
        DatasetSpec("x", "events", print, "")  # type: ignore[arg-type]


@pytest.mark.parametrize("option", [{"time_steps": 5}, {"limit": 3}, {"cache_dir": "c"}, {"seed": 1}, {"progress": True}])
def test_image_dataset_refuses_event_options_by_name(option: dict[str, object]) -> None:
    key = next(iter(option))
    with pytest.raises(DataError) as info:
        load_dataset("digits", **option)  # type: ignore[arg-type]
    message = str(info.value)
    assert message.startswith(f"load_dataset('digits'): {key} = ") and "'digits' holds images" in message
    assert "options of event datasets" in message and "\n" not in message


def test_event_dataset_needs_time_steps() -> None:
    with pytest.raises(DataError, match=r"load_dataset\('nmnist'\): time_steps = None is not allowed; "
                                        r"expected an integer >= 1: 'nmnist' holds events"):
        load_dataset("nmnist")


def test_numpy_integers_are_accepted_as_before() -> None:
    import numpy as np

    assert load_dataset("digits", val_size=np.int64(100)).sizes()["val"] == 100


def test_env_var_reaches_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_fake_mnist(tmp_path / "mnist", n_train=12, n_test=3)
    monkeypatch.setenv("SPIKEFA_DATA", str(tmp_path))
    assert load_dataset("mnist", val_size=2).sizes() == {"train": 10, "val": 2, "test": 3}


def _splits(**changes: object) -> Splits:
    x, y = torch.rand(4, 1, 2, 2), torch.tensor([0, 1, 2, 1])
    fields: dict[str, object] = {
        "name": "toy", "kind": "images", "x_train": x, "y_train": y, "x_val": x[:0], "y_val": y[:0],
        "x_test": x, "y_test": y, "input_shape": (1, 2, 2), "num_classes": 3,
    }  # fmt: skip
    fields.update(changes)
    return Splits(**fields)  # type: ignore[arg-type]


def test_data_splits_frozen_and_valid() -> None:
    splits = _splits()
    assert splits.sizes() == {"train": 4, "val": 0, "test": 4}
    with pytest.raises(FrozenInstanceError):
        splits.name = "other"  # type: ignore[misc]
    assert _splits(x_train=torch.full((4, 1, 2, 2), 2.0), standardized=True).standardized  # any values then
    with pytest.raises(DataError, match="have no time axis; index x_train directly"):
        splits.batch("train", torch.tensor([0]))


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"x_train": torch.rand(4, 1, 2, 2).double()},
         r"x_train = float64 \[4, 1, 2, 2\] is not allowed; expected float32 \[N, 1, 2, 2\]"),
        ({"x_test": torch.rand(4, 1, 3, 2)}, r"x_test = float32 \[4, 1, 3, 2\] is not allowed; expected float32 \[N, 1, 2, 2\]"),
        ({"y_train": torch.tensor([0, 1, 2])}, r"y_train = int64 \[3\] is not allowed; expected int64 \[4\]"),
        ({"x_train": torch.full((4, 1, 2, 2), 2.0)},
         r"x_train = values in \[2, 2\] is not allowed; expected pixel values in \[0, 1\]"),
        ({"y_test": torch.tensor([0, 1, 2, 3])}, r"y_test = labels in \[0, 3\] is not allowed; expected labels in \[0, 2\]"),
        ({"classes": ("a", "b")}, r"classes = \['a', 'b'\] is not allowed; expected one name per class \(num_classes = 3\)"),
        ({"input_shape": (2, 2)}, r"input_shape = \[2, 2\] is not allowed; expected three positive integers"),
        ({"time_steps": 3}, "time_steps = 3 is not allowed; expected nothing"),
    ],
)
def test_data_splits_rejects(changes: dict[str, object], match: str) -> None:
    with pytest.raises(DataError, match=r"^splits 'toy' \(images\): " + match):
        _splits(**changes)
