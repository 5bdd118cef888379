"""On-disk cache of binned event datasets: one compressed `.npz` per settings hash, written atomically.

The key hashes every setting that changes the arrays (converter, binning, seed, split sizes) and a
fingerprint of the source files, so changing any of them makes a new entry instead of a stale hit.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from spikefa.errors import DataError

CACHE_ENV_VAR = "SPIKEFA_CACHE"
CACHE_FOLDER = "events"
FORMAT_VERSION = 1


def resolve_cache_dir(cache_dir: str | os.PathLike[str] | None, data_dir: Path) -> Path:
    """Explicit `cache_dir`, else `$SPIKEFA_CACHE`, else `<user cache>/spikefa/events` (never the
    data folder itself, which may be read-only or shared)."""
    from spikefa.data.paths import cache_root

    del data_dir  # the key already fingerprints the source files
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_ENV_VAR)
    return Path(env).expanduser() if env else cache_root() / CACHE_FOLDER


def cache_key(settings: dict[str, object]) -> str:
    """A 20-hex-digit hash of `settings` (JSON, sorted keys) and the cache format version."""
    text = json.dumps({"format": FORMAT_VERSION, **settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def fingerprint_files(paths: Iterable[Path], root: Path, content: bool) -> str:
    """Hash of the files' paths relative to `root` and sizes, plus their bytes when `content`."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{path.relative_to(root).as_posix()}:{path.stat().st_size};".encode())
        if content:
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:20]


def cache_path(cache_dir: Path, name: str, key: str) -> Path:
    """`<cache_dir>/<name>-<key>.npz`."""
    return cache_dir / f"{name}-{key}.npz"


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays stored at `path`, or None when there is no (readable) entry."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except (OSError, ValueError, EOFError):
        return None  # a damaged entry is rebuilt, not trusted


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Write `arrays` compressed to `path` atomically (temporary file in the same folder + os.replace)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    except OSError as exc:
        raise DataError(
            f"cache folder {path.parent} is not writable ({exc.strerror or exc}); "
            f"pass cache_dir or set ${CACHE_ENV_VAR} to a writable folder"
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
