"""Train / validation / test splits of any dataset as one frozen record, validated by its kind.

The loaders return it (`spikefa.data.load_dataset`) and the harness keeps using it: its copy
(`spikefa.train.run.prepare_data`) is the same record, standardized and on the run's device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from spikefa.data.record import DataRecord, Seen
from spikefa.errors import DataError
from spikefa.schemas.validate import require
from spikefa.schemas.vocab import DataKind

SPLITS = ("train", "val", "test")


def _seen(t: object) -> Seen:
    """A tensor as its dtype and shape (``float64 [4, 1, 2, 2]``), anything else as its type."""
    if isinstance(t, torch.Tensor):
        return Seen(f"{str(t.dtype).removeprefix('torch.')} {list(t.shape)}")
    return Seen(type(t).__name__)


@dataclass(frozen=True, eq=False)
class Splits(DataRecord):
    """Tensors `x_*` / labels `y_*` int64 [N] (in [0, num_classes)) of train, val and test.

    kind ``images``: x_* float32 [N, C, H, W] with pixel values in [0, 1] (any values once
    ``standardized``). kind ``events``: x_* uint8 spike counts [N, T, C, H, W] (sample-major on disk
    and in memory) in ``time_steps`` bins of ``bin_ms`` ms (for datasets binned over each sample's
    own span, the mean width); `batch` hands them out time-major [T, B, C, H, W].
    The validation split is held out of the original training set; the test set is untouched.
    """

    name: str
    kind: DataKind
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    input_shape: tuple[int, ...]
    num_classes: int
    classes: tuple[str, ...] | None = None
    time_steps: int | None = None
    bin_ms: float | None = None
    standardized: bool = False

    def where(self) -> str:
        return f"splits {self.name!r} ({self.kind}):"

    def check(self) -> None:
        shape = self.input_shape
        require("input_shape", shape, len(shape) == 3 and min(shape) >= 1, "three positive integers (C, H, W)")
        require("num_classes", self.num_classes, self.num_classes >= 1, "an integer >= 1")
        if self.classes is not None:
            require("classes", self.classes, len(self.classes) == self.num_classes,
                    f"one name per class (num_classes = {self.num_classes})")
        if self.kind == "images":
            for key in ("time_steps", "bin_ms"):
                require(key, getattr(self, key), getattr(self, key) is None, "nothing (None): images have no time axis")
        else:
            steps, bin_ms = self.time_steps, self.bin_ms
            require("time_steps", steps, steps is not None and steps >= 1, "an integer >= 1 (the time bins)")
            require("bin_ms", bin_ms, bin_ms is not None and bin_ms > 0, "a positive number (ms per time bin)")
            require("standardized", self.standardized, not self.standardized,
                    "false: event splits are spike counts, never standardized")
        for split in SPLITS:
            self._check_split(split)

    def _check_split(self, split: str) -> None:
        """x_<split> of the kind's dtype and shape (pixels in [0, 1]); y_<split> int64 labels."""
        x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
        images = self.kind == "images"
        dims = list(self.input_shape) if images else [self.time_steps, *self.input_shape]
        dtype = torch.float32 if images else torch.uint8
        ok = isinstance(x, torch.Tensor) and x.dtype == dtype and list(x.shape[1:]) == dims
        what = f"{str(dtype).removeprefix('torch.')} [N, {', '.join(map(str, dims))}]"
        require(f"x_{split}", _seen(x), ok, what + ("" if images else " (spike counts)"))
        if images and not self.standardized and x.numel():
            lo, hi = float(x.min()), float(x.max())
            require(f"x_{split}", Seen(f"values in [{lo:g}, {hi:g}]"), 0 <= lo and hi <= 1,
                    "pixel values in [0, 1] (or standardized = true)")
        n = x.shape[0]
        ok = isinstance(y, torch.Tensor) and y.dtype == torch.int64 and list(y.shape) == [n]
        require(f"y_{split}", _seen(y), ok, f"int64 [{n}]")
        if y.numel():
            lo, hi = int(y.min()), int(y.max())
            require(f"y_{split}", Seen(f"labels in [{lo}, {hi}]"), 0 <= lo and hi < self.num_classes,
                    f"labels in [0, {self.num_classes - 1}]")

    def sizes(self) -> dict[str, int]:
        """Number of examples per split, e.g. {'train': 50000, 'val': 10000, 'test': 10000}."""
        return {split: int(getattr(self, f"y_{split}").shape[0]) for split in SPLITS}

    def batch(self, split: str, index: torch.Tensor, binary: bool = True) -> torch.Tensor:
        """Event samples `index` of `split` as float32 [T, B, C, H, W]; `binary` clips counts to 1 (spikes)."""
        if split not in SPLITS:
            raise DataError(f"Splits.batch: split={split!r} unknown; choose one of {', '.join(SPLITS)}")
        if self.kind != "events":
            raise DataError(f"Splits.batch: {self.name!r} holds {self.kind}, which have no time axis; "
                            f"index x_{split} directly")
        x = getattr(self, f"x_{split}")[index]
        if binary:
            x = x.clamp(max=1)
        return x.to(torch.float32).transpose(0, 1).contiguous()


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
