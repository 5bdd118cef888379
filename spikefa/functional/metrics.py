"""Small pure measurements used by diagnostics and tests."""

from __future__ import annotations

import math

import torch


def angle_degrees(a: torch.Tensor, b: torch.Tensor) -> float:
    """Angle between two tensors seen as flat vectors, in degrees (90 when either is zero)."""
    a64, b64 = a.detach().reshape(-1).double(), b.detach().reshape(-1).double()
    na, nb = a64.norm(), b64.norm()
    if na == 0 or nb == 0:
        return 90.0
    cos = float((a64 @ b64) / (na * nb))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))
