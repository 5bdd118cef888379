"""The one registry of datasets, images and events (name -> kind, loader, where the files come
from), read by the CLI (`spikefa list datasets`, `spikefa data download`), the harness, docs, tests."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from spikefa.data.cifar import load_cifar10
from spikefa.data.digits import load_digits
from spikefa.data.events.convert import SaccadeConverter
from spikefa.data.events.folder import load_nmnist_folder
from spikefa.data.events.synth import load_nmnist_synth
from spikefa.data.events.tonic_data import TONIC_SPECS, load_tonic
from spikefa.data.mnist import load_fashion_mnist, load_mnist
from spikefa.data.paths import where_hint
from spikefa.data.record import DataRecord
from spikefa.data.request import DataRequest
from spikefa.data.sources import CIFAR10_SOURCE, FASHION_MNIST_SOURCE, MNIST_SOURCE, DownloadSpec
from spikefa.data.splits import Splits
from spikefa.errors import DataError
from spikefa.schemas.validate import require
from spikefa.schemas.vocab import DataKind

Loader = Callable[[DataRequest], Splits]
ImageLoader = Callable[[str | os.PathLike[str] | None, int | None], Splits]


@dataclass(frozen=True)
class DatasetSpec(DataRecord):
    """A dataset: its `kind`, `loader(request) -> Splits`, a one-line description, and where its
    files come from: `download` (fetched by `spikefa data download`), else `how_to_get` (by hand);
    a dataset without `needs_files` ships with a package. `needs_tonic`: read through tonic."""

    name: str
    kind: DataKind
    loader: Loader
    description: str
    needs_files: bool = True
    download: DownloadSpec | None = None
    how_to_get: str = ""
    needs_tonic: bool = False

    def where(self) -> str:
        return f"DatasetSpec {self.name!r}:"

    def check(self) -> None:
        require("name", self.name, bool(self.name) and self.name == self.name.strip().lower(),
                "a non-empty lower-case word")
        require("loader", self.loader, callable(self.loader), "a function loader(request) -> Splits")
        require("download", self.download, self.download is None or isinstance(self.download, DownloadSpec),
                "a DownloadSpec")
        require("needs_files", self.needs_files, self.needs_files or self.download is None,
                "true: a dataset with a download has files")
        require("how_to_get", self.how_to_get, bool(self.how_to_get) or not self.needs_files or bool(self.download),
                "how to get the files by hand (the dataset needs files and has no download)")


def _images(load: ImageLoader) -> Loader:
    """An image loader `load(data_dir, val_size)` as a registry loader of requests."""

    def loader(request: DataRequest) -> Splits:
        return load(request.data_dir, request.val_size)

    loader.__doc__ = load.__doc__
    return loader


def _tonic_fetch(tonic_class: str) -> str:
    return (f"on a machine with internet run tonic.datasets.{tonic_class}(save_to='DIR') for train=True and False "
            f"(it downloads and extracts there), then {where_hint()} to DIR")


_TONIC_TEXT = {
    "tonic-nmnist": "N-MNIST read through tonic (34x34x2); 50,000 / 10,000 / 10,000",
    "dvsgesture": "IBM DVS Gesture via tonic (128x128x2, 11 classes); 977 / 100 / 264",
    "shd": "Spiking Heidelberg Digits via tonic (700 channels, 20 classes); 7,156 / 1,000 / 2,264",
    "pokerdvs": "POKER-DVS via tonic (35x35x2, 4 card suits); 40 / 8 / 20",
}

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "digits", "images", _images(load_digits),
            "scikit-learn 8x8 digits, bundled offline; 1,149 / 288 / 360", needs_files=False,
        ),
        DatasetSpec(
            "mnist", "images", _images(load_mnist),
            "MNIST 28x28 handwritten digits; 50,000 / 10,000 / 10,000", download=MNIST_SOURCE,
        ),
        DatasetSpec(
            "fashion-mnist", "images", _images(load_fashion_mnist),
            "Fashion-MNIST 28x28 clothing; 50,000 / 10,000 / 10,000", download=FASHION_MNIST_SOURCE,
        ),
        DatasetSpec(
            "cifar10", "images", _images(load_cifar10),
            "CIFAR-10 32x32 colour (binary version); 40,000 / 10,000 / 10,000", download=CIFAR10_SOURCE,
        ),
        DatasetSpec(
            "nmnist-synth", "events", load_nmnist_synth,
            "MNIST converted offline to N-MNIST-like saccade events (34x34x2); 50,000 / 10,000 / 10,000",
            how_to_get="it is converted from MNIST's files (once, then cached): `spikefa data download mnist`",
        ),
        DatasetSpec(
            "nmnist", "events", load_nmnist_folder,
            "real N-MNIST from Train/<digit>/*.bin, Test/<digit>/*.bin (34x34x2); 50,000 / 10,000 / 10,000",
            how_to_get="download Train.zip and Test.zip from https://www.garrickorchard.com/datasets/n-mnist, "
                       f"unzip both into one folder DIR, then {where_hint()} to DIR",
        ),
        *(
            DatasetSpec(name, "events", partial(load_tonic, spec), _TONIC_TEXT[name],
                        how_to_get=_tonic_fetch(spec.tonic_class), needs_tonic=True)
            for name, spec in TONIC_SPECS.items()
        ),
    )
}  # fmt: skip


def get_dataset(name: str) -> DatasetSpec:
    """The registered spec for `name`; an unknown name raises DataError listing the known ones."""
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        known = "; ".join(f"{', '.join(n for n, s in DATASETS.items() if s.kind == kind)} ({kind})"
                          for kind in ("images", "events"))
        raise DataError(f"unknown dataset {name!r}; known datasets: {known}") from None


def _plain(value: object) -> object:
    """A numpy integer as a Python int (what the request's checks accept); anything else as it is."""
    return int(value) if isinstance(value, np.integer) else value


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    val_size: int | None = None,
    *,
    time_steps: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    limit: int | None = None,
    progress: bool = False,
    seed: int = 0,
    converter: SaccadeConverter | None = None,
) -> Splits:
    """Load dataset `name` as train / val / test `Splits` (`spikefa list datasets` shows each kind).

    data_dir: see `resolve_data_dir` (`nmnist-synth` reads the MNIST folder). val_size: training
    examples held out for validation (None: the dataset's default). Event datasets only, and
    `time_steps` required: binned into `time_steps` frames and cached in `cache_dir` (default
    `$SPIKEFA_CACHE`, else `<user cache>/spikefa/events`); `limit`: at most that many samples per
    split; `seed`, `converter`: the image -> event conversion of `nmnist-synth`. An image dataset
    refuses these options in one line.
    """
    spec = get_dataset(name)
    request = DataRequest(name, spec.kind, data_dir, _plain(val_size), _plain(time_steps), cache_dir,  # type: ignore[arg-type]
                          _plain(limit), progress, _plain(seed), converter)  # type: ignore[arg-type]
    return spec.loader(request)
