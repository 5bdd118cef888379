"""Train / validation / test splits as one frozen, validated record of tensors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spikefa.errors import DataError

_SPLITS = ("train", "val", "test")


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
        if len(self.input_shape) != 3 or any(int(d) <= 0 for d in self.input_shape):
            raise DataError(
                f"{self.name}: input_shape {self.input_shape} must be three positive ints (C, H, W)"
            )
        if self.num_classes < 1:
            raise DataError(f"{self.name}: num_classes {self.num_classes} must be at least 1")
        if self.classes is not None and len(self.classes) != self.num_classes:
            raise DataError(
                f"{self.name}: {len(self.classes)} class names given for num_classes={self.num_classes}"
            )
        for split in _SPLITS:
            self._check_split(split)

    def _check_split(self, split: str) -> None:
        """Check dtype, shape, pixel range and label range of one split."""
        x: torch.Tensor = getattr(self, f"x_{split}")
        y: torch.Tensor = getattr(self, f"y_{split}")
        where = f"{self.name} {split} split"
        if x.dtype != torch.float32 or tuple(x.shape[1:]) != tuple(self.input_shape) or x.ndim != 4:
            raise DataError(
                f"{where}: x must be float32 [N, {', '.join(map(str, self.input_shape))}], "
                f"got {x.dtype} {list(x.shape)}"
            )
        if y.dtype != torch.int64 or y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DataError(f"{where}: y must be int64 [{x.shape[0]}], got {y.dtype} {list(y.shape)}")
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise DataError(f"{where}: pixel values must lie in [0, 1], got [{x.min():g}, {x.max():g}]")
        if y.numel() and (y.min() < 0 or y.max() >= self.num_classes):
            raise DataError(
                f"{where}: labels must lie in [0, {self.num_classes - 1}], got [{y.min()}, {y.max()}]"
            )

    def sizes(self) -> dict[str, int]:
        """Number of examples per split, e.g. {'train': 50000, 'val': 10000, 'test': 10000}."""
        return {split: int(getattr(self, f"y_{split}").shape[0]) for split in _SPLITS}


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
