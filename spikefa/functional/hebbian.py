"""Hebbian terms as pure functions of pre- and post-synaptic activity (batch first).

Every function returns the *increase* a rule asks for (ΔW, shaped like W = [out, in]), averaged
over the batch. A caller that wants the optimiser to apply ΔW hands it ``-ΔW`` as a gradient.
"""

from __future__ import annotations

import torch


def hebb(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Hebb's rule ΔW = y xᵀ (Hebb 1949), batch-averaged: x [B, in], y [B, out] -> [out, in]."""
    return y.t().matmul(x) / x.shape[0]


def oja(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Oja's rule Δw_i = y_i (x − y_i w_i) (Oja 1982), batch-averaged; keeps ‖w_i‖ near 1."""
    return (y.t().matmul(x) - (y * y).sum(0).unsqueeze(1) * w) / x.shape[0]


def sparsify(delta: torch.Tensor, p: float) -> torch.Tensor:
    """Gradient sparsity (HebbNet, Gupta et al. 2021): keep the fraction ``p`` of entries with the
    largest |ΔW| in the whole matrix (ties broken by ``topk``), zero the rest."""
    if p >= 1.0:
        return delta
    k = max(1, int(round(p * delta.numel())))
    flat = delta.reshape(-1)
    keep = torch.zeros_like(flat)
    idx = flat.abs().topk(k, sorted=False).indices
    keep[idx] = flat[idx]
    return keep.view_as(delta)


def thresholded(y: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Post-synaptic activity above a per-unit threshold θ (HebbNet's updated activation
    threshold): relu(y − θ), so only above-threshold responses are reinforced."""
    return torch.relu(y - theta)


def running_mean(old: torch.Tensor, batch: torch.Tensor, momentum: float, first: bool) -> torch.Tensor:
    """Exponential running mean over batches (the first batch initialises it)."""
    m = batch.mean(0)
    return m if first else momentum * old + (1.0 - momentum) * m


def hebbian_term(kind: str, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """ΔW by ``kind`` ("hebb" or "oja")."""
    return hebb(x, y) if kind == "hebb" else oja(x, y, w)
