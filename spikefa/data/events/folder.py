"""`nmnist`: the real N-MNIST from a folder laid out like the official release, binned and cached.

Layout (Orchard et al. 2015; https://www.garrickorchard.com/datasets/n-mnist): `Train/<digit>/<n>.bin`
and `Test/<digit>/<n>.bin`, one recording per MNIST image. Files are taken in the order of the number
`<n>` in their name (the MNIST index in the official release), not digit by digit, so the
validation split (the last `val_size` training files, 10,000 by default) holds every class.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from spikefa.data.events.build import cached_build, holdout_ranges, to_splits
from spikefa.data.events.cache import fingerprint_files
from spikefa.data.events.frames import count_frames
from spikefa.data.events.nmnist import NMNIST_SENSOR, read_nmnist
from spikefa.data.mnist import DEFAULT_VAL_SIZE, MNIST_CLASSES
from spikefa.data.paths import resolve_data_dir, where_hint
from spikefa.data.request import DataRequest
from spikefa.data.splits import Splits
from spikefa.errors import DataError

NAME = "nmnist"
WINDOW_US = 315_000  # three 105 ms saccades; the few later events are dropped
SPLIT_FOLDERS = {"train": "Train", "test": "Test"}
HOW_TO_GET = (
    "download Train.zip and Test.zip from https://www.garrickorchard.com/datasets/n-mnist and unzip "
    f"them there (Train/<digit>/*.bin, Test/<digit>/*.bin); {where_hint()}"
)


def mnist_index_order(path: Path) -> tuple[int, str, str]:
    """Sort key: the MNIST index in the file name, then digit folder and name (non-numeric last)."""
    stem = path.stem
    return (int(stem) if stem.isdigit() else 1 << 62, path.parent.name, path.name)


def list_recordings(folder: Path, split: str) -> tuple[list[Path], np.ndarray]:
    """(files, labels int64) of `split` under `folder`, in MNIST-index order; DataError when none."""
    root = folder / SPLIT_FOLDERS[split]
    files = [p for d in range(10) for p in (root / str(d)).glob("*.bin")]
    if not files:
        raise DataError(f"{NAME}: no {SPLIT_FOLDERS[split]}/<digit>/*.bin files in {folder}; {HOW_TO_GET}")
    files.sort(key=mnist_index_order)
    return files, np.array([int(p.parent.name) for p in files], dtype=np.int64)


def read_frames(files: list[Path], time_steps: int, bar: tqdm) -> np.ndarray:
    """uint8 [N, T, 2, 34, 34] counts of the recordings in `files` over the 315 ms window."""
    width, height, n_pol = NMNIST_SENSOR
    out = np.zeros((len(files), time_steps, n_pol, height, width), dtype=np.uint8)
    for i, path in enumerate(files):
        ev = read_nmnist(path)
        cols = [ev[f] for f in ("x", "y", "t", "p")]
        index = np.zeros(len(ev), dtype=np.int64)
        out[i] = count_frames(index, *cols, 1, (time_steps, n_pol, height, width), WINDOW_US)[0]
        bar.update(1)
    return out


def load_nmnist_folder(request: DataRequest) -> Splits:
    """Real N-MNIST splits (train 50,000 / val 10,000 / test 10,000 by default), binned into T frames."""
    folder = resolve_data_dir(NAME, request.data_dir)
    if not folder.is_dir():
        raise DataError(f"{NAME}: data directory {folder} does not exist; {HOW_TO_GET}")
    train_files, train_labels = list_recordings(folder, "train")
    test_files, test_labels = list_recordings(folder, "test")
    val_size = DEFAULT_VAL_SIZE if request.val_size is None else request.val_size
    ranges = holdout_ranges(NAME, len(train_files), len(test_files), val_size, request)
    source = {"train": (train_files, train_labels), "test": (test_files, test_labels)}
    chosen = {split: (*source["test" if split == "test" else "train"], r) for split, r in ranges.items()}
    settings = {
        "dataset": NAME,
        "time_steps": request.time_steps,
        "window_us": WINDOW_US,
        "val_size": val_size,
        "limit": request.limit,
        "sources": fingerprint_files([*train_files, *test_files], folder, content=False),
    }

    def build() -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        total = sum(len(r) for r in ranges.values())
        with tqdm(total=total, desc=NAME, unit="file", disable=not request.progress) as bar:
            for split, (files, labels, r) in chosen.items():
                arrays[f"x_{split}"] = read_frames([files[i] for i in r], request.time_steps, bar)
                arrays[f"y_{split}"] = labels[list(r)]
        return arrays

    arrays = cached_build(NAME, request, folder, settings, build)
    return to_splits(NAME, arrays, request.time_steps, WINDOW_US / request.time_steps / 1000, 10, MNIST_CLASSES)
