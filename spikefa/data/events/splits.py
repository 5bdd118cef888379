"""Event datasets as train / val / test spike-count tensors: one frozen, validated record."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from spikefa.data.splits import SPLITS, check_header, check_labels, split_sizes
from spikefa.errors import DataError

__all__ = ["SPLITS", "EventSplits"]


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
        check_header(where, self.input_shape, self.num_classes, self.classes)
        if isinstance(self.time_steps, bool) or not isinstance(self.time_steps, int) or self.time_steps < 1:
            raise DataError(f"{where}: time_steps={self.time_steps!r} must be a positive int")
        if not isinstance(self.bin_ms, int | float) or not math.isfinite(self.bin_ms) or self.bin_ms <= 0:
            raise DataError(f"{where}: bin_ms={self.bin_ms!r} must be a positive finite number")
        want = [self.time_steps, *self.input_shape]
        for split in SPLITS:
            x = getattr(self, f"x_{split}")
            if not (isinstance(x, torch.Tensor) and x.dtype == torch.uint8 and x.ndim == 5
                    and list(x.shape[1:]) == want):
                got = f"{x.dtype} {list(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
                raise DataError(f"{where}: x_{split} must be uint8 [N, {', '.join(map(str, want))}], got {got}")
            check_labels(where, split, getattr(self, f"y_{split}"), x.shape[0], self.num_classes)

    def sizes(self) -> dict[str, int]:
        """Number of samples per split, e.g. {'train': 50000, 'val': 10000, 'test': 10000}."""
        return split_sizes(self)

    def batch(self, split: str, index: torch.Tensor, binary: bool = True) -> torch.Tensor:
        """Samples `index` of `split` as float32 [T, B, C, H, W]; `binary` clips counts to 1 (spikes)."""
        if split not in SPLITS:
            raise DataError(f"EventSplits.batch: split={split!r} unknown; choose one of {', '.join(SPLITS)}")
        x = getattr(self, f"x_{split}")[index]
        if binary:
            x = x.clamp(max=1)
        return x.to(torch.float32).transpose(0, 1).contiguous()
