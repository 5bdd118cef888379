"""Find model cards (``models/``) and hardware profiles (``hardware/``) by name or path.

Lookup order for a name: an explicit path to a ``.toml`` file, then the directory in
``$SPIKEFA_MODELS`` / ``$SPIKEFA_HARDWARE``, then the copy shipped in the installed wheel, then
the repository checkout's ``models/`` / ``hardware/`` next to the package.

The wheel ships the TOML files as data files under ``<prefix>/share/spikefa/<kind>/`` (see
``[tool.setuptools.data-files]`` in pyproject.toml); they are found through the wheel's RECORD
with `importlib.metadata`, so any install prefix works. The shipped copy is used only when the
imported package *is* that installed distribution, so a stale install never shadows a checkout.
"""

from __future__ import annotations

import importlib.metadata
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from spikefa.errors import ConfigError
from spikefa.schemas.card import ModelCard, parse_card

Kind = Literal["models", "hardware"]

# kind -> (environment variable overriding the search, what one file is called in messages)
KINDS: dict[str, tuple[str, str]] = {
    "models": ("SPIKEFA_MODELS", "model card"),
    "hardware": ("SPIKEFA_HARDWARE", "hardware profile"),
}
_DIST = "spikefa"
_PACKAGE_DIR = Path(__file__).resolve().parent


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"kind = {kind!r} is not allowed; expected one of: {', '.join(KINDS)}")


def _env_dir(kind: str) -> Path | None:
    var = KINDS[kind][0]
    value = os.environ.get(var)
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        raise ConfigError(f"${var} = {value!r} is not a directory; set it to a directory of "
                          f".toml files or unset it")
    return path


def _installed_dir(kind: str) -> Path | None:
    """``<prefix>/share/spikefa/<kind>`` of the installed wheel that this module was loaded from."""
    try:
        dist = importlib.metadata.distribution(_DIST)
    except importlib.metadata.PackageNotFoundError:
        return None
    if Path(str(dist.locate_file("spikefa/catalog.py"))).resolve() != Path(__file__).resolve():
        return None  # the running package is not that distribution (a checkout, an editable)
    for entry in dist.files or ():
        if entry.suffix == ".toml" and entry.parts[-4:-1] == ("share", "spikefa", kind):
            return Path(str(entry.locate())).resolve().parent
    return None


def _checkout_dir(kind: str) -> Path | None:
    """``models/`` or ``hardware/`` of the repository checkout the package is imported from."""
    root = _PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / kind).is_dir():
        return root / kind
    return None


def search_dirs(kind: Kind = "models") -> list[Path]:
    """The directories searched for a name, highest precedence first."""
    _check_kind(kind)
    found = (_env_dir(kind), _installed_dir(kind), _checkout_dir(kind))
    return [d for d in found if d is not None]


def list_names(kind: Kind = "models") -> list[str]:
    """Every name that `find_file` can resolve, sorted."""
    return sorted({p.stem for d in search_dirs(kind) for p in d.glob("*.toml")})


def _is_path(name_or_path: str | os.PathLike[str]) -> bool:
    text = os.fspath(name_or_path)
    return isinstance(name_or_path, os.PathLike) or text.endswith(".toml") or os.sep in text


def find_file(name_or_path: str | os.PathLike[str], kind: Kind = "models") -> Path:
    """Resolve a name (``lenet``) or a path (``my/card.toml``) to an existing .toml file."""
    _check_kind(kind)
    what = KINDS[kind][1]
    if _is_path(name_or_path):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"{what} file {os.fspath(name_or_path)!r} does not exist; "
                              f"give a path to a .toml file or one of the names: {', '.join(list_names(kind))}")
        return path
    dirs = search_dirs(kind)
    for directory in dirs:
        candidate = directory / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    names = list_names(kind)
    available = ", ".join(names) or "none"
    searched = ", ".join(str(d) for d in dirs) or "no directories"
    import difflib

    near = difflib.get_close_matches(os.fspath(name_or_path), names, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}? " if near else ""
    raise ConfigError(f"unknown {what} {os.fspath(name_or_path)!r}; {hint}available: {available} "
                      f"(searched {searched}; ${KINDS[kind][0]} adds a directory)")


def read_toml(path: Path) -> dict[str, Any]:
    """Parse one TOML file; a syntax error names the file and the position."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None


def find_card(name_or_path: str | os.PathLike[str]) -> Path:
    """The .toml file of a model card, by name or path."""
    return find_file(name_or_path, "models")


def load_card(name_or_path: str | os.PathLike[str]) -> ModelCard:
    """Find, read and validate a model card. A factory given as a relative ``file.py`` path is made
    absolute from the card's folder, so the stored card still finds it from anywhere."""
    path = find_card(name_or_path)
    mapping = read_toml(path)
    arch = mapping.get("architecture")
    if mapping.get("arch") == "snntorch" and isinstance(arch, dict) and isinstance(arch.get("factory"), str):
        where, _, name = arch["factory"].rpartition(":")
        if where.endswith(".py") and not Path(where).is_absolute():
            mapping["architecture"] = {**arch, "factory": f"{(path.parent / where).resolve()}:{name}"}
    return parse_card(mapping, str(path))


def list_cards() -> list[str]:
    """Names of all model cards that `load_card` can find."""
    return list_names("models")
