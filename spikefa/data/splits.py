"""Train / validation / test splits as one frozen, validated record of tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spikefa.errors import DataError

SPLITS = ("train", "val", "test")


def check_header(where: str, input_shape: tuple[int, ...], num_classes: int,
                 classes: tuple[str, ...] | None) -> None:
    """The fields every split record shares: (C, H, W), the class count and the class names."""
    if len(input_shape) != 3 or any(int(d) < 1 for d in input_shape):
        raise DataError(f"{where}: input_shape={input_shape!r} must be three positive ints (C, H, W)")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise DataError(f"{where}: num_classes={num_classes!r} must be a positive int")
    if classes is not None and len(classes) != num_classes:
        raise DataError(f"{where}: {len(classes)} class names given for num_classes={num_classes}")


def check_labels(where: str, split: str, y: object, n: int, num_classes: int) -> None:
    """y_<split>: int64 [n] with every label in [0, num_classes)."""
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or y.ndim != 1 or y.shape[0] != n:
        got = f"{y.dtype} {list(y.shape)}" if isinstance(y, torch.Tensor) else type(y).__name__
        raise DataError(f"{where}: y_{split} must be int64 [{n}], got {got}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise DataError(f"{where}: y_{split} labels span [{int(y.min())}, {int(y.max())}], "
                        f"must lie in [0, {num_classes - 1}]")


def split_sizes(record: object) -> dict[str, int]:
    """Number of examples per split of a record with y_train / y_val / y_test."""
    return {split: int(getattr(record, f"y_{split}").shape[0]) for split in SPLITS}


@dataclass(frozen=True, eq=False)
class DataSplits:
    """Images `x_*` float32 in [0, 1] shaped [N, C, H, W]; labels `y_*` int64 shaped [N].

    The validation split is held out of the original training set; the test set is untouched.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    input_shape: tuple[int, int, int]
    num_classes: int
    classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        where = f"DataSplits {self.name!r}"
        check_header(where, self.input_shape, self.num_classes, self.classes)
        for split in SPLITS:
            x: torch.Tensor = getattr(self, f"x_{split}")
            if x.dtype != torch.float32 or tuple(x.shape[1:]) != tuple(self.input_shape) or x.ndim != 4:
                raise DataError(f"{where}: x_{split} must be float32 [N, {', '.join(map(str, self.input_shape))}], "
                                f"got {x.dtype} {list(x.shape)}")
            if x.numel() and (x.min() < 0 or x.max() > 1):
                raise DataError(f"{where}: x_{split} pixel values must lie in [0, 1], "
                                f"got [{x.min():g}, {x.max():g}]")
            check_labels(where, split, getattr(self, f"y_{split}"), x.shape[0], self.num_classes)

    def sizes(self) -> dict[str, int]:
        """Number of examples per split, e.g. {'train': 50000, 'val': 10000, 'test': 10000}."""
        return split_sizes(self)


def to_images(pixels: np.ndarray, scale: float = 255.0) -> torch.Tensor:
    """uint8 (or integer) pixels [N, C, H, W] -> float32 tensor in [0, 1] (divided by `scale`)."""
    return torch.from_numpy(np.ascontiguousarray(pixels)).to(torch.float32).div_(scale)


def to_labels(labels: np.ndarray) -> torch.Tensor:
    """Integer labels [N] -> int64 tensor."""
    return torch.from_numpy(np.asarray(labels).astype(np.int64))


def check_val_size(name: str, val_size: int, n_train: int) -> int:
    """Return `val_size` if it is an int in [0, n_train); else raise naming the value."""
    if isinstance(val_size, bool) or not isinstance(val_size, int | np.integer):
        raise DataError(f"{name}: val_size must be an int, got {val_size!r}")
    if not 0 <= val_size < n_train:
        raise DataError(
            f"{name}: val_size={val_size} must be in [0, {n_train - 1}] ({n_train} training examples)"
        )
    return int(val_size)


def holdout_last(
    name: str, x: torch.Tensor, y: torch.Tensor, val_size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Split off the LAST `val_size` examples as validation: (x_train, y_train, x_val, y_val)."""
    n_train = x.shape[0] - check_val_size(name, val_size, x.shape[0])
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]
