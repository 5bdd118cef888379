"""Competitive Hebbian learning as pure functions (batch first, no state): Krotov & Hopfield's
ranking-based rule, SoftHebb's soft winner-take-all rule, their activations and learning rates.

Every ``*_update`` returns the *direction* ΔW (shaped like W = [units, inputs]) summed over the
batch; both reference implementations scale it so its largest entry is 1 before applying a rate
(`scaled_to_max`), so the batch sum and the batch mean give the same step.

- Krotov & Hopfield (2019, PNAS 116:7723, eq. 3 and 9-10): ⟨W_μ, x⟩ = Σ_i sign(W_μi)|W_μi|^(p−1) x_i
  (the Lebesgue-p overlap); per input the most active unit gets g = 1 (Hebbian), the k-th most active
  g = −Δ (anti-Hebbian), the others 0; ΔW_μ = Σ_b g_μb (x_b − ⟨W_μ, x_b⟩ W_μ). On the unit p-sphere
  (Σ_i |W_μi|^p = 1) the update is tangent to it, so the sphere is where every learning unit's
  weights converge.
- SoftHebb (Journé, Garcia Rodriguez, Guo & Moraitis, ICLR 2023, eq. 1-3; Moraitis et al. 2022):
  u = W x, y = softmax(u / τ) over the units, ΔW_k = Σ_b y_kb (x_b − u_kb W_k); its anti-Hebbian
  variant flips the sign of y for every unit but the winner (argmax u). The rule drives each unit's
  L2 norm to 1; the adaptive rate η_k = η₀·|‖W_k‖₂ − 1|^q of the reference code fast-forwards there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

PRECISION = 1e-30
"""Floor of the largest |ΔW| a step is divided by (Krotov's ``prec``), so an all-zero ΔW stays zero."""


def lebesgue_weights(w: torch.Tensor, p: float) -> torch.Tensor:
    """sign(W)·|W|^(p−1), the weights the Lebesgue-p overlap ⟨W, x⟩ multiplies x by (W for p = 2;
    W·|W| for the paper's p = 3, two passes over W instead of four)."""
    if p == 2.0:
        return w
    return w * w.abs() if p == 3.0 else w.sign() * w.abs().pow(p - 1.0)


def p_norms(w: torch.Tensor, p: float) -> torch.Tensor:
    """‖W_μ‖_p^p = Σ_i |W_μi|^p per unit: [units, ...] -> [units] (1 on the unit p-sphere)."""
    return w.reshape(w.shape[0], -1).abs().pow(p).sum(1)


def krotov_activity(overlap: torch.Tensor, k: int, delta: float) -> torch.Tensor:
    """g(Q) of Krotov & Hopfield (eq. 10), by rank in each row: overlap [B, units] -> g [B, units]
    with 1 at the most active unit, −Δ at the k-th most active (k ≥ 2), 0 elsewhere. Ties are broken
    by `torch.topk`. Raises ValueError for k < 2 or k > units."""
    if not 2 <= k <= overlap.shape[1]:
        raise ValueError(f"Krotov ranking k = {k!r} is not allowed; expected 2 <= k <= {overlap.shape[1]} (units)")
    top = overlap.topk(k, dim=1).indices
    g = torch.zeros_like(overlap)
    rows = torch.arange(overlap.shape[0], device=overlap.device)
    g[rows, top[:, 0]] = 1.0
    g[rows, top[:, k - 1]] = -delta
    return g


def krotov_update(x: torch.Tensor, w: torch.Tensor, p: float, k: int, delta: float) -> torch.Tensor:
    """Krotov & Hopfield's ΔW (eq. 3 with g of eq. 10), summed over the batch: x [B, inputs],
    W [units, inputs] -> [units, inputs]."""
    overlap = x.matmul(lebesgue_weights(w, p).t())  # [B, units]
    g = krotov_activity(overlap, k, delta)
    return g.t().matmul(x) - (g * overlap).sum(0).unsqueeze(1) * w


def krotov_step_(w: torch.Tensor, x: torch.Tensor, p: float, k: int, delta: float, lr: float) -> torch.Tensor:
    """W += lr · ΔW / max|ΔW| in place, ΔW = `krotov_update` (x [B, inputs], W [units, inputs]); returns
    the indices of the units that moved. Only the units some input ranked first or k-th have a
    non-zero row of ΔW (at most 2·B of them), so only those rows are computed and written: the same
    step as the dense ΔW and `scaled_to_max`, at a fraction of the memory traffic for 2,000 units."""
    overlap = x.matmul(lebesgue_weights(w, p).t())  # [B, units]
    g = krotov_activity(overlap, k, delta)
    rows = g.ne(0).any(0).nonzero().squeeze(1)
    if rows.numel() == 0:  # an empty batch moves nothing
        return rows
    gr = g.index_select(1, rows)  # [B, r]
    d = gr.t().matmul(x) - (gr * overlap.index_select(1, rows)).sum(0).unsqueeze(1) * w.index_select(0, rows)
    w.index_add_(0, rows, scaled_to_max(d), alpha=lr)
    return rows


def softhebb_activity(u: torch.Tensor, temperature: float, anti_hebbian: bool = True, dim: int = 1) -> torch.Tensor:
    """The soft winner-take-all y = softmax(u / τ) over ``dim`` (the units); with ``anti_hebbian``
    every unit but the winner (argmax u) gets −y (SoftHebb's anti-Hebbian variant)."""
    y = torch.softmax(u / temperature, dim=dim)
    if not anti_hebbian:
        return y
    winner = F.one_hot(u.argmax(dim=dim), u.shape[dim]).movedim(-1, dim).to(y.dtype)
    return y * (2.0 * winner - 1.0)


def softhebb_update(x: torch.Tensor, u: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """SoftHebb's ΔW_k = Σ_b y_kb (x_b − u_kb W_k), summed over the batch: x [B, inputs], u and y
    [B, units], W [units, inputs] -> [units, inputs]."""
    return y.t().matmul(x) - (y * u).sum(0).unsqueeze(1) * w


def conv_patches(x: torch.Tensor, kernel_size: tuple[int, int], stride: tuple[int, int],
                 padding: tuple[int, int], dilation: tuple[int, int], padding_mode: str = "zeros") -> torch.Tensor:
    """The receptive fields a Conv2d sees, one per output position: x [B, C, H, W] ->
    [B·H'·W', C·kh·kw] (rows in the order of ``u.permute(0, 2, 3, 1).reshape(-1, C_out)``), so a
    convolution's local rule is the fully connected one on patches."""
    if padding_mode != "zeros" and any(padding):
        ph, pw = padding
        x = F.pad(x, (pw, pw, ph, ph), mode=padding_mode)
        padding = (0, 0)
    cols = F.unfold(x, kernel_size, dilation=dilation, padding=padding, stride=stride)  # [B, D, L]
    return cols.transpose(1, 2).reshape(-1, cols.shape[1])


def scaled_to_max(delta: torch.Tensor) -> torch.Tensor:
    """ΔW / max|ΔW| (largest entry 1), as both reference codes scale every step."""
    return delta / delta.abs().max().clamp_min(PRECISION)


def adaptive_rate(w: torch.Tensor, lr: float, power: float) -> torch.Tensor:
    """SoftHebb's per-unit rate η₀·(|‖W_k‖₂ − 1| + 1e-10)^q: [units, ...] -> [units] (the reference
    code's ``lr_adaptive``): fast far from the unit sphere, vanishing on it."""
    norm = w.reshape(w.shape[0], -1).norm(dim=1)
    return lr * ((norm - 1.0).abs() + 1e-10).pow(power)


def repu(u: torch.Tensor, n: float) -> torch.Tensor:
    """The rectified power unit relu(u)^n, Krotov & Hopfield's read-out activation (eq. 11)."""
    return torch.relu(u).pow(n)


def triangle(u: torch.Tensor, power: float = 1.0, dim: int = 1) -> torch.Tensor:
    """SoftHebb's triangle activation relu(u − mean over units of u)^power (Coates et al. 2011's
    triangle k-means, raised to a power); ``dim`` holds the units (channels)."""
    return torch.relu(u - u.mean(dim=dim, keepdim=True)).pow(power)
