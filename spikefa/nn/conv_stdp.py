"""A convolutional STDP network's modules (Kheradpisheh, Ganjtabesh, Thorpe & Masquelier 2018,
Neural Networks 99:56-67), for `spikefa.nn.competitive.CompetitiveLearner` to train like its other
local layers: the conv layers learn by STDP with k-winner-take-all (`ConvSTDPPlasticity`, unsupervised,
greedy or together), the last ``nn.Linear`` read-out by the run's optimiser, ``frozen`` keeping the conv
layers at their initialization (the random-feature control).

The network is a flat ``nn.Sequential`` (`spikefa.nn.build.build_conv_stdp`):
``DoGLatency`` (images [B, 1, H, W] -> input spike times [B, 2, H, W]), per layer a `SpikingConv`
(spike times -> spike times after lateral inhibition; the last one -> its final potentials or times),
``SpikePool`` between layers (earliest spike per window), ``MapFeatures`` ([B, maps]), and the read-out.
Spike times are floats in steps 0 … T−1, T meaning "never" (`spikefa.functional.conv_stdp`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from spikefa.functional.conv_stdp import (dog_filter, dog_kernel, first_spikes, if_potentials, k_winners,
                                          latency_code, latency_features, lateral_inhibition, potential_features,
                                          spike_pool, stdp_rates, stdp_update)
from spikefa.schemas.validate import Validated, require

Output = Literal["times", "potential"]


class DoGLatency(nn.Module):
    """Images [B, C, H, W] (C > 1 averaged) -> spike times [B, 2, H, W] of the on- and off-centre DoG
    responses by latency coding into ``steps`` steps (`spikefa.functional.conv_stdp`)."""

    def __init__(self, steps: int, size: int = 7, sigma_centre: float = 1.0, sigma_surround: float = 2.0) -> None:
        super().__init__()
        self.steps, self.size = int(steps), int(size)
        self.sigma_centre, self.sigma_surround = float(sigma_centre), float(sigma_surround)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel = dog_kernel(self.size, self.sigma_centre, self.sigma_surround)
        return latency_code(dog_filter(x, kernel), self.steps)

    def extra_repr(self) -> str:
        return f"steps={self.steps}, size={self.size}, sigmas=({self.sigma_centre:g}, {self.sigma_surround:g})"


class SpikingConv(nn.Conv2d):
    """A convolution (no bias, valid) of non-leaky IF neurons that fire at most once per image, at
    threshold θ (``threshold``): input spike times [B, C, H, W] -> output spike times after lateral
    inhibition [B, F, H', W'] (``output = "times"``), or the final potentials V[T−1] (``"potential"``,
    the paper's last layer before global max pooling). ``images_seen`` counts the images it learned
    from (the STDP rate schedule), saved with the model so a resumed run continues it."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, threshold: float, steps: int,
                 output: Output = "times", device: torch.device | str | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, bias=False, device=device)
        self.threshold, self.steps, self.output = float(threshold), int(steps), output
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.int64, device=device))

    def potentials(self, times: torch.Tensor) -> torch.Tensor:
        """[T, B, F, H', W'] (`spikefa.functional.conv_stdp.if_potentials`)."""
        return if_potentials(times, self.weight, self.steps, self.stride[0], self.padding[0])  # type: ignore[index]

    def forward(self, times: torch.Tensor) -> torch.Tensor:
        v = self.potentials(times)
        if self.output == "potential":
            return v[-1]
        t, v_fire = first_spikes(v, self.threshold)
        return lateral_inhibition(t, v_fire, self.steps)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, threshold={self.threshold:g}, steps={self.steps}, output={self.output}"


class SpikePool(nn.Module):
    """Spike-time max pooling: the earliest spike in each ``kernel`` window (``stride``)."""

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = int(kernel), int(stride)

    def forward(self, times: torch.Tensor) -> torch.Tensor:
        return spike_pool(times, self.kernel, self.stride)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}, stride={self.stride}"


class MapFeatures(nn.Module):
    """Per map one feature [B, maps]: the global max of the final potentials (``"potential"``), or
    1 − first-spike time / T (``"latency"``, from spike times)."""

    def __init__(self, kind: Output, steps: int) -> None:
        super().__init__()
        self.kind, self.steps = kind, int(steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return potential_features(x) if self.kind == "potential" else latency_features(x, self.steps)

    def extra_repr(self) -> str:
        return f"kind={self.kind}"


def init_paper(layer: SpikingConv, gen: torch.Generator, mean: float = 0.8, std: float = 0.05) -> None:
    """The paper's initialization: W ~ N(``mean``, ``std``²) clipped to [0, 1]; ``images_seen`` = 0."""
    with torch.no_grad():
        layer.weight.normal_(mean, std, generator=gen).clamp_(0.0, 1.0)
        layer.images_seen.zero_()  # type: ignore[operator]


@dataclass(frozen=True)
class ConvSTDPPlasticity(Validated):
    """Kheradpisheh et al.'s STDP for one `SpikingConv` layer: per image at most ``k`` winners
    (``radius``: inhibition radius in positions), Δw = A₊·w(1−w) for inputs that fired no later than
    the winner, A₋·w(1−w) for the others (A₋ = −``a_minus_ratio``·A₊), A₊ = ``a_plus`` doubled every
    ``double_every`` images (0: never) up to ``a_plus_max``; weights clipped to [0, 1]. A batch is
    computed with the weights as they are at its start and moves each map by the mean of its winners'
    updates (the paper learns image by image). ``init``: W ~ N(``init_mean``, ``init_std``²)."""

    LABEL = "rule 'conv-stdp' option"

    a_plus: float = 0.004
    a_minus_ratio: float = 0.75
    a_plus_max: float = 0.15
    double_every: int = 500
    k: int = 5
    radius: int = 2
    init_mean: float = 0.8
    init_std: float = 0.05

    def check(self) -> None:
        require("a_plus", self.a_plus, 0 < self.a_plus <= self.a_plus_max, "a number in (0, a_plus_max]")
        require("a_minus_ratio", self.a_minus_ratio, self.a_minus_ratio >= 0, "a number >= 0 (A₋ = −ratio·A₊)")
        require("double_every", self.double_every, self.double_every >= 0, "an integer >= 0 (0: never)")
        require("k", self.k, self.k >= 1, "an integer >= 1")
        require("radius", self.radius, self.radius >= 0, "an integer >= 0")
        require("init_mean", self.init_mean, 0 <= self.init_mean <= 1, "a number in [0, 1]")

    def init(self, layer: nn.Module, after_norm: bool, gen: torch.Generator) -> None:
        init_paper(layer, gen, self.init_mean, self.init_std)  # type: ignore[arg-type]

    def step(self, layer: nn.Module, x: torch.Tensor, epoch: int, epochs: int) -> None:
        """One batch of input spike times x [B, C, H, W] (the layer's input); ``epoch`` unused (the
        rate follows the images seen)."""
        conv: SpikingConv = layer  # type: ignore[assignment]
        t, v = first_spikes(conv.potentials(x), conv.threshold)
        winners = k_winners(t, v, self.k, self.radius, conv.steps)
        a_plus, a_minus = stdp_rates(self.a_plus, self.a_minus_ratio, int(conv.images_seen), self.double_every,
                                     self.a_plus_max)
        delta = stdp_update(conv.weight, x, t, winners, a_plus, a_minus, conv.stride[0], conv.padding[0])  # type: ignore[index]
        conv.weight.add_(delta).clamp_(0.0, 1.0)
        conv.images_seen += x.shape[0]
