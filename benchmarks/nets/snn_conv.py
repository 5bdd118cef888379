"""snnTorch's tutorial convolutional network (Eshraghian et al. 2023, tutorial 6), written as a user
would, for `spikefa train --model benchmarks/cards/snn-tutorial-conv.toml`:
12C5-MP2-64C5-MP2-1024FC10, Leaky neurons (beta 0.5), pooling of the currents before each neuron."""

from __future__ import annotations

import snntorch as snn
from snntorch import surrogate
from torch import nn


def tutorial_conv(input_shape: tuple[int, int, int], num_classes: int, beta: float = 0.5,
                  pool: type[nn.Module] = nn.MaxPool2d) -> nn.Sequential:
    c, h, w = input_shape
    side = ((h - 4) // 2 - 4) // 2  # 28 -> 24 -> 12 -> 8 -> 4
    grad = surrogate.fast_sigmoid(slope=25)
    return nn.Sequential(
        nn.Conv2d(c, 12, 5), pool(2), snn.Leaky(beta=beta, spike_grad=grad, init_hidden=True),
        nn.Conv2d(12, 64, 5), pool(2), snn.Leaky(beta=beta, spike_grad=grad, init_hidden=True),
        nn.Flatten(), nn.Linear(64 * side * side, num_classes),
        snn.Leaky(beta=beta, spike_grad=grad, init_hidden=True, output=True),
    )


def tutorial_conv_avgpool(input_shape: tuple[int, int, int], num_classes: int) -> nn.Sequential:
    """The same network with average pooling (2×2), which NIR can hold (``AvgPool2d``) and max
    pooling it cannot: the deployable twin for NIR export."""
    return tutorial_conv(input_shape, num_classes, pool=nn.AvgPool2d)
