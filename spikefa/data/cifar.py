"""CIFAR-10 from the official binary version (Krizhevsky 2009), never from the pickled one.

Each `.bin` batch is a run of 3,073-byte records: one label byte, then 3,072 pixel bytes in
channel-major order (1,024 red, 1,024 green, 1,024 blue, each 32 x 32 row-major), i.e. CHW.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spikefa.data.paths import download_hint, require_dir, resolve_data_dir
from spikefa.data.splits import Splits, holdout_last, to_images, to_labels
from spikefa.errors import DataError

TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
SUBDIR = "cifar-10-batches-bin"  # what the official tar.gz extracts to
IMAGE_SHAPE = (3, 32, 32)
RECORD_BYTES = 1 + 3 * 32 * 32
NUM_CLASSES = 10
DEFAULT_VAL_SIZE = 10_000  # the last 10,000 training images (= data_batch_5): train = first 50,000
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip


def read_cifar_batch(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 3, 32, 32], labels uint8 [N]) from one binary batch file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(raw) == 0 or len(raw) % RECORD_BYTES:
        raise DataError(
            f"{path}: {len(raw)} bytes is not a whole number of {RECORD_BYTES}-byte records "
            f"(truncated or not a CIFAR-10 binary batch); delete it and download again"
        )
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    labels = records[:, 0].copy()
    if labels.max() >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise DataError(f"{path}: record {bad} has label {labels[bad]}, outside 0..{NUM_CLASSES - 1}")
    return records[:, 1:].reshape(-1, *IMAGE_SHAPE).copy(), labels


def find_cifar_dir(directory: Path) -> Path:
    """`directory` if it holds the batches, else its `cifar-10-batches-bin/`; else DataError."""
    require_dir("cifar10", directory)
    names = (*TRAIN_FILES, TEST_FILE)
    for candidate in (directory, directory / SUBDIR):
        if all((candidate / n).is_file() for n in names):
            return candidate
    for candidate in (directory, directory / SUBDIR):
        missing = [n for n in names if not (candidate / n).is_file()]
        if len(missing) < len(names):  # a partial set: name what is missing there
            raise DataError(f"cifar10: {candidate} lacks {', '.join(missing)}; {download_hint('cifar10')}")
    raise DataError(
        f"cifar10: no CIFAR-10 binary batches in {directory} or {directory / SUBDIR} "
        f"(looked for {', '.join(names)}); {download_hint('cifar10')}"
    )


def load_cifar10(data_dir: str | os.PathLike[str] | None = None, val_size: int | None = None) -> Splits:
    """CIFAR-10 splits 40,000 / 10,000 / 10,000 by default (val = the last 10,000 of the 50,000)."""
    directory = find_cifar_dir(resolve_data_dir("cifar10", data_dir))
    batches = [read_cifar_batch(directory / n) for n in TRAIN_FILES]
    test_images, test_labels = read_cifar_batch(directory / TEST_FILE)
    x = to_images(np.concatenate([b[0] for b in batches]))
    y = to_labels(np.concatenate([b[1] for b in batches]))
    x_train, y_train, x_val, y_val = holdout_last(
        "cifar10", x, y, DEFAULT_VAL_SIZE if val_size is None else val_size
    )
    return Splits(
        name="cifar10",
        kind="images",
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=to_images(test_images),
        y_test=to_labels(test_labels),
        input_shape=IMAGE_SHAPE,
        num_classes=NUM_CLASSES,
        classes=CIFAR10_CLASSES,
    )
