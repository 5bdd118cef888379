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


def relative_change(before: torch.Tensor, after: torch.Tensor) -> float:
    """‖after − before‖ / ‖before‖ (Frobenius), how far a matrix moved; 0 for an unchanged one,
    inf when ``before`` is zero and ``after`` is not."""
    b64, a64 = before.detach().double(), after.detach().double()
    num, den = float((a64 - b64).norm()), float(b64.norm())
    if num == 0.0:
        return 0.0
    return num / den if den > 0 else math.inf


DUPLICATE_COS = 0.95
"""Cosine similarity of two units' weight rows above which the later one counts as a duplicate."""


def unit_fractions(weight: torch.Tensor, response: torch.Tensor | None = None,
                   duplicate_cos: float = DUPLICATE_COS) -> dict[str, float]:
    """What a layer of units learned, as fractions of its ``out`` units (weight [out, in]):

    - ``dead``: units whose response [N, out] is the same on every probe input (a ReLU unit never
      active, a saturated one: it carries no information to the read-out); a unit with an all-zero
      weight row counts as dead too, also without a response;
    - ``duplicate``: units whose weight row has cosine similarity > ``duplicate_cos`` with an
      earlier unit's (each near-copy counted once; the first of a group is not a duplicate).
    """
    w = weight.detach().reshape(weight.shape[0], -1).double()
    n = w.shape[0]
    norms = w.norm(dim=1)
    dead = norms == 0
    if response is not None:
        r = response.detach().reshape(response.shape[0], n).double()
        spread = (r.max(0).values - r.min(0).values) if len(r) else torch.zeros(n, dtype=r.dtype)
        dead = dead | (spread <= 1e-9 * r.abs().max().clamp_min(1.0)).to(dead.device)
    unit = w / norms.clamp_min(1e-300).unsqueeze(1)
    cos = unit @ unit.t()
    earlier = torch.ones(n, n, dtype=torch.bool, device=w.device).tril(-1)  # [i, j]: j < i
    dup = ((cos > duplicate_cos) & earlier & (norms > 0).unsqueeze(0) & (norms > 0).unsqueeze(1)).any(1)
    return {"units": float(n), "dead": float(dead.double().mean()), "duplicate": float(dup.double().mean())}
