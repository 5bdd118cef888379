"""A user's own snnTorch network, written as snnTorch's tutorials teach (explicit state), for
`spikefa train --model benchmarks/cards/snn-explicit-1000.toml`: 784-1000-10 Leaky neurons."""

from __future__ import annotations

import snntorch as snn
import torch
from torch import nn


class Net(nn.Module):
    """Explicit-state style: each neuron's membrane is passed in and out of ``forward``."""

    def __init__(self, num_inputs: int, num_hidden: int, num_outputs: int, beta: float = 0.9) -> None:
        super().__init__()
        self.fc1 = nn.Linear(num_inputs, num_hidden)
        self.lif1 = snn.Leaky(beta=beta)
        self.fc2 = nn.Linear(num_hidden, num_outputs)
        self.lif2 = snn.Leaky(beta=beta)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [T, B, ...] -> output spikes and membranes, both [T, B, num_outputs]."""
        mem1, mem2 = self.lif1.init_leaky(), self.lif2.init_leaky()
        spk_rec, mem_rec = [], []
        for x_t in x:
            spk1, mem1 = self.lif1(self.fc1(x_t.flatten(1)), mem1)
            spk2, mem2 = self.lif2(self.fc2(spk1), mem2)
            spk_rec.append(spk2)
            mem_rec.append(mem2)
        return torch.stack(spk_rec), torch.stack(mem_rec)


def explicit_mlp(input_shape: tuple[int, int, int], num_classes: int, hidden: int = 1000) -> Net:
    c, h, w = input_shape
    return Net(c * h * w, hidden, num_classes)
