"""SaccadeConverter: determinism, batching independence, saccade geometry, settings, .bin output."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from spikefa.data.events import EVENT_DTYPE, SaccadeConverter, read_nmnist
from spikefa.data.events.dvs import pad_images, saccade_path, shift_bilinear
from spikefa.errors import DataError


def square_images(n: int = 3) -> torch.Tensor:
    """[n, 1, 28, 28]: bright squares (cols/rows 9..18) of different brightness on black."""
    images = torch.zeros(n, 1, 28, 28)
    for i in range(n):
        images[i, 0, 9:19, 9:19] = 1.0 - 0.2 * i
    return images


def test_same_seed_same_events_other_seed_differs() -> None:
    conv, images = SaccadeConverter(), square_images(2)
    a, b, c = conv.convert(images, seed=3), conv.convert(images, seed=3), conv.convert(images, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    assert a[0].dtype == EVENT_DTYPE and np.all(np.diff(a[0]["t"]) >= 0)


def test_events_do_not_depend_on_batching() -> None:
    conv, images = SaccadeConverter(), square_images(3)
    whole = conv.convert(images, seed=1)
    alone = conv.convert(images[2:], seed=1, first_index=2)[0]
    np.testing.assert_array_equal(whole[2], alone)


def test_geometry_three_bursts_on_the_sensor() -> None:
    conv = SaccadeConverter(noise_hz=0.0)
    ev = conv.convert(square_images(1), seed=0)[0]
    assert len(ev) > 500
    assert ev["x"].min() >= 0 and ev["x"].max() <= 33 and ev["y"].min() >= 0 and ev["y"].max() <= 33
    assert 0 <= ev["t"].min() and ev["t"].max() < 315_000
    saccade = ev["t"] // 105_000
    shares = np.bincount(saccade, minlength=3) / len(ev)
    assert np.all((shares > 0.2) & (shares < 0.45)), shares
    near_boundary = (np.abs(ev["t"] - 105_000) < 5_000) | (np.abs(ev["t"] - 210_000) < 5_000)
    assert near_boundary.mean() < 0.03  # the camera rests between saccades (cosine profile)
    # the square (centre 13.5, 13.5) moves by (+3.5, +7), (+3.5, -7), (-7, 0): event centroids follow
    expected = [(13.5 + 1.75, 13.5 + 3.5), (13.5 + 5.25, 13.5 + 3.5), (13.5 + 3.5, 13.5)]
    for k, (cx, cy) in enumerate(expected):
        sel = saccade == k
        assert abs(ev["x"][sel].mean() - cx) < 1.0 and abs(ev["y"][sel].mean() - cy) < 1.0, k


def test_path_ends_back_at_origin() -> None:
    times = torch.tensor([0.0, 105_000, 210_000, 315_000, 400_000])
    path = saccade_path(times, ((3.5, 7.0), (3.5, -7.0), (-7.0, 0.0)), 105_000, "cosine", (1.0, 2.0))
    np.testing.assert_allclose(path.numpy(), [[1, 2], [4.5, 9], [8, 2], [1, 2], [1, 2]])


@pytest.mark.parametrize("offset", [(0.0, 0.0), (2.25, -1.5), (-0.7, 3.4)])
def test_shift_bilinear_matches_naive(offset: tuple[float, float]) -> None:
    img = torch.rand(1, 6, 5, generator=torch.Generator().manual_seed(0))
    got = shift_bilinear(pad_images(img, 12), 12, offset, (9, 8))[0].numpy()
    want = np.zeros((9, 8))
    for yy in range(9):
        for xx in range(8):
            u, v = xx - offset[0], yy - offset[1]
            for r in (math.floor(v), math.floor(v) + 1):
                for c in (math.floor(u), math.floor(u) + 1):
                    if 0 <= r < 6 and 0 <= c < 5:
                        want[yy, xx] += (1 - abs(v - r)) * (1 - abs(u - c)) * float(img[0, r, c])
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"threshold": 0.0}, "threshold = 0.0 is not allowed; expected a finite positive number"),
        ({"dt_us": 0}, "dt_us = 0 is not allowed; expected an integer >= 1"),
        ({"profile": "zigzag"}, "profile = 'zigzag' is not allowed; expected one of 'cosine'"),
        ({"saccade_us": 100_500}, "saccade_us = 100500 is not allowed; expected a multiple of dt_us = 1000"),
        ({"noise_hz": float("nan")}, "noise_hz = nan is not allowed; expected a finite number"),
        ({"saccades": ((1.0,),)}, "saccades = [[1.0]] is not allowed; expected a non-empty list of (dx, dy) pairs"),
        ({"sensor_hw": (34, 0)}, "sensor_hw = [34, 0] is not allowed; expected two positive integers (H, W)"),
        ({"refractory_us": -1}, "refractory_us = -1 is not allowed; expected a finite number >= 0"),
    ],
)
def test_bad_settings_name_key_and_value(kwargs: dict, fragment: str) -> None:
    with pytest.raises(DataError, match="SaccadeConverter") as info:
        SaccadeConverter(**kwargs)
    assert str(info.value).startswith(f"SaccadeConverter: {fragment}") and "\n" not in str(info.value)


def test_settings_and_their_cache_key_are_unchanged_by_validation() -> None:
    """The validated record keeps what the cache keys of converted datasets were made from."""
    assert SaccadeConverter().settings() == {
        "sensor_hw": (34, 34), "origin": (0.0, 0.0), "saccades": [[3.5, 7.0], [3.5, -7.0], [-7.0, 0.0]],
        "saccade_us": 105_000, "profile": "cosine", "dt_us": 1000, "background": 0.1, "threshold": 0.5,
        "threshold_std": 0.05, "min_threshold": 0.05, "refractory_us": 1000, "jitter_us": 100.0, "noise_hz": 0.1,
    }
    assert isinstance(SaccadeConverter().settings()["refractory_us"], int)
    assert SaccadeConverter(refractory_us=500.5).refractory_us == 500.5  # a float dead time, as before


def test_bad_images_rejected() -> None:
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        SaccadeConverter().convert(torch.full((1, 28, 28), 2.0))


def test_write_official_layout_reads_back(tmp_path: Path) -> None:
    conv, images = SaccadeConverter(), square_images(2)
    paths = conv.write(images, tmp_path, labels=[7, 3], seed=5, first_index=10)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["7/00010.bin", "3/00011.bin"]
    for path, ev in zip(paths, conv.convert(images, seed=5, first_index=10), strict=True):
        np.testing.assert_array_equal(read_nmnist(path), ev)


def test_tonic_transforms_accept_our_arrays() -> None:
    transforms = pytest.importorskip("tonic.transforms")
    ev = SaccadeConverter().convert(square_images(1))[0]
    frames = transforms.ToFrame(sensor_size=(34, 34, 2), n_time_bins=4)(ev)
    assert frames.shape == (4, 2, 34, 34) and 0.95 * len(ev) <= frames.sum() <= len(ev)
