"""The one Adam of spikefa's training harness and of its benchmarks.

torch's fused Adam (one kernel per parameter tensor, for floating-point parameters on CPU or CUDA)
where every parameter allows it, else torch's default implementation. The default on the CPU is a
loop over the parameters that allocates the square root and the quotient of each; on a small MLP
that update is a sizeable share of a training step (`spikefa bench peers --only fa` times every
side, peers included, with this same optimiser). The fused update equals the default one to float
rounding (tests/train/test_optim.py). One difference shows outside the update: the fused kernel does
not advance a parameter's version counter (``p._version``), which QAT's iterative weight freezing
reads to tell one optimiser step from the next, so such runs ask for the default (``fused=False``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

FUSED_DEVICES = ("cpu", "cuda")


def _params(params_or_groups: list[Any]) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    for item in params_or_groups:
        out += list(item["params"]) if isinstance(item, dict) else [item]
    return out


def fusable(params: Iterable[torch.Tensor]) -> bool:
    """Whether torch's fused Adam takes every one of ``params``."""
    params = list(params)
    return bool(params) and all(p.is_floating_point() and p.device.type in FUSED_DEVICES for p in params)


def adam(params_or_groups: Iterable[Any], lr: float, weight_decay: float = 0.0,
         cls: type[torch.optim.Adam] = torch.optim.Adam, fused: bool = True) -> torch.optim.Adam:
    """``cls(params_or_groups, lr=lr, weight_decay=weight_decay)``, fused where `fusable` (and ``fused``)."""
    items = list(params_or_groups)
    fused = fused and fusable(_params(items))
    return cls(items, lr=lr, weight_decay=weight_decay, fused=True if fused else None)
