"""Fake datasets written byte-for-byte in the real on-disk formats (never downloaded)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np

from spikefa.data.cifar import RECORD_BYTES, TEST_FILE, TRAIN_FILES
from spikefa.data.idx import write_idx
from spikefa.data.mnist import IDX_STEMS

REAL_MNIST = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mnist"


def fake_idx_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images [n, 28, 28], uint8 labels [n]) drawn from `seed`."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def write_fake_mnist(
    folder: Path, n_train: int = 30, n_test: int = 10, gz: bool = True, seed: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write the four MNIST IDX files into `folder`; return split -> (images, labels)."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"train": fake_idx_split(n_train, seed), "test": fake_idx_split(n_test, seed + 1)}
    for split, (images, labels) in arrays.items():
        image_stem, label_stem = IDX_STEMS[split]
        suffix = ".gz" if gz else ""
        write_idx(folder / f"{image_stem}{suffix}", images, gzip=gz)
        write_idx(folder / f"{label_stem}{suffix}", labels, gzip=gz)
    return arrays


def cifar_batch_bytes(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(file bytes, images uint8 [n, 3, 32, 32], labels uint8 [n]) of one binary batch."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    records = np.concatenate([labels[:, None], images.reshape(n, -1)], axis=1)
    assert records.shape[1] == RECORD_BYTES
    return records.tobytes(), images, labels


def write_fake_cifar(folder: Path, n_per_batch: int = 4) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write the six CIFAR-10 binary batches into `folder`; return file name -> (images, labels)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for seed, name in enumerate((*TRAIN_FILES, TEST_FILE)):
        raw, images, labels = cifar_batch_bytes(n_per_batch, seed)
        (folder / name).write_bytes(raw)
        written[name] = (images, labels)
    return written


def tar_gz(path: Path, members: dict[str, bytes]) -> Path:
    """Write a tar.gz holding `members` (archive name -> content), names taken verbatim."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return path
