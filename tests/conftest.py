"""Suite-wide settings. Under pytest-xdist (the README's `make test` runs two workers on a 2-core
machine) each worker computes with one torch thread, so the workers do not oversubscribe the cores."""

from __future__ import annotations

import os

if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
