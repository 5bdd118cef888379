"""An error-driven linear readout for spike-count features, trained by the delta rule.

z = V·f + a with f = (r − μ)/σ (r: a feature vector, standardised by constants fixed from the
training data); the output error e = softmax(z) − onehot(y) updates

    ΔV = −η (eᵀ f / B + λ V),   Δa = −η Σ_b e_b / B

(the delta rule for a softmax unit, Widrow & Hoff 1960; for one layer it is what backprop, FA and
DFA all compute). The same e, sent through a fixed random matrix, is the third factor of
`spikefa.nn.stdp.three_factor`. Everything is a buffer updated in place; nothing is an autograd
parameter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from spikefa.errors import ConfigError


class DeltaReadout(nn.Module):
    """Softmax readout [features -> classes] with the delta rule (module docstring)."""

    def __init__(self, n_features: int, num_classes: int) -> None:
        super().__init__()
        if n_features < 1 or num_classes < 2:
            raise ConfigError(f"readout n_features = {n_features!r}, num_classes = {num_classes!r} are not allowed; "
                              "expected >= 1 and >= 2")
        self.register_buffer("weight", torch.zeros(num_classes, n_features))
        self.register_buffer("bias", torch.zeros(num_classes))
        self.register_buffer("shift", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    def fit_scaling(self, features: torch.Tensor, eps: float = 1e-3) -> None:
        """Fix μ and σ (per feature) from training features [N, n_features]; σ has a floor ``eps``."""
        self.shift.copy_(features.mean(0))
        self.scale.copy_(features.std(0).clamp(min=eps))

    def standardize(self, features: torch.Tensor) -> torch.Tensor:
        return (features.to(self.weight.dtype) - self.shift) / self.scale

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits [B, classes] of raw features [B, n_features]."""
        return F.linear(self.standardize(features), self.weight, self.bias)

    @torch.no_grad()
    def error(self, features: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """e = softmax(z) − onehot(y), [B, classes]."""
        z = self(features)
        return torch.softmax(z, 1) - F.one_hot(y, z.shape[1]).to(z.dtype)

    @torch.no_grad()
    def learn(self, features: torch.Tensor, y: torch.Tensor, lr: float, weight_decay: float = 0.0) -> torch.Tensor:
        """One delta-rule step on a batch; returns the error e [B, classes] it used."""
        f = self.standardize(features)
        z = F.linear(f, self.weight, self.bias)
        e = torch.softmax(z, 1) - F.one_hot(y, z.shape[1]).to(z.dtype)
        n = max(len(y), 1)
        self.weight.mul_(1.0 - lr * weight_decay).add_(e.t() @ f, alpha=-lr / n)
        self.bias.add_(e.sum(0), alpha=-lr / n)
        return e
