"""What a caller asks of an event dataset (one validated record) and the shared cached build step."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from spikefa.data.events.cache import cache_key, cache_path, load_arrays, resolve_cache_dir, save_arrays
from spikefa.data.events.convert import SaccadeConverter
from spikefa.data.events.splits import SPLITS, EventSplits
from spikefa.data.splits import check_val_size
from spikefa.errors import DataError


@dataclass(frozen=True)
class EventRequest:
    """Arguments of `load_event_dataset`: where the files are, how to bin, what to keep.

    limit: keep at most this many samples per split (quick runs, tests). seed / converter: the
    randomness and settings of the image -> event conversion (`nmnist-synth` only).
    """

    data_dir: str | os.PathLike[str] | None = None
    time_steps: int = 25
    val_size: int | None = None
    cache_dir: str | os.PathLike[str] | None = None
    limit: int | None = None
    progress: bool = False
    seed: int = 0
    converter: SaccadeConverter | None = None

    def __post_init__(self) -> None:
        for name, low in (("time_steps", 1), ("limit", 1), ("val_size", 0), ("seed", 0)):
            value = getattr(self, name)
            if value is None and name in ("limit", "val_size"):
                continue
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise DataError(f"load_event_dataset: {name}={value!r} must be an int >= {low}")
        if self.converter is not None and not isinstance(self.converter, SaccadeConverter):
            raise DataError(f"load_event_dataset: converter={self.converter!r} must be a SaccadeConverter")

    def pick(self, n: int) -> int:
        """How many of `n` samples to keep under `limit`."""
        return n if self.limit is None else min(n, self.limit)


def holdout_ranges(
    name: str, n_train: int, n_test: int, val_size: int, request: EventRequest
) -> dict[str, range]:
    """Sample indices per split: val = the LAST `val_size` of the training files; `limit` applied."""
    n_fit = n_train - check_val_size(name, val_size, n_train)
    full = {"train": range(0, n_fit), "val": range(n_fit, n_train), "test": range(0, n_test)}
    return {split: r[: request.pick(len(r))] for split, r in full.items()}


def cached_build(
    name: str,
    request: EventRequest,
    data_dir: Path,
    settings: dict[str, object],
    build: Callable[[], dict[str, np.ndarray]],
) -> dict[str, np.ndarray]:
    """Arrays of dataset `name` from the cache entry for `settings`, else `build()` them and store them."""
    path = cache_path(resolve_cache_dir(request.cache_dir, data_dir), name, cache_key(settings))
    stored = load_arrays(path)
    if stored is not None:
        return stored
    arrays = build()
    save_arrays(path, arrays)
    return arrays


def to_splits(
    name: str,
    arrays: dict[str, np.ndarray],
    time_steps: int,
    bin_ms: float,
    num_classes: int,
    classes: tuple[str, ...] | None,
) -> EventSplits:
    """Wrap cached arrays (x_<split> uint8 [N, T, C, H, W], y_<split>) as EventSplits."""
    tensors = {}
    for split in SPLITS:
        tensors[f"x_{split}"] = torch.from_numpy(np.ascontiguousarray(arrays[f"x_{split}"]))
        tensors[f"y_{split}"] = torch.from_numpy(np.asarray(arrays[f"y_{split}"], dtype=np.int64))
    return EventSplits(
        name=name,
        input_shape=tuple(int(d) for d in arrays["x_train"].shape[2:]),  # type: ignore[arg-type]
        time_steps=time_steps,
        bin_ms=float(bin_ms),
        num_classes=num_classes,
        classes=classes,
        **tensors,
    )
