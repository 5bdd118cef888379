"""MNIST / Fashion-MNIST loaders on generated IDX files, and on the real files when present."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from spikefa.data import load_dataset, write_idx
from spikefa.data.mnist import load_fashion_mnist, load_mnist
from spikefa.errors import DataError

from .fakes import REAL_MNIST, write_fake_mnist


@pytest.mark.parametrize("gz", [True, False])
def test_fake_mnist_splits(tmp_path: Path, gz: bool) -> None:
    arrays = write_fake_mnist(tmp_path, n_train=30, n_test=10, gz=gz)
    splits = load_mnist(tmp_path, val_size=8)
    assert splits.sizes() == {"train": 22, "val": 8, "test": 10}
    assert splits.input_shape == (1, 28, 28) and splits.num_classes == 10
    assert splits.x_train.dtype == torch.float32 and splits.y_train.dtype == torch.int64
    images, labels = arrays["train"]
    # validation = the LAST val_size training examples, in file order
    np.testing.assert_allclose(splits.x_val[:, 0].numpy(), images[22:] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(splits.y_train.numpy(), labels[:22])
    np.testing.assert_array_equal(splits.y_test.numpy(), arrays["test"][1])


def test_fashion_mnist_same_layout_with_class_names(tmp_path: Path) -> None:
    write_fake_mnist(tmp_path / "fashion-mnist")
    splits = load_dataset("fashion-mnist", data_dir=tmp_path, val_size=5)
    assert splits.name == "fashion-mnist" and splits.classes is not None
    assert splits.classes[9] == "Ankle boot" and splits.sizes()["train"] == 25
    assert load_fashion_mnist(tmp_path / "fashion-mnist", val_size=0).sizes()["val"] == 0


def _message(folder: Path, **kwargs: object) -> str:
    with pytest.raises(DataError) as info:
        load_mnist(folder, **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)
    return str(info.value)


def test_missing_directory(tmp_path: Path) -> None:
    message = _message(tmp_path / "absent", val_size=1)
    assert str(tmp_path / "absent") in message and "`spikefa data download mnist [--data-dir DIR]`" in message
    assert "download_dataset('mnist', DIR)" in message and "data_dir=DIR" in message


def test_missing_file_lists_what_was_looked_for(tmp_path: Path) -> None:
    write_fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    message = _message(tmp_path, val_size=1)
    assert "t10k-labels-idx1-ubyte or t10k-labels-idx1-ubyte.gz" in message


def test_wrong_magic_names_file(tmp_path: Path) -> None:
    write_fake_mnist(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[0] = 0xFF
    path.write_bytes(gzip.compress(bytes(raw)))
    assert str(path) in _message(tmp_path, val_size=1)


def test_truncated_names_file(tmp_path: Path) -> None:
    write_fake_mnist(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    message = _message(tmp_path, val_size=1)
    assert str(path) in message and "truncated" in message


def test_count_mismatch_names_file(tmp_path: Path) -> None:
    write_fake_mnist(tmp_path, n_train=30)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    write_idx(path, np.zeros(29, dtype=np.uint8), gzip=True)
    message = _message(tmp_path, val_size=1)
    assert str(path) in message and "29 labels" in message and "30 images" in message


def test_wrong_image_dims_names_file(tmp_path: Path) -> None:
    write_fake_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, np.zeros((30, 32, 32), dtype=np.uint8), gzip=True)
    message = _message(tmp_path, val_size=1)
    assert str(path) in message and "[30, 32, 32]" in message


def test_label_out_of_range(tmp_path: Path) -> None:
    write_fake_mnist(tmp_path, n_test=10)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.full(10, 10, dtype=np.uint8), gzip=True)
    assert "label 10" in _message(tmp_path, val_size=1)


@pytest.mark.parametrize("val_size", [30, -1, 2.5, True])
def test_bad_val_size(tmp_path: Path, val_size: object) -> None:
    write_fake_mnist(tmp_path, n_train=30)
    assert "val_size" in _message(tmp_path, val_size=val_size)


@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"real MNIST not at {REAL_MNIST}")
def test_real_mnist() -> None:
    splits = load_dataset("mnist", data_dir=REAL_MNIST)
    assert splits.sizes() == {"train": 50_000, "val": 10_000, "test": 10_000}
    y_all = torch.cat([splits.y_train, splits.y_val])
    # the official class counts of the 60,000 training and 10,000 test digits
    assert y_all.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert splits.y_test.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert float(splits.x_train.min()) == 0.0 and float(splits.x_train.max()) == 1.0
    assert 0.12 < float(splits.x_test.mean()) < 0.14  # MNIST mean intensity is about 0.13
