"""tonic adapters on files written where and how tonic expects them after download + extraction.

Only tonic's NMNIST needs help: it insists on >= 10,000 .bin files before it believes the archive
was extracted, so that count check (not the archive check) is relaxed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikefa.data import load_dataset
from spikefa.data.events import tonic_data
from spikefa.errors import DataError

from . import fakes

tonic = pytest.importorskip("tonic")


def naive_span_frames(events: np.ndarray, sensor_size: tuple[int, int, int], steps: int) -> np.ndarray:
    """An independent loop: T equal bins over [first, last] event, the last event in bin T - 1."""
    width, height, n_pol = sensor_size
    out = np.zeros((steps, n_pol, height, width), dtype=np.int64)
    t = events["t"].astype(np.float64)
    first, span = t.min(), t.max() - t.min()
    for i in range(len(events)):
        k = 0 if span == 0 else min(int((t[i] - first) * steps // span), steps - 1)
        y = int(events["y"][i]) if "y" in events.dtype.names else 0
        c = int(events["p"][i]) if n_pol > 1 else 0
        out[k, c, y, int(events["x"][i])] += 1
    return np.minimum(out, 255).astype(np.uint8)


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
def test_adapter_counts_every_event_and_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, relaxed_nmnist: None,
    name: str, writer: object, val_size: int, shape: tuple, sizes: dict,
) -> None:  # fmt: skip
    writer(tmp_path)  # type: ignore[operator]
    cache = tmp_path / "cache"
    splits = load_dataset(name, tmp_path, time_steps=4, val_size=val_size, cache_dir=cache, limit=3)
    assert splits.sizes() == sizes and splits.input_shape == shape
    assert splits.x_train.shape[1:] == (4, *shape) and splits.bin_ms > 0
    spec = tonic_data.TONIC_SPECS[name]
    test_set = getattr(tonic.datasets, spec.tonic_class)(save_to=str(tmp_path), train=False)
    events, label = test_set[1]
    np.testing.assert_array_equal(splits.x_test[1].numpy(), naive_span_frames(events, spec.sensor_size, 4))
    assert int(splits.y_test[1]) == int(label)
    for i in range(sizes["test"]):  # every event of every sample lands in a bin, the last one included
        assert int(splits.x_test[i].sum()) == len(test_set[i][0])

    monkeypatch.setattr(tonic_data, "bin_samples", lambda *a, **k: pytest.fail("rebinned: cache not used"))
    again = load_dataset(name, tmp_path, time_steps=4, val_size=val_size, cache_dir=cache, limit=3)
    assert torch.equal(again.x_val, splits.x_val)


def test_validation_holds_every_class_for_pokerdvs(tmp_path: Path) -> None:
    fakes.write_tonic_pokerdvs(tmp_path)
    splits = load_dataset("pokerdvs", tmp_path, time_steps=2, val_size=4, cache_dir=tmp_path / "c")
    assert sorted(splits.y_val.tolist()) == [0, 1, 2, 3] and splits.sizes()["train"] == 16


@pytest.mark.parametrize(
    ("times", "want_bins"),
    [
        ([7_000], {0: 1}),                          # one event: not lost to an empty span
        ([0, 0, 0, 19_999], {0: 3, 3: 1}),          # events at t = 0, and one at the last timestamp
        ([0, 5_000, 10_000, 15_000, 20_000], {0: 1, 1: 1, 2: 1, 3: 2}),  # the last bin is closed
    ],
)
def test_edge_samples_keep_every_event(tmp_path: Path, times: list[int], want_bins: dict[int, int]) -> None:
    fakes.write_tonic_pokerdvs(tmp_path)
    n = len(times)  # replace the first test recording (class "cl") with these events, columns t, x, y, p
    path = tmp_path / "POKERDVS" / "pips_test" / "cl" / "cl0.npy"
    np.save(path, np.stack([np.array(times), np.arange(n) % 35, np.zeros(n, int), np.ones(n, int)], 1))
    test_set = tonic.datasets.POKERDVS(save_to=str(tmp_path), train=False)
    row = next(i for i in range(len(test_set)) if len(test_set[i][0]) == n and test_set[i][1] == 0)
    splits = load_dataset("pokerdvs", tmp_path, time_steps=4, val_size=4, cache_dir=tmp_path / "c")
    per_bin = splits.x_test[row].sum(dim=(1, 2, 3)).tolist()
    assert per_bin == [want_bins.get(k, 0) for k in range(4)] and int(splits.y_test[row]) == 0


def test_data_dir_may_name_the_tonic_folder(tmp_path: Path, relaxed_nmnist: None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPIKEFA_CACHE", str(tmp_path / "spikefa-cache"))
    fakes.write_tonic_nmnist(tmp_path)
    splits = load_dataset("tonic-nmnist", tmp_path / "NMNIST", time_steps=2, val_size=5, limit=1)
    assert splits.sizes() == {"train": 1, "val": 1, "test": 1}
    assert list((tmp_path / "spikefa-cache").glob("tonic-nmnist-*.npz"))


def test_missing_files_say_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"dvsgesture: missing .*DVSGesture/ibmGestureTrain\.tar\.gz; .*"
                       r"tonic\.datasets\.DVSGesture\(save_to=") as info:  # fmt: skip
        load_dataset("dvsgesture", tmp_path, time_steps=25)
    assert "\n" not in str(info.value)
