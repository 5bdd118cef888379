"""Events -> spike-count frames [T, P, H, W] (pure; inputs never mutated). Two windows:

- `events_to_frames`: a fixed window. Time bin k holds events with start + k·bin <= t <
  start + (k + 1)·bin, bin = duration / T; events outside [start, start + duration) are dropped.
  The window is the same for every recording, so bin k means the same time in every sample.
- `span_frames`: each sample's own span [t_first, t_last] cut into T equal bins, the last bin
  closed, so every event is counted (the tonic datasets, whose recordings differ in length).
  Unlike tonic's `ToFrame(n_time_bins=T)`, which loses the events of the upper edge (a sample
  with one event becomes all-zero frames), nothing in the span is dropped.

Counts saturate at 255 (uint8).
"""

from __future__ import annotations

import numpy as np

from spikefa.errors import DataError


def _check_steps(caller: str, time_steps: int) -> None:
    if isinstance(time_steps, bool) or not isinstance(time_steps, int | np.integer) or time_steps < 1:
        raise DataError(f"{caller}: time_steps={time_steps!r} must be a positive int (the number of time bins T)")


def _window(time_steps: int, duration_us: float | None, bin_us: float | None) -> float:
    """The window length in µs from exactly one of `duration_us` and `bin_us`."""
    _check_steps("events_to_frames", time_steps)
    if (duration_us is None) == (bin_us is None):
        raise DataError(
            f"events_to_frames: give exactly one of duration_us and bin_us, got "
            f"duration_us={duration_us!r}, bin_us={bin_us!r}"
        )
    window = float(duration_us if duration_us is not None else bin_us * time_steps)  # type: ignore[operator]
    if not np.isfinite(window) or window <= 0:
        raise DataError(f"events_to_frames: window {window!r} µs must be positive and finite")
    return window



def _channel(p: np.ndarray, n_pol: int, caller: str) -> np.ndarray:
    """Polarity channel per event: 0 for a one-channel sensor, else p (checked to lie in [0, P))."""
    if n_pol == 1:
        return np.zeros(p.shape, dtype=np.int64)
    p = p.astype(np.int64)
    if p.size and (p.min() < 0 or p.max() >= n_pol):
        raise DataError(f"{caller}: polarity spans [{p.min()}, {p.max()}], must lie in [0, {n_pol - 1}]")
    return p


def _coordinate(events: np.ndarray, field: str, size: int, caller: str) -> np.ndarray:
    """Column `field` as int64, checked to lie in [0, size); a missing `y` is row 0 (1-D sensors)."""
    if field not in (events.dtype.names or ()):
        if field == "y" and size == 1:
            return np.zeros(events.shape, dtype=np.int64)
        raise DataError(f"{caller}: events lack field {field!r}; fields are {events.dtype.names}")
    values = np.asarray(events[field]).astype(np.int64)
    if values.size and (values.min() < 0 or values.max() >= size):
        raise DataError(
            f"{caller}: {field} spans [{values.min()}, {values.max()}], outside the sensor "
            f"(must lie in [0, {size - 1}]); check sensor_size=(W, H, P)"
        )
    return values


def _columns(
    events: np.ndarray, sensor_size: tuple[int, int, int], caller: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[int, int, int]]:
    """(x, y, t µs float64, channel, (P, H, W)) of structured events, each column checked."""
    if len(sensor_size) != 3 or any(int(s) < 1 for s in sensor_size):
        raise DataError(f"{caller}: sensor_size={sensor_size!r} must be three positive ints (W, H, P)")
    width, height, n_pol = (int(s) for s in sensor_size)
    for field in ("t", "p"):
        if field not in (events.dtype.names or ()):
            raise DataError(f"{caller}: events lack field {field!r}; fields are {events.dtype.names}")
    x = _coordinate(events, "x", width, caller)
    y = _coordinate(events, "y", height, caller)
    channel = _channel(np.asarray(events["p"]), n_pol, caller)
    return x, y, np.asarray(events["t"], dtype=np.float64), channel, (n_pol, height, width)


def _accumulate(
    index: np.ndarray, k: np.ndarray, x: np.ndarray, y: np.ndarray, channel: np.ndarray,
    n_samples: int, shape: tuple[int, int, int, int],
) -> np.ndarray:
    """uint8 [n_samples, T, P, H, W] counts of events already assigned to sample `index`, bin `k`."""
    steps, n_pol, height, width = shape
    flat = (((index * steps + k) * n_pol + channel) * height + y) * width + x
    counts = np.bincount(flat, minlength=n_samples * steps * n_pol * height * width)
    return np.minimum(counts, 255).astype(np.uint8).reshape(n_samples, *shape)


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
    """Counts of events of samples `index` into uint8 [n_samples, T, P, H, W] (columns pre-checked),
    over the fixed window [start_us, start_us + window_us), half-open."""
    steps = shape[0]
    rel = np.asarray(t, dtype=np.float64) - start_us
    keep = (rel >= 0) & (rel < window_us)
    k = np.floor_divide(rel[keep] * steps, window_us).astype(np.int64)
    return _accumulate(index[keep], k, x[keep], y[keep], channel[keep], n_samples, shape)


def span_bins(t: np.ndarray, time_steps: int) -> tuple[np.ndarray, float]:
    """(bin index int64 per event, span µs) of T equal bins over [min t, max t], the last bin closed.

    Bin k < T − 1 holds t_first + k·s <= t < t_first + (k + 1)·s with s = span / T; bin T − 1 also
    holds t = t_last, so every event gets a bin. A span of 0 (one event, or all at one time) puts
    every event in bin 0.
    """
    _check_steps("span_bins", time_steps)
    t = np.asarray(t, dtype=np.float64)
    if t.size == 0:
        return np.zeros(0, dtype=np.int64), 0.0
    if not np.isfinite(t).all():
        raise DataError("span_bins: event times hold NaN or inf; check the t column (µs)")
    first, span = float(t.min()), float(t.max() - t.min())
    if span == 0.0:
        return np.zeros(t.shape, dtype=np.int64), 0.0
    k = np.floor_divide((t - first) * time_steps, span).astype(np.int64)
    return np.minimum(k, time_steps - 1), span


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
    window = _window(time_steps, duration_us, bin_us)
    x, y, t, channel, (n_pol, height, width) = _columns(events, sensor_size, "events_to_frames")
    index = np.zeros(x.shape, dtype=np.int64)
    shape = (int(time_steps), n_pol, height, width)
    return count_frames(index, x, y, t, channel, 1, shape, window, start_us)[0]


def span_frames(
    events: np.ndarray, sensor_size: tuple[int, int, int], time_steps: int
) -> tuple[np.ndarray, float]:
    """(uint8 counts [T, P, H, W], span µs) of one sample over its own span, every event counted.

    The T bins cut [first event, last event] equally, the last bin closed (`span_bins`); bin width
    = span / T µs, so it differs between samples. sensor_size is (W, H, P); no events give zeros.
    """
    _check_steps("span_frames", time_steps)
    x, y, t, channel, (n_pol, height, width) = _columns(events, sensor_size, "span_frames")
    k, span = span_bins(t, int(time_steps))
    index = np.zeros(x.shape, dtype=np.int64)
    return _accumulate(index, k, x, y, channel, 1, (int(time_steps), n_pol, height, width))[0], span
