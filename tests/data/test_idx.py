"""IDX reader/writer: round trips and every malformed-file case raises DataError naming the file."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from spikefa.data import read_idx, write_idx
from spikefa.data.idx import IDX_DTYPES, idx_bytes
from spikefa.errors import DataError


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("code", sorted(IDX_DTYPES))
def test_round_trip_every_type(tmp_path: Path, gz: bool, code: int) -> None:
    dtype = IDX_DTYPES[code].newbyteorder("=")
    array = (np.arange(2 * 3 * 5) % 100).astype(dtype).reshape(2, 3, 5)
    path = write_idx(tmp_path / "a.idx", array, gzip=gz)
    back = read_idx(path)
    assert back.dtype == dtype and back.shape == (2, 3, 5)
    np.testing.assert_array_equal(back, array)


def test_bytes_match_the_published_layout(tmp_path: Path) -> None:
    labels = np.array([7, 2, 1], dtype=np.uint8)
    expected = b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes([7, 2, 1])
    assert idx_bytes(labels) == expected
    write_idx(tmp_path / "l.gz", labels, gzip=True)
    assert gzip.decompress((tmp_path / "l.gz").read_bytes()) == expected
    wide = np.array([1, -2], dtype=np.int32)
    assert idx_bytes(wide)[8:] == struct.pack(">2i", 1, -2)  # big-endian payload


def test_gzip_detected_by_content_not_name(tmp_path: Path) -> None:
    array = np.ones((4, 2), dtype=np.uint8)
    (tmp_path / "raw-named.gz").write_bytes(idx_bytes(array))
    (tmp_path / "gz-named").write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(tmp_path / "raw-named.gz"), array)
    np.testing.assert_array_equal(read_idx(tmp_path / "gz-named"), array)


def _error(path: Path) -> str:
    with pytest.raises(DataError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    assert "not found" in _error(tmp_path / "nope")


def test_wrong_magic(tmp_path: Path) -> None:
    path = tmp_path / "bad"
    path.write_bytes(b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x05")
    assert "magic" in _error(path)


def test_unknown_type_code(tmp_path: Path) -> None:
    path = tmp_path / "bad"
    path.write_bytes(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x05")
    assert "0x07" in _error(path)


def test_truncated_data_names_expected_and_actual_bytes(tmp_path: Path) -> None:
    path = tmp_path / "images.gz"
    write_idx(path, np.zeros((3, 28, 28), dtype=np.uint8), gzip=True)
    payload = gzip.decompress(path.read_bytes())[:-100]
    path.write_bytes(gzip.compress(payload))
    message = _error(path)
    assert "truncated" in message and str(16 + 3 * 784) in message and str(16 + 3 * 784 - 100) in message


def test_truncated_header_and_gzip_stream(tmp_path: Path) -> None:
    header = tmp_path / "short"
    header.write_bytes(b"\x00\x00\x08\x03\x00\x00")
    assert "header" in _error(header)
    stream = tmp_path / "cut.gz"
    stream.write_bytes(gzip.compress(idx_bytes(np.zeros(5000, dtype=np.uint8)))[:-20])
    assert "gzip" in _error(stream)


def test_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(4, dtype=np.uint8)) + b"\x00")
    assert "trailing" in _error(path)


def test_write_rejects_unknown_dtype(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no IDX type code"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))
