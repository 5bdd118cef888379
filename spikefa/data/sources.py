"""Where each downloadable dataset comes from: mirrors, file names and their published md5s.

The md5s are those of the canonical distribution files, as listed by torchvision and by the
dataset authors (CIFAR-10: https://www.cs.toronto.edu/~kriz/cifar.html).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from spikefa.data.record import DataRecord
from spikefa.schemas.validate import require

_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class DownloadSpec(DataRecord):
    """Files to fetch (name -> md5) from the first mirror that serves a correct copy.

    `extracts_to`: for a tar.gz archive, the folder it unpacks to (None: the files are used as-is).
    """

    LABEL: ClassVar[str] = "DownloadSpec:"
    UNCHECKED: ClassVar[tuple[str, ...]] = ("files",)  # pairs may come as lists; checked in `check`

    mirrors: tuple[str, ...]
    files: tuple[tuple[str, str], ...]
    extracts_to: str | None = None

    def check(self) -> None:
        require("mirrors", self.mirrors, bool(self.mirrors) and all(m.endswith("/") for m in self.mirrors),
                "a non-empty list of base URLs, each ending with '/'")
        ok = isinstance(self.files, tuple | list) and bool(self.files) and all(
            isinstance(f, tuple | list) and len(f) == 2 and all(isinstance(v, str) for v in f)
            and "/" not in f[0] and _MD5.match(f[1]) for f in self.files)
        require("files", self.files, ok, "a non-empty list of (bare file name, 32 hex digit md5) pairs")
        require("extracts_to", self.extracts_to, self.extracts_to is None or len(self.files) == 1,
                "nothing (None) unless there is exactly one archive file")

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
