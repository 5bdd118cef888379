"""A user's recurrent snnTorch network (one all-to-all `RLeaky` hidden layer), written as snnTorch's
tutorials teach, for `spikefa train --model benchmarks/cards/snn-rleaky.toml`."""

from __future__ import annotations

import snntorch as snn
from snntorch import surrogate
from torch import nn


def recurrent_mlp(input_shape: tuple[int, int, int], num_classes: int, hidden: int = 256,
                  beta: float = 0.9) -> nn.Sequential:
    """784-256r-10: Linear → RLeaky (all-to-all recurrent weights V, subtract reset) → Linear → Leaky."""
    c, h, w = input_shape
    grad = surrogate.atan()
    return nn.Sequential(
        nn.Flatten(), nn.Linear(c * h * w, hidden),
        snn.RLeaky(beta=beta, linear_features=hidden, all_to_all=True, spike_grad=grad, init_hidden=True),
        nn.Linear(hidden, num_classes),
        snn.Leaky(beta=beta, spike_grad=grad, init_hidden=True, output=True),
    )
