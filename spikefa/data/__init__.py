"""Datasets as train / val / test tensors: images (IDX MNIST, Fashion-MNIST, CIFAR-10 binary, digits)
and events (N-MNIST, MNIST converted to events, tonic datasets), in one registry.

`load_dataset(name)` returns `Splits` (its `kind`: images or events; an event dataset needs
`time_steps=T`), reading files found by `resolve_data_dir` (explicit folder, `$SPIKEFA_DATA`, user
cache); `download_dataset(name)` fetches them, md5-verified. `digits` needs no files.
"""

from __future__ import annotations

from spikefa.data.download import download_dataset
from spikefa.data.idx import read_idx, write_idx
from spikefa.data.paths import resolve_data_dir
from spikefa.data.registry import DATASETS, DatasetSpec, get_dataset, load_dataset
from spikefa.data.request import DataRequest
from spikefa.data.sources import DownloadSpec
from spikefa.data.splits import Splits

__all__ = [
    "DATASETS",
    "DataRequest",
    "DatasetSpec",
    "DownloadSpec",
    "Splits",
    "download_dataset",
    "get_dataset",
    "load_dataset",
    "read_idx",
    "resolve_data_dir",
    "write_idx",
]
