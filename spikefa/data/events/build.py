"""The steps every event loader shares: split ranges, the cached build, the wrap into `Splits`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from spikefa.data.events.cache import cache_key, cache_path, load_arrays, resolve_cache_dir, save_arrays
from spikefa.data.request import DataRequest
from spikefa.data.splits import SPLITS, Splits, check_val_size


def holdout_ranges(
    name: str, n_train: int, n_test: int, val_size: int, request: DataRequest
) -> dict[str, range]:
    """Sample indices per split: val = the LAST `val_size` of the training files; `limit` applied."""
    n_fit = n_train - check_val_size(name, val_size, n_train)
    full = {"train": range(0, n_fit), "val": range(n_fit, n_train), "test": range(0, n_test)}
    return {split: r[: request.pick(len(r))] for split, r in full.items()}


def cached_build(
    name: str,
    request: DataRequest,
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
) -> Splits:
    """Wrap cached arrays (x_<split> uint8 [N, T, C, H, W], y_<split>) as event `Splits`."""
    tensors = {}
    for split in SPLITS:
        tensors[f"x_{split}"] = torch.from_numpy(np.ascontiguousarray(arrays[f"x_{split}"]))
        tensors[f"y_{split}"] = torch.from_numpy(np.asarray(arrays[f"y_{split}"], dtype=np.int64))
    return Splits(
        name=name,
        kind="events",
        input_shape=tuple(int(d) for d in arrays["x_train"].shape[2:]),  # type: ignore[arg-type]
        time_steps=time_steps,
        bin_ms=float(bin_ms),
        num_classes=num_classes,
        classes=classes,
        **tensors,
    )
