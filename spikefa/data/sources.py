"""Where each downloadable dataset comes from: mirrors, file names and their published md5s.

The md5s are those of the canonical distribution files, as listed by torchvision and by the
dataset authors (CIFAR-10: https://www.cs.toronto.edu/~kriz/cifar.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spikefa.errors import DataError

_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class DownloadSpec:
    """Files to fetch (name -> md5) from the first mirror that serves a correct copy.

    `extracts_to`: for a tar.gz archive, the folder it unpacks to (None: the files are used as-is).
    """

    mirrors: tuple[str, ...]
    files: tuple[tuple[str, str], ...]
    extracts_to: str | None = None

    def __post_init__(self) -> None:
        if not self.mirrors or not self.files:
            raise DataError("DownloadSpec: needs at least one mirror and one file")
        for mirror in self.mirrors:
            if not mirror.endswith("/"):
                raise DataError(f"DownloadSpec: mirror {mirror!r} must end with '/'")
        for name, md5 in self.files:
            if "/" in name or not _MD5.match(md5):
                raise DataError(f"DownloadSpec: file {name!r} md5 {md5!r} is not a bare name + 32 hex digits")
        if self.extracts_to is not None and len(self.files) != 1:
            raise DataError(f"DownloadSpec: extracts_to={self.extracts_to!r} needs exactly one archive file")

    @property
    def checksums(self) -> dict[str, str]:
        """File name -> expected md5."""
        return dict(self.files)


MNIST_SOURCE = DownloadSpec(
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
    files=(
        ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
        ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
        ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
    ),
)

FASHION_MNIST_SOURCE = DownloadSpec(
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    files=(
        ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
        ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
        ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
    ),
)

CIFAR10_SOURCE = DownloadSpec(
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    files=(("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"),),
    extracts_to="cifar-10-batches-bin",
)
