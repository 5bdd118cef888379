"""Spiking networks built from cards: synapse modules (Linear / Conv2d+pool) feeding snnTorch
``Leaky`` neurons, stepped through time-major inputs [T, B, ...].

``SpikingNet`` holds ``synapses`` (one module per layer, plain torch so every rule converter can
walk them) and ``neurons`` (one ``snntorch.Leaky`` per layer, with the card's β, threshold, reset
and surrogate). ``lif`` keeps the same parameters as `LIFParams`, which the online learners and
the exporters read; `spikefa.functional.lif.lif_step` reproduces ``Leaky`` bitwise.

The output layer is a LIF layer too: a class's score is its spike count over the T steps (ties
broken by the summed membrane potential), so a chip that only reports spikes classifies alike.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn
from torch.nn.utils import parametrize

from spikefa._optional import require
from spikefa.functional.lif import LIFParams
from spikefa.nn.card import NeuronSpec, SpikingLeNetArch, SpikingMLPArch

Shape = tuple[int, int, int]


class SpikeRecord(NamedTuple):
    """Output-layer spikes and membrane potentials, both [T, B, classes]."""

    spikes: torch.Tensor
    mem: torch.Tensor


def scores(record: SpikeRecord) -> torch.Tensor:
    """Class scores [B, classes]: spike count, ties broken by the summed membrane (squashed into
    (0, 1) so that it never outweighs one spike)."""
    return record.spikes.sum(0) + torch.sigmoid(record.mem.sum(0))


def lif_params(spec: NeuronSpec) -> LIFParams:
    """The card's neuron section as the pure step's parameters."""
    return LIFParams(beta=spec.beta, threshold=spec.threshold, reset=spec.reset, dt=spec.dt)


def leaky(spec: NeuronSpec) -> nn.Module:
    """An snnTorch Leaky neuron for the card's neuron section (state passed explicitly)."""
    snn = require("snntorch")
    grads = {"atan": snn.surrogate.atan, "fast-sigmoid": snn.surrogate.fast_sigmoid}
    return snn.Leaky(beta=spec.beta, threshold=spec.threshold, reset_mechanism=spec.reset,
                     spike_grad=grads[spec.surrogate]())


class SpikingNet(nn.Module):
    """Layers of (synapse, LIF); forward takes [T, B, ...] and returns the output `SpikeRecord`."""

    def __init__(self, synapses: list[nn.Module], neuron: NeuronSpec) -> None:
        super().__init__()
        self.synapses = nn.ModuleList(synapses)
        self.neurons = nn.ModuleList(leaky(neuron) for _ in synapses)
        self.neuron = neuron
        self.lif = tuple(lif_params(neuron) for _ in synapses)

    def forward(self, x: torch.Tensor) -> SpikeRecord:
        mems: list[torch.Tensor | None] = [None] * len(self.synapses)
        out_spk, out_mem = [], []
        # Parametrized weights (QAT's fake quantisation) are computed once per pass, not per step:
        # they cannot change while the sequence runs.
        with parametrize.cached():
            for x_t in x:
                h = x_t
                for i, (syn, neu) in enumerate(zip(self.synapses, self.neurons)):
                    current = syn(h)
                    mem = mems[i] if mems[i] is not None else torch.zeros_like(current)
                    h, mems[i] = neu(current, mem)
                out_spk.append(h)
                out_mem.append(mems[-1])
        return SpikeRecord(torch.stack(out_spk), torch.stack(out_mem))  # type: ignore[arg-type]


def mlp_synapses(arch: SpikingMLPArch, input_shape: Shape, num_classes: int) -> list[nn.Module]:
    """Flatten+Linear into the first layer, Linear between the others."""
    widths = [math.prod(input_shape), *arch.hidden, num_classes]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        linear = nn.Linear(a, b, bias=arch.bias)
        layers.append(nn.Sequential(nn.Flatten(), linear) if i == 0 else linear)
    return layers


def lenet_synapses(arch: SpikingLeNetArch, input_shape: Shape, num_classes: int) -> list[nn.Module]:
    """Conv (same padding) + 2x2 pool per channel count, then Flatten+Linear and Linear layers."""
    channels, height, width = input_shape
    pools = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}
    layers: list[nn.Module] = []
    for out in arch.channels:
        ops: list[nn.Module] = [nn.Conv2d(channels, out, arch.kernel_size, padding=arch.kernel_size // 2)]
        if height >= 2 and width >= 2:
            ops.append(pools[arch.pool](2))
            height, width = height // 2, width // 2
        layers.append(nn.Sequential(*ops))
        channels = out
    features = [channels * height * width, *arch.hidden, num_classes]
    for i, (a, b) in enumerate(zip(features, features[1:])):
        layers.append(nn.Sequential(nn.Flatten(), nn.Linear(a, b)) if i == 0 else nn.Linear(a, b))
    return layers


SYNAPSE_BUILDERS = {"snn-mlp": mlp_synapses, "snn-lenet": lenet_synapses}
