"""One torch thread for these tests: the simulation runs many small ops, which two threads on a busy
two-core machine slow down many-fold (OpenMP hand-offs), and the machine is shared."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
