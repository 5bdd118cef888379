"""tonic adapters on files written where and how tonic expects them after download + extraction.

Only tonic's NMNIST needs help: it insists on >= 10,000 .bin files before it believes the archive
was extracted, so that count check (not the archive check) is relaxed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikefa.data.events import load_event_dataset
from spikefa.data.events import tonic_data
from spikefa.errors import DataError

from . import fakes

tonic = pytest.importorskip("tonic")


@pytest.fixture
def relaxed_nmnist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tonic.datasets.NMNIST, "_check_exists", lambda self: self._is_file_present())


@pytest.mark.parametrize(
    ("name", "writer", "val_size", "shape", "sizes"),
    [
        ("pokerdvs", fakes.write_tonic_pokerdvs, 4, (2, 35, 35), {"train": 3, "val": 3, "test": 3}),
        ("dvsgesture", fakes.write_tonic_dvsgesture, 11, (2, 128, 128), {"train": 3, "val": 3, "test": 3}),
        ("shd", fakes.write_tonic_shd, 2, (1, 1, 700), {"train": 3, "val": 2, "test": 3}),
        ("tonic-nmnist", fakes.write_tonic_nmnist, 5, (2, 34, 34), {"train": 3, "val": 3, "test": 3}),
    ],
)
def test_adapter_bins_with_toframe_and_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relaxed_nmnist: None,
    name: str, writer: object, val_size: int, shape: tuple, sizes: dict,
) -> None:  # fmt: skip
    writer(tmp_path)  # type: ignore[operator]
    cache = tmp_path / "cache"
    splits = load_event_dataset(name, tmp_path, time_steps=4, val_size=val_size, cache_dir=cache, limit=3)
    assert splits.sizes() == sizes and splits.input_shape == shape
    assert splits.x_train.shape[1:] == (4, *shape) and splits.bin_ms > 0
    spec = tonic_data.TONIC_SPECS[name]
    test_set = getattr(tonic.datasets, spec.tonic_class)(save_to=str(tmp_path), train=False)
    events, label = test_set[1]
    frames = tonic.transforms.ToFrame(sensor_size=spec.sensor_size, n_time_bins=4)(events)
    np.testing.assert_array_equal(splits.x_test[1].numpy(), frames.reshape(4, *shape))
    assert int(splits.y_test[1]) == int(label) and splits.x_test.sum() > 0

    monkeypatch.setattr(tonic_data, "bin_samples", lambda *a, **k: pytest.fail("rebinned: cache not used"))
    again = load_event_dataset(name, tmp_path, time_steps=4, val_size=val_size, cache_dir=cache, limit=3)
    assert torch.equal(again.x_val, splits.x_val)


def test_validation_holds_every_class_for_pokerdvs(tmp_path: Path) -> None:
    fakes.write_tonic_pokerdvs(tmp_path)
    splits = load_event_dataset("pokerdvs", tmp_path, time_steps=2, val_size=4, cache_dir=tmp_path / "c")
    assert sorted(splits.y_val.tolist()) == [0, 1, 2, 3] and splits.sizes()["train"] == 16


def test_data_dir_may_name_the_tonic_folder(tmp_path: Path, relaxed_nmnist: None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPIKEFA_CACHE", str(tmp_path / "spikefa-cache"))
    fakes.write_tonic_nmnist(tmp_path)
    splits = load_event_dataset("tonic-nmnist", tmp_path / "NMNIST", time_steps=2, val_size=5, limit=1)
    assert splits.sizes() == {"train": 1, "val": 1, "test": 1}
    assert list((tmp_path / "spikefa-cache").glob("tonic-nmnist-*.npz"))


def test_missing_files_say_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"dvsgesture: missing .*DVSGesture/ibmGestureTrain\.tar\.gz; .*"
                       r"tonic\.datasets\.DVSGesture\(save_to=") as info:  # fmt: skip
        load_event_dataset("dvsgesture", tmp_path)
    assert "\n" not in str(info.value)
