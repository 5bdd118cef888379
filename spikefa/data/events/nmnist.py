"""The N-MNIST binary event format, read and written byte for byte.

Orchard, Jayawant, Cohen & Thakor (2015), "Converting static image datasets to spiking neuromorphic
datasets using saccades", Front. Neurosci. 9:437. Each event is a 40-bit record: byte 0 = x,
byte 1 = y, bit 7 of byte 2 = polarity (1 = ON), bits 6..0 of byte 2 then bytes 3 and 4 = a 23-bit
big-endian timestamp in microseconds. A record with y = 240 is a timestamp-overflow marker that
adds 2**13 µs to every later event (as in Orchard's `eventvision.py` and tonic's reader).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spikefa.errors import DataError

# tonic.datasets.NMNIST.dtype: four int64 fields, so tonic transforms accept our arrays unchanged
EVENT_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])
NMNIST_SENSOR = (34, 34, 2)  # (W, H, P), tonic's sensor_size convention
RECORD_BYTES = 5
MAX_TIMESTAMP_US = (1 << 23) - 1
OVERFLOW_Y = 240
OVERFLOW_STEP_US = 1 << 13


def make_events(x: np.ndarray, y: np.ndarray, t: np.ndarray, p: np.ndarray) -> np.ndarray:
    """A structured event array (x, y, t in µs, p) with tonic's N-MNIST dtype, from four columns."""
    events = np.empty(np.shape(t), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["t"], events["p"] = x, y, t, p
    return events


def parse_nmnist(raw: bytes, source: str = "<bytes>", sensor_hw: tuple[int, int] = (34, 34)) -> np.ndarray:
    """Decode N-MNIST records from `raw`; `source` names the file in error messages."""
    if len(raw) % RECORD_BYTES:
        raise DataError(
            f"{source}: {len(raw)} bytes is not a multiple of {RECORD_BYTES} (40-bit N-MNIST records); "
            "the file is truncated, download it again"
        )
    data = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD_BYTES).astype(np.int64)
    x, y, b2 = data[:, 0], data[:, 1], data[:, 2]
    t = ((b2 & 0x7F) << 16) | (data[:, 3] << 8) | data[:, 4]
    overflow = y == OVERFLOW_Y
    t = t + np.cumsum(overflow) * OVERFLOW_STEP_US
    keep = ~overflow
    events = make_events(x[keep], y[keep], t[keep], (b2[keep] >> 7) & 1)
    _check_coordinates(events, source, sensor_hw)
    return events


def _check_coordinates(events: np.ndarray, source: str, sensor_hw: tuple[int, int]) -> None:
    """Raise DataError naming `source` when an event lies outside the H x W sensor."""
    height, width = sensor_hw
    for field, limit in (("x", width), ("y", height)):
        bad = np.flatnonzero(events[field] >= limit)
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"{source}: event {i} has {field}={int(events[field][i])}, outside the "
                f"{width}x{height} N-MNIST sensor ({field} must be < {limit}); not an N-MNIST file"
            )


def read_nmnist(path: str | os.PathLike[str], sensor_hw: tuple[int, int] = (34, 34)) -> np.ndarray:
    """Events of one N-MNIST `.bin` file as a structured array (x, y, t µs, p), file order."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return parse_nmnist(raw, str(path), sensor_hw)


def encode_nmnist(events: np.ndarray, sensor_hw: tuple[int, int] = (34, 34)) -> bytes:
    """The N-MNIST bytes of `events` (fields x, y, t, p); inverse of `parse_nmnist`."""
    names = events.dtype.names or ()
    missing = [f for f in ("x", "y", "t", "p") if f not in names]
    if missing:
        raise DataError(f"encode_nmnist: events lack field(s) {missing}; need x, y, t, p")
    x, y, t, p = (np.asarray(events[f]).astype(np.int64) for f in ("x", "y", "t", "p"))
    checks = (
        ("x", x, sensor_hw[1] - 1),
        ("y", y, sensor_hw[0] - 1),
        ("t", t, MAX_TIMESTAMP_US),
        ("p", p, 1),
    )
    for field, values, high in checks:
        if values.size and (values.min() < 0 or values.max() > high):
            raise DataError(
                f"encode_nmnist: {field} spans [{values.min()}, {values.max()}], must lie in [0, {high}]"
            )
    records = np.empty((t.size, RECORD_BYTES), dtype=np.uint8)
    records[:, 0], records[:, 1] = x, y
    records[:, 2] = (p << 7) | (t >> 16)
    records[:, 3], records[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return records.tobytes()


def write_nmnist(path: str | os.PathLike[str], events: np.ndarray) -> Path:
    """Write `events` as one N-MNIST `.bin` file (parent folders created); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_nmnist(events))
    return path
