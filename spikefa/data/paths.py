"""Where a dataset's files live: explicit folder, then $SPIKEFA_DATA, then the user cache."""

from __future__ import annotations

import os
from pathlib import Path

from spikefa.errors import DataError

ENV_VAR = "SPIKEFA_DATA"


def cache_root() -> Path:
    """The user cache for datasets: `$XDG_CACHE_HOME/spikefa`, else `~/.cache/spikefa`."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "spikefa"


def data_root() -> Path:
    """The folder that holds one sub-folder per dataset: `$SPIKEFA_DATA` if set, else the cache."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else cache_root()


def _pick(base: Path, name: str) -> Path:
    """`base/<name>` when that folder exists (base is a root), else `base` (it holds the files)."""
    sub = base / name
    return sub if sub.is_dir() else base


def resolve_data_dir(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Folder holding dataset `name`'s files.

    Precedence: explicit `data_dir`, then `$SPIKEFA_DATA`, then `<cache>/spikefa/<name>`. The first
    two may be either the folder holding the files or a root containing a `<name>/` sub-folder.
    The path is not checked for existence here; the loader reports a missing folder or file.
    """
    if data_dir is not None:
        return _pick(Path(data_dir).expanduser(), name)
    env = os.environ.get(ENV_VAR)
    if env:
        return _pick(Path(env).expanduser(), name)
    return cache_root() / name


def download_hint(name: str) -> str:
    """The fix to quote when a dataset's files are missing."""
    return (
        f"download it with spikefa.data.download_dataset({name!r}), or pass data_dir / set "
        f"${ENV_VAR} to the folder holding the files"
    )


def require_dir(name: str, directory: Path) -> Path:
    """Return `directory` if it is a folder; else raise DataError naming it and the fix."""
    if not directory.is_dir():
        raise DataError(f"{name}: data directory {directory} does not exist; {download_hint(name)}")
    return directory
