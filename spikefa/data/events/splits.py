"""Event datasets as train / val / test spike-count tensors: one frozen, validated record."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from spikefa.errors import DataError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, eq=False)
class EventSplits:
    """Binned event counts `x_*` uint8 [N, T, C, H, W] (sample-major on disk and in memory) and
    labels `y_*` int64 [N]; `batch` hands them out time-major [T, B, C, H, W] as float32.

    bin_ms: width of one time bin in ms (for datasets binned over each sample's own span, the mean).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    input_shape: tuple[int, int, int]
    time_steps: int
    bin_ms: float
    num_classes: int
    classes: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        where = f"EventSplits {self.name!r}"
        if len(self.input_shape) != 3 or any(int(d) < 1 for d in self.input_shape):
            raise DataError(f"{where}: input_shape={self.input_shape!r} must be three positive ints (C, H, W)")
        if isinstance(self.time_steps, bool) or not isinstance(self.time_steps, int) or self.time_steps < 1:
            raise DataError(f"{where}: time_steps={self.time_steps!r} must be a positive int")
        if not isinstance(self.bin_ms, int | float) or not math.isfinite(self.bin_ms) or self.bin_ms <= 0:
            raise DataError(f"{where}: bin_ms={self.bin_ms!r} must be a positive finite number")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 1:
            raise DataError(f"{where}: num_classes={self.num_classes!r} must be a positive int")
        if self.classes is not None and len(self.classes) != self.num_classes:
            raise DataError(
                f"{where}: classes has {len(self.classes)} names for num_classes={self.num_classes}"
            )
        for split in SPLITS:
            self._check_split(split)

    def _check_split(self, split: str) -> None:
        """dtype and shape of x_<split> and y_<split>, and the label range."""
        x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
        where = f"EventSplits {self.name!r}"
        want = [self.time_steps, *self.input_shape]
        good_x = isinstance(x, torch.Tensor) and x.dtype == torch.uint8 and list(x.shape[1:]) == want
        if not good_x or x.ndim != 5:
            got = f"{x.dtype} {list(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise DataError(f"{where}: x_{split} must be uint8 [N, {', '.join(map(str, want))}], got {got}")
        if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or y.ndim != 1 or y.shape[0] != x.shape[0]:
            got = f"{y.dtype} {list(y.shape)}" if isinstance(y, torch.Tensor) else type(y).__name__
            raise DataError(f"{where}: y_{split} must be int64 [{x.shape[0]}], got {got}")
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.num_classes):
            raise DataError(
                f"{where}: y_{split} labels span [{int(y.min())}, {int(y.max())}], "
                f"must lie in [0, {self.num_classes - 1}]"
            )

    def sizes(self) -> dict[str, int]:
        """Number of samples per split, e.g. {'train': 50000, 'val': 10000, 'test': 10000}."""
        return {split: int(getattr(self, f"y_{split}").shape[0]) for split in SPLITS}

    def batch(self, split: str, index: torch.Tensor, binary: bool = True) -> torch.Tensor:
        """Samples `index` of `split` as float32 [T, B, C, H, W]; `binary` clips counts to 1 (spikes)."""
        if split not in SPLITS:
            raise DataError(f"EventSplits.batch: split={split!r} unknown; choose one of {', '.join(SPLITS)}")
        x = getattr(self, f"x_{split}")[index]
        if binary:
            x = x.clamp(max=1)
        return x.to(torch.float32).transpose(0, 1).contiguous()
