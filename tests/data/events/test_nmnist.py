"""N-MNIST binary format: hand-packed bytes, writer/reader round trip, errors, the real sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from spikefa.data.events import EVENT_DTYPE, encode_nmnist, make_events, parse_nmnist, read_nmnist, write_nmnist
from spikefa.errors import DataError

from .fakes import REAL_SAMPLE, pack_record, random_records


def test_known_records_decode() -> None:
    raw = pack_record(3, 33, 1, 0x7ABCDE) + pack_record(0, 5, 0, 1)
    assert raw[:5] == bytes([3, 33, 0x80 | 0x7A, 0xBC, 0xDE])
    ev = parse_nmnist(raw)
    assert ev.dtype == EVENT_DTYPE
    assert ev.tolist() == [(3, 33, 0x7ABCDE, 1), (0, 5, 1, 0)]


def test_round_trip_byte_for_byte(tmp_path: Path) -> None:
    raw, cols = random_records(500, seed=1)
    src = tmp_path / "in.bin"
    src.write_bytes(raw)
    ev = read_nmnist(src)
    np.testing.assert_array_equal(np.stack([ev[f] for f in ("x", "y", "t", "p")], 1), cols)
    out = write_nmnist(tmp_path / "sub" / "out.bin", ev)
    assert out.read_bytes() == raw
    assert encode_nmnist(ev) == raw


def test_overflow_marker_adds_2_13_us() -> None:
    raw = pack_record(1, 1, 0, 100) + pack_record(0, 240, 0, 0) + pack_record(2, 2, 1, 100)
    ev = parse_nmnist(raw)
    assert ev["t"].tolist() == [100, 100 + 2**13] and ev["x"].tolist() == [1, 2]


def test_truncated_file_names_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(pack_record(1, 1, 0, 5) + b"\x00\x01")
    with pytest.raises(DataError, match=r"bad\.bin: 7 bytes is not a multiple of 5"):
        read_nmnist(path)


def test_coordinate_outside_sensor_names_file_and_value(tmp_path: Path) -> None:
    path = tmp_path / "wide.bin"
    path.write_bytes(pack_record(1, 1, 0, 5) + pack_record(34, 2, 0, 6))
    with pytest.raises(DataError, match=r"wide\.bin: event 1 has x=34") as info:
        read_nmnist(path)
    assert "\n" not in str(info.value)


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_nmnist(tmp_path / "nope.bin")


def test_writer_rejects_out_of_range() -> None:
    ev = make_events(np.array([1]), np.array([2]), np.array([1 << 23]), np.array([1]))
    with pytest.raises(DataError, match=r"t spans \[8388608, 8388608\]"):
        encode_nmnist(ev)


def test_tonic_reader_agrees(tmp_path: Path) -> None:
    io = pytest.importorskip("tonic.io")
    raw, _ = random_records(200, seed=2)
    (tmp_path / "a.bin").write_bytes(raw)
    theirs = io.read_mnist_file(str(tmp_path / "a.bin"), dtype=EVENT_DTYPE)
    np.testing.assert_array_equal(theirs, read_nmnist(tmp_path / "a.bin"))


@pytest.mark.skipif(not REAL_SAMPLE.is_file(), reason="real N-MNIST sample not present")
def test_real_sample_facts(tmp_path: Path) -> None:
    ev = read_nmnist(REAL_SAMPLE)
    assert len(ev) == 4325
    assert 300_000 < ev["t"].max() < 320_000 and np.all(np.diff(ev["t"]) >= 0)
    assert abs(ev["p"].mean() - 0.5) < 0.02
    shares = np.bincount(np.minimum(ev["t"] // 105_000, 2)) / len(ev)
    assert np.all((shares > 0.25) & (shares < 0.42)), shares  # three saccades of similar size
    assert ev["x"].max() <= 33 and ev["y"].max() <= 33
    assert write_nmnist(tmp_path / "copy.bin", ev).read_bytes() == REAL_SAMPLE.read_bytes()
