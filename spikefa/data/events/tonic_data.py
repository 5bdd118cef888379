"""Adapters for tonic's event datasets (NMNIST, DVSGesture, SHD, POKERDVS), binned and cached.

tonic (Lenz et al., Zenodo 2021) reads the files; spikefa bins them (`frames.span_frames`): T equal
bins over each sample's own first-to-last event span, the last bin closed, so every event of the
sample is counted and `bin_ms` is the mean bin width. (tonic's `ToFrame(n_time_bins=T)` is not
used: it drops the events at the upper edge, so a sample with one event became all-zero frames
with its label kept.) The files must already be on disk where tonic expects them
(`<save_to>/<TonicClass>/...`): we check that first, because tonic would otherwise try to
download them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from spikefa._optional import require
from spikefa.data.events.build import cached_build, holdout_ranges, to_splits
from spikefa.data.events.cache import fingerprint_files
from spikefa.data.events.folder import mnist_index_order
from spikefa.data.events.frames import span_frames
from spikefa.data.paths import resolve_data_dir, where_hint
from spikefa.data.request import DataRequest
from spikefa.data.splits import Splits
from spikefa.errors import DataError


def _identity(dataset: Any) -> list[int]:
    return list(range(len(dataset)))


def _by_path(key: Callable[[Path], Any]) -> Callable[[Any], list[int]]:
    """Order samples by a key of their file path (`dataset.data` holds paths)."""
    return lambda ds: sorted(range(len(ds.data)), key=lambda i: key(Path(ds.data[i])))


def _round_robin(dataset: Any) -> list[int]:
    """Interleave classes (rank within class, then label) so the last samples cover every class."""
    seen: dict[int, int] = {}
    keys = []
    for i, label in enumerate(int(t) for t in dataset.targets):
        keys.append((seen.get(label, 0), label, i))
        seen[label] = seen.get(label, 0) + 1
    return [i for *_, i in sorted(keys)]


@dataclass(frozen=True)
class TonicSpec:
    """One tonic dataset: class name, sensor (W, H, P), default validation size, files that must exist
    (relative to `<save_to>/<tonic_class>`, train then test), and the training-sample order whose
    last `val_size` samples become the validation split."""

    name: str
    tonic_class: str
    sensor_size: tuple[int, int, int]
    num_classes: int
    default_val_size: int
    train_files: tuple[str, ...]
    test_files: tuple[str, ...]
    order: Callable[[Any], list[int]] = field(default=_identity)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one frame: polarity channels first."""
        width, height, n_pol = self.sensor_size
        return (n_pol, height, width)


TONIC_SPECS: dict[str, TonicSpec] = {
    spec.name: spec
    for spec in (
        TonicSpec("tonic-nmnist", "NMNIST", (34, 34, 2), 10, 10_000, ("train.zip", "Train"),
                  ("test.zip", "Test"), _by_path(mnist_index_order)),
        TonicSpec("dvsgesture", "DVSGesture", (128, 128, 2), 11, 100,
                  ("ibmGestureTrain.tar.gz", "ibmGestureTrain"), ("ibmGestureTest.tar.gz", "ibmGestureTest"),
                  _by_path(lambda p: (p.parent.name, p.name))),
        TonicSpec("shd", "SHD", (700, 1, 1), 20, 1_000, ("shd_train.h5.zip", "shd_train.h5"),
                  ("shd_test.h5.zip", "shd_test.h5")),
        TonicSpec("pokerdvs", "POKERDVS", (35, 35, 2), 4, 8, ("pips_train.tar.gz", "pips_train"),
                  ("pips_test.tar.gz", "pips_test"), _round_robin),
    )
}  # fmt: skip


def tonic_root(spec: TonicSpec, data_dir: str | os.PathLike[str] | None) -> Path:
    """tonic's `save_to`: the folder holding `<TonicClass>/` (data_dir may also name that folder itself)."""
    folder = resolve_data_dir(spec.name, data_dir)
    return folder.parent if folder.name == spec.tonic_class else folder


def check_files(spec: TonicSpec, save_to: Path) -> None:
    """Raise DataError naming the first missing file and how to fetch the dataset."""
    location = save_to / spec.tonic_class
    for rel in (*spec.train_files, *spec.test_files):
        if not (location / rel).exists():
            raise DataError(
                f"{spec.name}: missing {location / rel}; on a machine with internet run "
                f"tonic.datasets.{spec.tonic_class}(save_to='{save_to}') for train=True and False "
                f"(it downloads and extracts there), then {where_hint()}"
            )


def open_split(spec: TonicSpec, save_to: Path, train: bool) -> Any:
    """tonic's dataset object for one split (files already checked)."""
    datasets = require("tonic").datasets
    try:
        return getattr(datasets, spec.tonic_class)(save_to=str(save_to), train=train)
    except (OSError, RuntimeError, ValueError, KeyError) as exc:
        raise DataError(
            f"{spec.name}: tonic could not open {save_to / spec.tonic_class} ({exc}); "
            "check that the archive was fully extracted"
        ) from None


def bin_samples(
    dataset: Any, indices: Sequence[int], spec: TonicSpec, steps: int, bar: tqdm
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """(x uint8 [N, T, C, H, W], y int64 [N], spans µs) of samples `indices` of `dataset`."""
    x = np.zeros((len(indices), steps, *spec.input_shape), dtype=np.uint8)
    y = np.zeros(len(indices), dtype=np.int64)
    spans = []
    for row, i in enumerate(indices):
        events, label = dataset[i]
        frames, span = span_frames(np.asarray(events), spec.sensor_size, steps)
        x[row] = frames.reshape(steps, *spec.input_shape)
        y[row] = int(label)
        spans.append(span)
        bar.update(1)
    return x, y, spans


def load_tonic(spec: TonicSpec, request: DataRequest) -> Splits:
    """Train / val / test of a tonic dataset; val = the last `val_size` training samples in `spec.order`."""
    tonic = require("tonic")
    save_to = tonic_root(spec, request.data_dir)
    check_files(spec, save_to)
    train, test = open_split(spec, save_to, True), open_split(spec, save_to, False)
    val_size = spec.default_val_size if request.val_size is None else request.val_size
    ranges = holdout_ranges(spec.name, len(train), len(test), val_size, request)
    order = spec.order(train)
    picks = {s: ([order[i] for i in r] if s != "test" else list(r)) for s, r in ranges.items()}
    location = save_to / spec.tonic_class
    settings = {
        "dataset": spec.name,
        "tonic": tonic.__version__,
        "binning": "span_frames: T equal bins over each sample's [first, last] event, last bin closed",
        "time_steps": request.time_steps,
        "val_size": val_size,
        "limit": request.limit,
        "sources": fingerprint_files(sorted(p for p in location.rglob("*") if p.is_file()), location, False),
    }

    def build() -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        spans: list[float] = []
        with tqdm(total=sum(map(len, picks.values())), desc=spec.name, disable=not request.progress) as bar:
            for split, indices in picks.items():
                source = test if split == "test" else train
                arrays[f"x_{split}"], arrays[f"y_{split}"], more = bin_samples(
                    source, indices, spec, request.time_steps, bar
                )
                spans += more
        mean_bin_ms = np.mean(spans) / request.time_steps / 1000 if spans else 0.0
        arrays["bin_ms"] = np.array(max(float(mean_bin_ms), 1e-3))
        return arrays

    arrays = cached_build(spec.name, request, save_to, settings, build)
    classes = tuple(c.decode() if isinstance(c, bytes) else str(c) for c in getattr(train, "classes", []))
    return to_splits(spec.name, arrays, request.time_steps, float(arrays["bin_ms"]), spec.num_classes,
                     classes if len(classes) == spec.num_classes else None)  # fmt: skip
