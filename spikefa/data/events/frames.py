"""Events -> spike-count frames [T, P, H, W] over a fixed time window (pure; inputs never mutated).

Time bin k holds events with start + k·bin <= t < start + (k + 1)·bin, bin = duration / T; events
outside [start, start + duration) are dropped. Counts saturate at 255 (uint8). Unlike tonic's
`ToFrame(n_time_bins=T)`, the window is the same for every recording, so bin k means the same
time in every sample (what a time-stepped SNN expects).
"""

from __future__ import annotations

import numpy as np

from spikefa.errors import DataError


def _window(time_steps: int, duration_us: float | None, bin_us: float | None) -> float:
    """The window length in µs from exactly one of `duration_us` and `bin_us`."""
    if isinstance(time_steps, bool) or not isinstance(time_steps, int | np.integer) or time_steps < 1:
        raise DataError(f"events_to_frames: time_steps={time_steps!r} must be a positive int")
    if (duration_us is None) == (bin_us is None):
        raise DataError(
            f"events_to_frames: give exactly one of duration_us and bin_us, got "
            f"duration_us={duration_us!r}, bin_us={bin_us!r}"
        )
    window = float(duration_us if duration_us is not None else bin_us * time_steps)  # type: ignore[operator]
    if not np.isfinite(window) or window <= 0:
        raise DataError(f"events_to_frames: window {window!r} µs must be positive and finite")
    return window


def _channel(p: np.ndarray, n_pol: int) -> np.ndarray:
    """Polarity channel per event: 0 for a one-channel sensor, else p (checked to lie in [0, P))."""
    if n_pol == 1:
        return np.zeros(p.shape, dtype=np.int64)
    p = p.astype(np.int64)
    if p.size and (p.min() < 0 or p.max() >= n_pol):
        raise DataError(
            f"events_to_frames: polarity spans [{p.min()}, {p.max()}], must lie in [0, {n_pol - 1}]"
        )
    return p


def _coordinate(events: np.ndarray, field: str, size: int) -> np.ndarray:
    """Column `field` as int64, checked to lie in [0, size); a missing `y` is row 0 (1-D sensors)."""
    if field not in (events.dtype.names or ()):
        if field == "y" and size == 1:
            return np.zeros(events.shape, dtype=np.int64)
        raise DataError(f"events_to_frames: events lack field {field!r}; fields are {events.dtype.names}")
    values = np.asarray(events[field]).astype(np.int64)
    if values.size and (values.min() < 0 or values.max() >= size):
        raise DataError(
            f"events_to_frames: {field} spans [{values.min()}, {values.max()}], outside the sensor "
            f"(must lie in [0, {size - 1}]); check sensor_size=(W, H, P)"
        )
    return values


def count_frames(
    index: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    t: np.ndarray,
    channel: np.ndarray,
    n_samples: int,
    shape: tuple[int, int, int, int],
    window_us: float,
    start_us: float = 0.0,
) -> np.ndarray:
    """Counts of events of samples `index` into uint8 [n_samples, T, P, H, W] (columns pre-checked)."""
    steps, n_pol, height, width = shape
    rel = np.asarray(t, dtype=np.float64) - start_us
    keep = (rel >= 0) & (rel < window_us)
    k = np.floor_divide(rel[keep] * steps, window_us).astype(np.int64)
    flat = (((index[keep] * steps + k) * n_pol + channel[keep]) * height + y[keep]) * width + x[keep]
    counts = np.bincount(flat, minlength=n_samples * steps * n_pol * height * width)
    return np.minimum(counts, 255).astype(np.uint8).reshape(n_samples, *shape)


def events_to_frames(
    events: np.ndarray,
    sensor_size: tuple[int, int, int] = (34, 34, 2),
    time_steps: int = 25,
    duration_us: float | None = None,
    bin_us: float | None = None,
    start_us: float = 0.0,
) -> np.ndarray:
    """Structured events (x, [y,] t µs, p) -> uint8 counts [T, P, H, W]; sensor_size is (W, H, P).

    Give the window as `duration_us` (bin = duration / T) or `bin_us` (duration = T·bin).
    """
    if len(sensor_size) != 3 or any(int(s) < 1 for s in sensor_size):
        raise DataError(f"events_to_frames: sensor_size={sensor_size!r} must be three positive ints (W, H, P)")
    width, height, n_pol = (int(s) for s in sensor_size)
    window = _window(time_steps, duration_us, bin_us)
    for field in ("t", "p"):
        if field not in (events.dtype.names or ()):
            raise DataError(f"events_to_frames: events lack field {field!r}; fields are {events.dtype.names}")
    x = _coordinate(events, "x", width)
    y = _coordinate(events, "y", height)
    channel = _channel(np.asarray(events["p"]), n_pol)
    index = np.zeros(x.shape, dtype=np.int64)
    shape = (int(time_steps), n_pol, height, width)
    return count_frames(index, x, y, np.asarray(events["t"]), channel, 1, shape, window, start_us)[0]
