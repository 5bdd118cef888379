"""IDX files (the MNIST container format), gzip-compressed or raw, read and written byte-for-byte.

Layout (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the number
of dimensions, then one big-endian int32 per dimension, then the data in C order, big-endian.
"""

from __future__ import annotations

import gzip as _gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from spikefa.errors import DataError

# IDX type code -> big-endian numpy dtype; one table read by both the reader and the writer.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """Whole file content, gunzipped when the file starts with the gzip magic (whatever its name)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return _gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DataError(
            f"{path}: corrupt or truncated gzip stream ({exc}); delete the file and download it again"
        ) from None


def _parse_header(path: Path, data: bytes) -> tuple[np.dtype, tuple[int, ...], int]:
    """Return (dtype, dims, header length) after checking the magic number and the dimension list."""
    if len(data) < 4:
        raise DataError(f"{path}: not an IDX file (only {len(data)} bytes, the header needs 4)")
    zero0, zero1, code, ndim = data[:4]
    if zero0 != 0 or zero1 != 0:
        raise DataError(
            f"{path}: not an IDX file (magic number 0x{data[:4].hex()} does not start with two zero bytes)"
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DataError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DataError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{path}: truncated IDX header (expected {header} bytes for {ndim} dimensions, found {len(data)})"
        )
    dims = struct.unpack(f">{ndim}I", data[4:header])
    return IDX_DTYPES[code], tuple(int(d) for d in dims), header


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (raw or gzip) into a native-endian array of the declared shape.

    Raises DataError naming the file for a bad magic number, an unknown type code, or a byte length
    that does not match the declared dimensions (expected and actual counts in the message).
    """
    path = Path(path)
    data = _read_bytes(path)
    dtype, dims, header = _parse_header(path, data)
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing bytes"
        raise DataError(
            f"{path}: IDX data {problem}: dimensions {'x'.join(map(str, dims))} need "
            f"{expected} bytes, found {len(data)}; delete the file and download it again"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode `array` as IDX bytes (header + big-endian data); dtype must be one IDX knows."""
    array = np.asarray(array)
    codes = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        known = ", ".join(str(dt.newbyteorder("=")) for dt in IDX_DTYPES.values())
        raise DataError(f"write_idx: dtype {array.dtype} has no IDX type code (use one of {known})")
    if not 1 <= array.ndim <= 255:
        raise DataError(f"write_idx: array has {array.ndim} dimensions, IDX holds 1 to 255")
    big = IDX_DTYPES[codes[native]]
    header = bytes([0, 0, codes[native], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=big).tobytes()


def write_idx(path: str | os.PathLike[str], array: np.ndarray, gzip: bool = False) -> Path:
    """Write `array` as an IDX file, gzip-compressed (deterministic header, mtime 0) when asked."""
    path = Path(path)
    payload = idx_bytes(array)
    if gzip:
        payload = _gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path
