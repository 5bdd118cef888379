"""One registry of datasets (name -> how to load and where to download), read by CLI, docs, tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from spikefa.data.cifar import load_cifar10
from spikefa.data.digits import load_digits
from spikefa.data.mnist import load_fashion_mnist, load_mnist
from spikefa.data.sources import CIFAR10_SOURCE, FASHION_MNIST_SOURCE, MNIST_SOURCE, DownloadSpec
from spikefa.data.splits import DataSplits
from spikefa.errors import DataError

Loader = Callable[[str | os.PathLike[str] | None, int | None], DataSplits]


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: `loader(data_dir, val_size)`, whether it needs files on disk, where to get them."""

    name: str
    loader: Loader
    needs_files: bool
    download: DownloadSpec | None
    description: str

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip().lower():
            raise DataError(f"DatasetSpec: name {self.name!r} must be a non-empty lower-case word")
        if not callable(self.loader):
            raise DataError(f"DatasetSpec {self.name}: loader {self.loader!r} is not callable")
        if self.download is not None and not self.needs_files:
            raise DataError(f"DatasetSpec {self.name}: a download spec needs needs_files=True")


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "digits", load_digits, False, None,
            "scikit-learn 8x8 digits, bundled offline; 1,149 / 288 / 360",
        ),
        DatasetSpec(
            "mnist", load_mnist, True, MNIST_SOURCE,
            "MNIST 28x28 handwritten digits; 50,000 / 10,000 / 10,000",
        ),
        DatasetSpec(
            "fashion-mnist", load_fashion_mnist, True, FASHION_MNIST_SOURCE,
            "Fashion-MNIST 28x28 clothing; 50,000 / 10,000 / 10,000",
        ),
        DatasetSpec(
            "cifar10", load_cifar10, True, CIFAR10_SOURCE,
            "CIFAR-10 32x32 colour (binary version); 40,000 / 10,000 / 10,000",
        ),
    )
}  # fmt: skip


def get_dataset(name: str) -> DatasetSpec:
    """The registered spec for `name`; an unknown name raises DataError listing the known ones."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None


def load_dataset(
    name: str, data_dir: str | os.PathLike[str] | None = None, val_size: int | None = None
) -> DataSplits:
    """Load dataset `name` as train / val / test tensors (see `resolve_data_dir` for `data_dir`)."""
    return get_dataset(name).loader(data_dir, val_size)
