"""Fake event data written byte for byte in the real on-disk formats (never downloaded).

N-MNIST `.bin` records are packed here by hand with `struct` (independent of the code under test);
tonic's datasets are laid out as tonic expects them after download and extraction.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

REAL_SAMPLE = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "nmnist" / "sample_nmnist.bin"
REAL_MNIST = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "mnist"


def pack_record(x: int, y: int, p: int, t: int) -> bytes:
    """One 40-bit N-MNIST record: x, y, then polarity bit 7 + 23-bit big-endian timestamp."""
    return struct.pack(">BBBH", x, y, (p << 7) | (t >> 16), t & 0xFFFF)


def random_records(n: int, seed: int) -> tuple[bytes, np.ndarray]:
    """(file bytes, [n, 4] int64 columns x, y, t, p) of `n` events sorted by time."""
    rng = np.random.default_rng(seed)
    cols = np.stack(
        [rng.integers(0, 34, n), rng.integers(0, 34, n), np.sort(rng.integers(0, 1 << 23, n)),
         rng.integers(0, 2, n)],
        axis=1,
    )
    raw = b"".join(pack_record(int(x), int(y), int(p), int(t)) for x, y, t, p in cols)
    return raw, cols


def write_nmnist_folder(root: Path, per_digit: int = 2, seed: int = 0) -> dict[str, list[tuple[Path, int]]]:
    """Official layout Train/<d>/<n>.bin and Test/<d>/<n>.bin; digit d gets MNIST indices d, d+10, ...

    Returns split -> [(path, label)] in MNIST-index order.
    """
    written: dict[str, list[tuple[Path, int]]] = {"train": [], "test": []}
    for split, folder in (("train", "Train"), ("test", "Test")):
        for k in range(per_digit):
            for d in range(10):
                index = 10 * k + d
                raw, _ = random_records(20 + index, seed + index + (1000 if split == "test" else 0))
                path = root / folder / str(d) / f"{index + 1:05d}.bin"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(raw)
                written[split].append((path, d))
    return written


def write_tonic_nmnist(save_to: Path, per_digit: int = 2) -> None:
    """tonic's NMNIST layout: <save_to>/NMNIST/{train,test}.zip (tonic checks presence only) + folders."""
    location = save_to / "NMNIST"
    write_nmnist_folder(location, per_digit)
    (location / "train.zip").write_bytes(b"PK")
    (location / "test.zip").write_bytes(b"PK")


def _events(n: int, seed: int, width: int, height: int, span_us: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack(
        [rng.integers(0, width, n), rng.integers(0, height, n), np.sort(rng.integers(0, span_us, n)),
         rng.integers(0, 2, n)],
        axis=1,
    )


def write_tonic_pokerdvs(save_to: Path, per_class: int = 5) -> None:
    """<save_to>/POKERDVS/pips_{train,test}/<suit>/*.npy, each [N, 4] int columns t, x, y, p."""
    location = save_to / "POKERDVS"
    for split in ("train", "test"):
        (location / f"pips_{split}.tar.gz").parent.mkdir(parents=True, exist_ok=True)
        (location / f"pips_{split}.tar.gz").write_bytes(b"\x1f\x8b")
        for c, suit in enumerate(("cl", "he", "di", "sp")):
            folder = location / f"pips_{split}" / suit
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                xytp = _events(30 + i, 10 * c + i, 35, 35, 20_000)
                np.save(folder / f"{suit}{i}.npy", xytp[:, [2, 0, 1, 3]])


def write_tonic_dvsgesture(save_to: Path, users: int = 10, labels: int = 11) -> None:
    """<save_to>/DVSGesture/ibmGesture{Train,Test}/userNN_<light>/<label>.npy, columns x, y, p, t (ms)."""
    location = save_to / "DVSGesture"
    for folder in ("ibmGestureTrain", "ibmGestureTest"):
        archive = f"{folder}.tar.gz"
        location.mkdir(parents=True, exist_ok=True)
        (location / archive).write_bytes(b"\x1f\x8b")
        for u in range(users):
            user = location / folder / f"user{u + 1:02d}_fluorescent"
            user.mkdir(parents=True, exist_ok=True)
            for label in range(labels):
                xytp = _events(40, 100 * u + label, 128, 128, 1_500)
                np.save(user / f"{label}.npy", xytp[:, [0, 1, 3, 2]])


def write_tonic_shd(save_to: Path, n: int = 6) -> None:
    """<save_to>/SHD/shd_{train,test}.h5 (+ the .zip tonic looks for), SHD's HDF5 layout."""
    import h5py

    location = save_to / "SHD"
    location.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        (location / f"shd_{split}.h5.zip").write_bytes(b"PK")
        with h5py.File(location / f"shd_{split}.h5", "w") as f:
            rng = np.random.default_rng(len(split))
            times = f.create_dataset("spikes/times", (n,), dtype=h5py.vlen_dtype(np.float32))
            units = f.create_dataset("spikes/units", (n,), dtype=h5py.vlen_dtype(np.uint16))
            for i in range(n):
                times[i] = np.sort(rng.uniform(0, 0.8, 50 + i)).astype(np.float32)
                units[i] = rng.integers(0, 700, 50 + i).astype(np.uint16)
            f["labels"] = (np.arange(n) % 20).astype(np.uint16)
            f["extra/keys"] = np.array([f"word{k}".encode() for k in range(20)])
            f["extra/speaker"] = np.zeros(n, dtype=np.uint16)
