"""Event datasets through load_dataset: nmnist-synth and real-layout nmnist on generated files, caching,
errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from spikefa.data import DATASETS, load_dataset
from spikefa.data.events import SaccadeConverter, events_to_frames, read_nmnist
from spikefa.data.events import folder as folder_mod
from spikefa.errors import DataError

from ..fakes import write_fake_mnist
from .fakes import write_nmnist_folder


def forbid(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> None:
    """Make `target.name` raise, to prove that a load is served from the cache."""

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{name} called: the cache was not used")

    monkeypatch.setattr(target, name, boom)


def test_registry_lists_datasets_and_rejects_unknown() -> None:
    events = {n for n, spec in DATASETS.items() if spec.kind == "events"}
    assert {"nmnist-synth", "nmnist", "tonic-nmnist", "dvsgesture", "shd", "pokerdvs"} <= events
    assert all(DATASETS[n].description for n in events)
    known = r"unknown dataset 'nmist'; known datasets: .* \(images\); nmnist-synth, nmnist, .* \(events\)"
    with pytest.raises(DataError, match=known):
        load_dataset("nmist", time_steps=5)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"time_steps": 0}, "time_steps = 0 is not allowed; expected an integer >= 1"),
     ({"time_steps": 5, "limit": -1}, "limit = -1 is not allowed; expected an integer >= 1"),
     ({"time_steps": 5, "val_size": 2.5}, "val_size = 2.5 is not allowed; expected an integer"),
     ({"time_steps": 5, "converter": "fast"}, "converter = 'fast' is not allowed; expected a SaccadeConverter")],
)
def test_bad_request_names_argument(kwargs: dict, fragment: str) -> None:
    with pytest.raises(DataError, match="load_dataset\\('nmnist-synth'\\): " + fragment):
        load_dataset("nmnist-synth", **kwargs)


def test_nmnist_synth_converts_bins_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arrays = write_fake_mnist(tmp_path / "mnist", n_train=30, n_test=10)
    cache = tmp_path / "cache"
    splits = load_dataset("nmnist-synth", tmp_path, time_steps=5, val_size=8, cache_dir=cache, limit=3)
    assert splits.sizes() == {"train": 3, "val": 3, "test": 3}
    assert splits.x_train.shape == (3, 5, 2, 34, 34) and splits.input_shape == (2, 34, 34)
    assert splits.bin_ms == pytest.approx(63.0) and splits.classes is not None
    np.testing.assert_array_equal(splits.y_val.numpy(), arrays["train"][1][22:25])
    # sample = converter events binned over the 315 ms recording; val image i has MNIST index 22 + i
    image = torch.from_numpy(arrays["train"][0][22:23, None] / 255.0).float()
    events = SaccadeConverter().convert(image, seed=0, first_index=22)[0]
    want = events_to_frames(events, (34, 34, 2), time_steps=5, duration_us=315_000)
    np.testing.assert_array_equal(splits.x_val[0].numpy(), want)
    assert [p.suffix for p in cache.iterdir()] == [".npz"]  # atomic write left no temporary file

    forbid(monkeypatch, SaccadeConverter, "convert_flat")
    again = load_dataset("nmnist-synth", tmp_path, time_steps=5, val_size=8, cache_dir=cache, limit=3)
    assert torch.equal(again.x_test, splits.x_test) and torch.equal(again.y_train, splits.y_train)
    changes = ({"time_steps": 6}, {"seed": 1}, {"converter": SaccadeConverter(threshold=0.6)}, {"limit": 2})
    for change in changes:
        options = {"time_steps": 5, "val_size": 8, "cache_dir": cache, "limit": 3, **change}
        with pytest.raises(AssertionError, match="cache was not used"):
            load_dataset("nmnist-synth", tmp_path, **options)  # a new setting is a new entry


def test_cache_defaults_to_env_then_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_fake_mnist(tmp_path / "mnist", n_train=12, n_test=4)
    monkeypatch.setenv("SPIKEFA_CACHE", str(tmp_path / "env-cache"))
    load_dataset("nmnist-synth", tmp_path, time_steps=2, val_size=2, limit=1)
    assert len(list((tmp_path / "env-cache").glob("nmnist-synth-*.npz"))) == 1
    monkeypatch.delenv("SPIKEFA_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    load_dataset("nmnist-synth", tmp_path, time_steps=2, val_size=2, limit=1)
    assert len(list((tmp_path / "xdg" / "spikefa" / "events").glob("*.npz"))) == 1
    assert not list(tmp_path.glob("mnist/**/*.npz"))  # the data folder is left alone


def test_real_layout_nmnist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = write_nmnist_folder(tmp_path / "nmnist", per_digit=2)
    splits = load_dataset("nmnist", tmp_path, time_steps=4, val_size=5, cache_dir=tmp_path / "c")
    assert splits.sizes() == {"train": 15, "val": 5, "test": 20}
    # files are ordered by their MNIST index (00001..00020), not digit folder by digit folder
    assert splits.y_val.tolist() == [5, 6, 7, 8, 9] and splits.y_train[:3].tolist() == [0, 1, 2]
    path, _ = written["test"][3]
    want = events_to_frames(read_nmnist(path), (34, 34, 2), time_steps=4, duration_us=315_000)
    np.testing.assert_array_equal(splits.x_test[3].numpy(), want)
    assert splits.bin_ms == pytest.approx(78.75)
    forbid(monkeypatch, folder_mod, "read_nmnist")
    again = load_dataset("nmnist", tmp_path, time_steps=4, val_size=5, cache_dir=tmp_path / "c")
    assert torch.equal(again.x_train, splits.x_train)


def test_missing_data_is_one_line_naming_the_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nmnist: data directory .*nowhere does not exist; download") as info:
        load_dataset("nmnist", tmp_path / "nowhere", time_steps=25)
    assert "\n" not in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no Train/<digit>/\*\.bin files in .*empty"):
        load_dataset("nmnist", tmp_path / "empty", time_steps=25)
    with pytest.raises(DataError, match=r"mnist: data directory .*nowhere does not exist"):
        load_dataset("nmnist-synth", tmp_path / "nowhere", time_steps=25)
