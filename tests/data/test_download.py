"""download_dataset against local http.server mirrors: md5 checks, mirror fallback, atomic files."""

from __future__ import annotations

import functools
import shutil
import tarfile
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from spikefa.data import download_dataset, load_dataset
from spikefa.data.cifar import SUBDIR
from spikefa.data.download import md5_file, safe_extract
from spikefa.data.sources import MNIST_SOURCE
from spikefa.errors import DataError

from .fakes import REAL_MNIST, tar_gz, write_fake_cifar, write_fake_mnist

CLOSED_PORT = "http://127.0.0.1:1/"  # nothing listens there: connection refused


class _Handler(SimpleHTTPRequestHandler):
    """Static files, quiet, remembering which paths were asked for."""

    requested: list[str]

    def log_message(self, format: str, *args: object) -> None:
        type(self).requested.append(self.path)


@pytest.fixture()
def serve() -> Iterator[Callable[[Path], tuple[str, list[str]]]]:
    """Start a server on 127.0.0.1 (free port, own thread) for a folder: (base URL, request log)."""
    servers: list[ThreadingHTTPServer] = []

    def start(folder: Path) -> tuple[str, list[str]]:
        log: list[str] = []
        handler = type("Handler", (_Handler,), {"requested": log})
        server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/", log

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def mnist_files(tmp_path: Path) -> Path:
    """The four MNIST .gz files to serve: copies of the shared real ones, else generated fakes."""
    folder = tmp_path / "served"
    if REAL_MNIST.is_dir():
        shutil.copytree(REAL_MNIST, folder)
        for path in folder.iterdir():
            path.chmod(0o644)
    else:
        write_fake_mnist(folder, n_train=30, n_test=10)
    return folder


def served_checksums(folder: Path) -> dict[str, str] | None:
    """None (use the canonical md5s) if the served files are the canonical ones, else their md5s.

    The shared files in ../shared/data/mnist are re-encoded byte-exact in content from the pickled
    MNIST distribution, so their gzip bytes (and md5s) differ from the canonical .gz files: the
    tests then pass `checksums=` computed from the files being served.
    """
    sums = {path.name: md5_file(path) for path in folder.iterdir()}
    return None if sums == MNIST_SOURCE.checksums else sums


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".")]


def _load(root: Path) -> dict[str, int]:
    val = None if REAL_MNIST.is_dir() else 5
    return load_dataset("mnist", data_dir=root, val_size=val).sizes()


def test_download_then_load(tmp_path: Path, mnist_files: Path, serve: Callable) -> None:
    url, log = serve(mnist_files)
    sums = served_checksums(mnist_files)
    root = tmp_path / "root"
    dest = download_dataset("mnist", root=root, mirrors=[url], progress=True, checksums=sums)
    assert dest == root / "mnist"
    for name, md5 in (sums or MNIST_SOURCE.checksums).items():
        assert md5_file(dest / name) == md5
    assert len(log) == 4 and not _leftovers(root)
    sizes = _load(root)
    assert sizes["test"] == (10_000 if REAL_MNIST.is_dir() else 10)
    # already present with the right md5: nothing is fetched (the mirror is dead)
    assert download_dataset("mnist", root=root, mirrors=[CLOSED_PORT], progress=False, checksums=sums) == dest


def _corrupt_copy(source: Path, folder: Path) -> Path:
    folder.mkdir()
    for path in source.iterdir():
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        (folder / path.name).write_bytes(bytes(raw))
    return folder


def test_corrupt_mirror_rejected_next_used(tmp_path: Path, mnist_files: Path, serve: Callable) -> None:
    bad_url, bad_log = serve(_corrupt_copy(mnist_files, tmp_path / "bad"))
    good_url, _ = serve(mnist_files)
    sums = served_checksums(mnist_files)
    root = tmp_path / "root"
    dest = download_dataset("mnist", root=root, mirrors=[bad_url, good_url], progress=False, checksums=sums)
    assert len(bad_log) == 4 and not _leftovers(root)
    assert {p.name: md5_file(p) for p in dest.iterdir()} == (sums or MNIST_SOURCE.checksums)
    _load(root)


def test_present_but_corrupt_file_is_replaced(tmp_path: Path, mnist_files: Path, serve: Callable) -> None:
    url, log = serve(mnist_files)
    sums = served_checksums(mnist_files)
    dest = download_dataset("mnist", root=tmp_path, mirrors=[url], progress=False, checksums=sums)
    (dest / "t10k-labels-idx1-ubyte.gz").write_bytes(b"garbage")
    download_dataset("mnist", root=tmp_path, mirrors=[url], progress=False, checksums=sums)
    assert log[-1] == "/t10k-labels-idx1-ubyte.gz" and len(log) == 5
    assert (
        md5_file(dest / "t10k-labels-idx1-ubyte.gz")
        == (sums or MNIST_SOURCE.checksums)["t10k-labels-idx1-ubyte.gz"]
    )


def test_all_mirrors_fail_one_error(tmp_path: Path, mnist_files: Path, serve: Callable) -> None:
    bad_url, _ = serve(_corrupt_copy(mnist_files, tmp_path / "bad"))
    empty = tmp_path / "empty"
    empty.mkdir()
    missing_url, _ = serve(empty)
    root = tmp_path / "root"
    mirrors = [bad_url, missing_url, CLOSED_PORT]
    with pytest.raises(DataError) as info:
        download_dataset(
            "mnist", root=root, mirrors=mirrors, progress=False, checksums=served_checksums(mnist_files)
        )
    message = str(info.value)
    assert "\n" not in message and "train-images-idx3-ubyte.gz" in message
    assert all(m + "train-images-idx3-ubyte.gz" in message for m in mirrors)
    assert "md5" in message and "HTTP 404" in message
    assert f"copy the files (train-images-idx3-ubyte.gz, " in message and f"into {root / 'mnist'}/ by hand" in message
    assert not root.exists() or not any(root.rglob("*"))  # nothing partial left behind


def test_default_checksums_are_canonical(tmp_path: Path, serve: Callable) -> None:
    write_fake_mnist(tmp_path / "served")
    url, _ = serve(tmp_path / "served")
    with pytest.raises(DataError, match="expected f68b3c2dcbeaaa9fbdd348bbdeb94873"):
        download_dataset("mnist", root=tmp_path / "root", mirrors=url, progress=False)
    assert not (tmp_path / "root" / "mnist").exists()


def test_bad_requests() -> None:
    with pytest.raises(DataError, match="needs no download"):
        download_dataset("digits")
    with pytest.raises(DataError, match="unknown dataset"):
        download_dataset("imagenet")
    with pytest.raises(DataError, match=r"dataset 'nmnist' \(events\) is not downloaded by spikefa: download Train"):
        download_dataset("nmnist")  # one registry: an event dataset is known, and the message says how to get it
    with pytest.raises(DataError, match=r"dataset 'nmnist-synth' \(events\) .*`spikefa data download mnist`"):
        download_dataset("nmnist-synth")
    with pytest.raises(DataError, match="checksums for unknown files"):
        download_dataset("mnist", checksums={"other.gz": "0" * 32})


def test_cifar10_archive_download_and_load(tmp_path: Path, serve: Callable) -> None:
    batches = write_fake_cifar(tmp_path / "batches", n_per_batch=3)
    members = {f"{SUBDIR}/{name}": (tmp_path / "batches" / name).read_bytes() for name in batches}
    members[f"{SUBDIR}/batches.meta.txt"] = b"airplane\n"
    served = tmp_path / "served"
    served.mkdir()
    archive = tar_gz(served / "cifar-10-binary.tar.gz", members)
    url, _ = serve(served)
    root = tmp_path / "root"
    sums = {archive.name: md5_file(archive)}
    dest = download_dataset("cifar10", root=root, mirrors=[url], progress=False, checksums=sums)
    assert (dest / SUBDIR / "test_batch.bin").is_file() and not _leftovers(root)
    assert load_dataset("cifar10", data_dir=root, val_size=3).sizes() == {"train": 12, "val": 3, "test": 3}


@pytest.mark.parametrize("member", ["../evil.bin", "/tmp/evil.bin", f"{SUBDIR}/../../evil.bin"])
def test_unsafe_archive_paths_rejected(tmp_path: Path, member: str) -> None:
    dest = tmp_path / "a" / "b"
    dest.mkdir(parents=True)
    archive = tar_gz(tmp_path / "evil.tar.gz", {f"{SUBDIR}/ok.bin": b"1", member: b"x"})
    with pytest.raises(DataError, match="unsafe member path") as info:
        safe_extract(archive, dest, SUBDIR)
    assert str(archive) in str(info.value)
    assert not list(dest.iterdir()) and not list(tmp_path.rglob("evil.bin"))


def test_archive_links_rejected(tmp_path: Path) -> None:
    archive = tmp_path / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        link = tarfile.TarInfo(f"{SUBDIR}/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(DataError, match="links and devices"):
        safe_extract(archive, dest, SUBDIR)
    assert not list(dest.iterdir())


@pytest.mark.parametrize(("fields", "message"), [
    ({"mirrors": ()}, "mirrors = [] is not allowed; expected a non-empty list of base URLs, each ending with '/'"),
    ({"mirrors": ("http://x",)}, "mirrors = ['http://x'] is not allowed; expected a non-empty list of base URLs"),
    ({"files": (("a/b", "0" * 32),)}, "files = [['a/b', '0000"),
    ({"files": (("a", "0" * 32), ("b", "1" * 32)), "extracts_to": "d"},
     "extracts_to = 'd' is not allowed; expected nothing (None) unless there is exactly one archive file"),
])
def test_download_spec_refuses_bad_fields_by_name(fields: dict[str, object], message: str) -> None:
    from spikefa.data.sources import DownloadSpec

    spec = {"mirrors": ("http://x/",), "files": (("a", "0" * 32),), **fields}
    with pytest.raises(DataError) as info:
        DownloadSpec(**spec)  # type: ignore[arg-type]
    assert str(info.value).startswith("DownloadSpec: " + message)
