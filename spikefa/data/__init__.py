"""Datasets as train / val / test tensors: IDX (MNIST, Fashion-MNIST), CIFAR-10 binary, digits.

`load_dataset(name)` reads files found by `resolve_data_dir` (explicit folder, `$SPIKEFA_DATA`,
user cache); `download_dataset(name)` fetches them, md5-verified. `digits` needs no files.
"""

from __future__ import annotations

from spikefa.data.download import download_dataset
from spikefa.data.idx import read_idx, write_idx
from spikefa.data.paths import resolve_data_dir
from spikefa.data.registry import DATASETS, DatasetSpec, load_dataset
from spikefa.data.sources import DownloadSpec
from spikefa.data.splits import DataSplits

__all__ = [
    "DATASETS",
    "DataSplits",
    "DatasetSpec",
    "DownloadSpec",
    "download_dataset",
    "load_dataset",
    "read_idx",
    "resolve_data_dir",
    "write_idx",
]
