"""MNIST and Fashion-MNIST from the four standard IDX files (gzip or raw).

MNIST: LeCun, Bottou, Bengio & Haffner (1998). Fashion-MNIST: Xiao, Rasul & Vollgraf (2017),
a drop-in replacement with the same file names and layout.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spikefa.data.idx import read_idx
from spikefa.data.paths import download_hint, require_dir, resolve_data_dir
from spikefa.data.splits import Splits, holdout_last, to_images, to_labels
from spikefa.errors import DataError

# split -> (images file, labels file), without the optional ".gz"
IDX_STEMS: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_HW = (28, 28)
NUM_CLASSES = 10
DEFAULT_VAL_SIZE = 10_000  # the last 10,000 training images: train = first 50,000
MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def find_idx_file(name: str, directory: Path, stem: str) -> Path:
    """`directory/stem` or `directory/stem.gz`, whichever exists (raw first); else DataError."""
    candidates = [directory / stem, directory / f"{stem}.gz"]
    for path in candidates:
        if path.is_file():
            return path
    looked = " or ".join(p.name for p in candidates)
    raise DataError(f"{name}: missing {directory / stem}[.gz] (looked for {looked}); {download_hint(name)}")


def _read_images(path: Path) -> np.ndarray:
    """uint8 images [N, 28, 28] from one IDX file, checking the element type and image size."""
    images = read_idx(path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_HW:
        raise DataError(
            f"{path}: expected uint8 images [N, {IMAGE_HW[0]}, {IMAGE_HW[1]}], "
            f"got {images.dtype} {list(images.shape)}"
        )
    return images


def _read_labels(path: Path, n_images: int, images_path: Path) -> np.ndarray:
    """uint8 labels [N] in [0, 9], as many as there are images."""
    labels = read_idx(path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{path}: expected uint8 labels [N], got {labels.dtype} {list(labels.shape)}")
    if labels.shape[0] != n_images:
        raise DataError(
            f"{path}: {labels.shape[0]} labels but {images_path.name} holds {n_images} images; "
            "both files must come from the same release"
        )
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(f"{path}: label {labels.max()} outside 0..{NUM_CLASSES - 1}")
    return labels


def read_idx_split(name: str, directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [N, 28, 28], labels uint8 [N]) of `split` ('train' or 'test')."""
    image_stem, label_stem = IDX_STEMS[split]
    images_path = find_idx_file(name, directory, image_stem)
    labels_path = find_idx_file(name, directory, label_stem)
    images = _read_images(images_path)
    return images, _read_labels(labels_path, images.shape[0], images_path)


def load_idx_dataset(
    name: str,
    directory: Path,
    val_size: int | None = None,
    classes: tuple[str, ...] | None = None,
) -> Splits:
    """Load an MNIST-layout folder; validation = the last `val_size` (default 10,000) train images."""
    require_dir(name, directory)
    train_images, train_labels = read_idx_split(name, directory, "train")
    test_images, test_labels = read_idx_split(name, directory, "test")
    x = to_images(train_images[:, None])
    y = to_labels(train_labels)
    x_train, y_train, x_val, y_val = holdout_last(
        name, x, y, DEFAULT_VAL_SIZE if val_size is None else val_size
    )
    return Splits(
        name=name,
        kind="images",
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=to_images(test_images[:, None]),
        y_test=to_labels(test_labels),
        input_shape=(1, *IMAGE_HW),
        num_classes=NUM_CLASSES,
        classes=classes,
    )


def load_mnist(data_dir: str | os.PathLike[str] | None = None, val_size: int | None = None) -> Splits:
    """MNIST splits 50,000 / 10,000 / 10,000 (train / val = last 10,000 of train / test)."""
    return load_idx_dataset("mnist", resolve_data_dir("mnist", data_dir), val_size, MNIST_CLASSES)


def load_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None, val_size: int | None = None
) -> Splits:
    """Fashion-MNIST splits 50,000 / 10,000 / 10,000, same layout as MNIST."""
    directory = resolve_data_dir("fashion-mnist", data_dir)
    return load_idx_dataset("fashion-mnist", directory, val_size, FASHION_CLASSES)
