"""events_to_frames and span_frames against naive loops; windows, edges, polarity channels, errors."""

from __future__ import annotations

import numpy as np
import pytest

from spikefa.data.events import events_to_frames, make_events, span_frames
from spikefa.errors import DataError


def random_events(n: int, seed: int, span: int = 300_000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return make_events(
        rng.integers(0, 34, n), rng.integers(0, 30, n), np.sort(rng.integers(0, span, n)), rng.integers(0, 2, n)
    )


def naive_frames(events: np.ndarray, steps: int, duration: float, shape: tuple[int, int, int]) -> np.ndarray:
    n_pol, height, width = shape
    out = np.zeros((steps, n_pol, height, width), dtype=np.int64)
    for x, y, t, p in events.tolist():
        if 0 <= t < duration:
            out[int(t * steps // duration), p if n_pol > 1 else 0, y, x] += 1
    return np.minimum(out, 255).astype(np.uint8)


def test_matches_naive_loop_and_does_not_mutate() -> None:
    ev = random_events(3000, seed=0, span=320_000)
    before = ev.copy()
    got = events_to_frames(ev, (34, 30, 2), time_steps=7, duration_us=315_000)
    assert got.dtype == np.uint8 and got.shape == (7, 2, 30, 34)
    np.testing.assert_array_equal(got, naive_frames(ev, 7, 315_000, (2, 30, 34)))
    np.testing.assert_array_equal(ev, before)
    assert got.sum() == np.sum(ev["t"] < 315_000)  # later events dropped, none lost otherwise


def test_bin_us_equals_duration_and_edges() -> None:
    t = np.array([0, 9_999, 10_000, 30_000])
    ev = make_events(np.array([0, 1, 2, 3]), np.zeros(4, int), t, np.ones(4, int))
    by_bin = events_to_frames(ev, (4, 1, 2), time_steps=3, bin_us=10_000)
    np.testing.assert_array_equal(by_bin, events_to_frames(ev, (4, 1, 2), time_steps=3, duration_us=30_000))
    assert by_bin[0, 1, 0].tolist() == [1, 1, 0, 0] and by_bin[1, 1, 0].tolist() == [0, 0, 1, 0]
    assert by_bin.sum() == 3  # t = 30,000 lies outside [0, 30,000)


def test_one_channel_merges_polarities_and_counts_saturate() -> None:
    ev = make_events(np.zeros(300, int), np.zeros(300, int), np.arange(300), np.arange(300) % 2)
    frames = events_to_frames(ev, (1, 1, 1), time_steps=1, duration_us=1_000)
    assert frames.shape == (1, 1, 1, 1) and frames[0, 0, 0, 0] == 255


def test_one_dimensional_sensor_without_y() -> None:
    ev = np.zeros(3, dtype=[("t", int), ("x", int), ("p", int)])
    ev["x"], ev["t"] = [5, 5, 699], [0, 10, 20]
    frames = events_to_frames(ev, (700, 1, 1), time_steps=2, duration_us=30)
    assert frames.shape == (2, 1, 1, 700) and frames[0, 0, 0, 5] == 2 and frames[1, 0, 0, 699] == 1


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"time_steps": 0, "duration_us": 10}, "time_steps=0"),
        ({"time_steps": 2}, "exactly one of duration_us and bin_us"),
        ({"time_steps": 2, "duration_us": 10, "bin_us": 5}, "exactly one"),
        ({"time_steps": 2, "sensor_size": (20, 34, 2), "duration_us": 10}, "x spans"),
    ],
)
def test_errors_name_the_argument(kwargs: dict, fragment: str) -> None:
    with pytest.raises(DataError, match="events_to_frames") as info:
        events_to_frames(random_events(50, seed=1), **kwargs)
    assert fragment in str(info.value)


def one_row(times: list[float]) -> np.ndarray:
    n = len(times)
    return make_events(np.arange(n) % 4, np.zeros(n, int), np.array(times), np.ones(n, int))


@pytest.mark.parametrize(
    ("times", "per_bin", "span"),
    [
        ([123], [1, 0, 0], 0.0),                       # one event: bin 0, not an empty frame
        ([0, 0, 0], [3, 0, 0], 0.0),                   # all at t = 0
        ([0, 0, 10, 30], [2, 1, 1], 30.0),             # t = 0 twice, the last timestamp in the last bin
        ([5.0, 15.0, 25.0, 35.0], [1, 1, 2], 30.0),    # float µs, not from 0: t = 35 (last) joins bin 2
    ],
)
def test_span_frames_count_every_event_at_the_edges(times: list[float], per_bin: list[int], span: float) -> None:
    frames, got_span = span_frames(one_row(times), (4, 1, 2), time_steps=3)
    assert frames.shape == (3, 2, 1, 4) and frames.sum(axis=(1, 2, 3)).tolist() == per_bin
    assert got_span == span and frames.sum() == len(times)


def test_span_frames_random_samples_lose_nothing() -> None:
    for seed in range(5):
        ev = random_events(200, seed=seed)
        frames, span = span_frames(ev, (34, 30, 2), time_steps=6)
        assert int(frames.sum()) == len(ev) and span == ev["t"].max() - ev["t"].min()
        last = ev[ev["t"] == ev["t"].max()]
        assert frames[5].sum() >= len(last)


def test_span_frames_empty_sample_and_bad_steps() -> None:
    frames, span = span_frames(one_row([]), (4, 1, 2), time_steps=2)
    assert frames.shape == (2, 2, 1, 4) and frames.sum() == 0 and span == 0.0
    with pytest.raises(DataError, match=r"span_frames: time_steps=0 must be a positive int"):
        span_frames(one_row([1, 2]), (4, 1, 2), time_steps=0)
