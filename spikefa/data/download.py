"""Fetch MNIST, Fashion-MNIST and CIFAR-10 (binary) from their canonical mirrors, md5-verified.

Each file is streamed to a temporary file beside its destination, checked against its md5, then
moved into place with `os.replace` (atomic): a failed or corrupt download leaves nothing behind
and the next mirror is tried. Only `urllib` is used; archives are unpacked member by member,
refusing absolute paths, `..` and anything that is not a plain file or folder.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import IO

from tqdm.auto import tqdm

from spikefa.data.paths import data_root
from spikefa.data.registry import get_dataset
from spikefa.data.sources import DownloadSpec
from spikefa.errors import DataError

TIMEOUT_S = 60.0
CHUNK = 1 << 20


def md5_file(path: str | os.PathLike[str]) -> str:
    """Hex md5 of a file, read in 1 MiB chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stream(url: str, handle: IO[bytes], label: str, progress: bool) -> None:
    """Copy the body at `url` into `handle`, with a tqdm byte counter."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=not progress) as bar:
            for chunk in iter(lambda: response.read(CHUNK), b""):
                handle.write(chunk)
                bar.update(len(chunk))


def _try_mirror(url: str, target: Path, md5: str, progress: bool) -> str | None:
    """Download `url` to `target` atomically if its md5 matches; return None or why it failed."""
    tmp: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False
        ) as handle:
            tmp = Path(handle.name)
            _stream(url, handle, target.name, progress)
        got = md5_file(tmp)
        if got != md5:
            return f"md5 {got} != expected {md5} (corrupt or different file)"
        os.replace(tmp, target)
        return None
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return f"{exc.reason}"
    except (OSError, ValueError) as exc:  # timeouts, resets, malformed URLs
        return f"{type(exc).__name__}: {exc}"
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def fetch_file(name: str, md5: str, mirrors: Sequence[str], dest: Path, progress: bool = True) -> Path:
    """`dest/name` with the given md5: kept if already correct, else from the first good mirror."""
    target = dest / name
    if target.is_file() and md5_file(target) == md5:
        return target
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        why = _try_mirror(url, target, md5, progress)
        if why is None:
            return target
        failures.append(f"{url}: {why}")
    raise DataError(f"could not download {target}: {'; '.join(failures)}")


def _check_member(archive: Path, member: tarfile.TarInfo) -> PurePosixPath:
    """The member's relative path, or DataError for absolute paths, '..', links and devices."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or member.name.startswith("\\"):
        raise DataError(f"{archive}: refusing unsafe member path {member.name!r}; the archive is not trusted")
    if not (member.isfile() or member.isdir()):
        raise DataError(f"{archive}: refusing member {member.name!r} (links and devices are not extracted)")
    return path


def safe_extract(archive: Path, dest: Path, top: str) -> Path:
    """Unpack `archive` (tar.gz) so that `dest/top` appears at once, or not at all."""
    members_dir = Path(tempfile.mkdtemp(dir=dest, prefix=f".{top}."))
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                relative = _check_member(archive, member)
                out = members_dir.joinpath(*relative.parts)
                if member.isdir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as source, out.open("wb") as sink:  # type: ignore[union-attr]
                    shutil.copyfileobj(source, sink, CHUNK)
        if not (members_dir / top).is_dir():
            raise DataError(f"{archive}: archive holds no {top}/ folder; delete it and download again")
        os.replace(members_dir / top, dest / top)
        return dest / top
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DataError(f"{archive}: cannot unpack ({exc}); delete it and download again") from None
    finally:
        shutil.rmtree(members_dir, ignore_errors=True)


def _checksums(spec: DownloadSpec, name: str, overrides: Mapping[str, str] | None) -> dict[str, str]:
    """The spec's md5s with `overrides` applied; an override for an unknown file is an error."""
    sums = spec.checksums
    unknown = sorted(set(overrides or {}) - set(sums))
    if unknown:
        raise DataError(f"download {name}: checksums for unknown files {unknown}; files are {sorted(sums)}")
    return {**sums, **(overrides or {})}


def download_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] | None = None,
    progress: bool = True,
    checksums: Mapping[str, str] | None = None,
) -> Path:
    """Download dataset `name` into `<root>/<name>` and return that folder.

    `root` defaults to `$SPIKEFA_DATA`, else the user cache (`~/.cache/spikefa`), so that
    `load_dataset(name, data_dir=root)` finds the files afterwards. `mirrors` (base URLs) and
    `checksums` (file name -> md5) replace the canonical ones, for tests and private mirrors.
    Files already present with the right md5 are not fetched again.
    """
    spec = get_dataset(name)
    if spec.download is None and not spec.needs_files:
        raise DataError(f"dataset {name!r} needs no download (it ships with its package)")
    if spec.download is None:
        raise DataError(f"dataset {name!r} ({spec.kind}) is not downloaded by spikefa: {spec.how_to_get}")
    sums = _checksums(spec.download, name, checksums)
    if isinstance(mirrors, str):
        mirrors = (mirrors,)
    chosen = tuple(mirrors) if mirrors else spec.download.mirrors
    base = Path(root).expanduser() if root is not None else data_root()
    if base.is_file():
        raise DataError(f"download {name}: --data-dir (root=) {base} is a file, not a folder; give the folder "
                        f"to download into (the files go to <folder>/{name}/)")
    dest = base / name
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        for filename, md5 in sums.items():
            archive = fetch_file(filename, md5, chosen, dest, progress)
            top = spec.download.extracts_to
            if top is not None and not (dest / top).is_dir():
                safe_extract(archive, dest, top)
    except DataError as exc:
        if created and not any(dest.iterdir()):
            dest.rmdir()  # leave no empty folder behind either
        if str(exc).startswith("could not download"):  # the network failed: say how to do without it
            raise DataError(f"{exc}. Without a network: copy the files ({', '.join(sums)}) into {dest}/ by hand, "
                            f"or give --mirror URL (a base URL holding them)") from None
        raise
    return dest
