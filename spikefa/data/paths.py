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


def _pick(base: Path, name: str, given_as: str) -> Path:
    """`base/<name>` when that folder exists (base is a root), else `base` (it holds the files).

    A file in place of the folder is refused here, naming how it was given (`given_as`)."""
    if base.is_file():
        raise DataError(
            f"{name}: {given_as}{base} is a file, not a folder; give the folder that holds the "
            f"dataset's files (e.g. {base.parent}) or a root with a {name}/ sub-folder"
        )
    sub = base / name
    return sub if sub.is_dir() else base


def resolve_data_dir(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Folder holding dataset `name`'s files.

    Precedence: explicit `data_dir`, then `$SPIKEFA_DATA`, then `<cache>/spikefa/<name>`. The first
    two may be either the folder holding the files or a root containing a `<name>/` sub-folder; a
    file given in their place raises DataError. Whether the folder exists is not checked here: the
    loader reports a missing folder or file.
    """
    if data_dir is not None:
        return _pick(Path(data_dir).expanduser(), name, "--data-dir (data_dir=) ")
    env = os.environ.get(ENV_VAR)
    if env:
        return _pick(Path(env).expanduser(), name, f"${ENV_VAR}=")
    return cache_root() / name


def where_hint() -> str:
    """How to point spikefa at a folder, for the command line and for Python."""
    return f"pass the folder as --data-dir DIR (Python: data_dir=DIR) or set ${ENV_VAR}"


def download_hint(name: str) -> str:
    """The fix to quote when a downloadable dataset's files are missing: the CLI command first.

    Without --data-dir the download goes to the user cache, where every loader looks by default."""
    return (
        f"download it with `spikefa data download {name} [--data-dir DIR]` (Python: "
        f"spikefa.data.download_dataset({name!r}, DIR)) and give the same DIR as --data-dir DIR "
        f"(Python: data_dir=DIR) or ${ENV_VAR}, or point those at a folder that already holds the files"
    )


def require_dir(name: str, directory: Path) -> Path:
    """Return `directory` if it is a folder; else raise DataError naming it and the fix."""
    if not directory.is_dir():
        raise DataError(f"{name}: data directory {directory} does not exist; {download_hint(name)}")
    return directory
