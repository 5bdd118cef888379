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

The reward-modulated variant (Mozafari et al. 2018) is `RewardLearner`: the last `SpikingConv` is the
decision layer, learning by R-STDP (`RewardSTDP`) instead of a Linear read-out by gradient.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from spikefa.errors import SpikefaError
from spikefa.functional.conv_stdp import (dog_filter, dog_kernel, first_spike_decision, first_spikes,
                                          if_final_potential, if_potentials, k_winners, latency_code,
                                          latency_features, lateral_inhibition, potential_features, reward_rates,
                                          spike_pool, stdp_rates, stdp_update)
from spikefa.nn.competitive import images_to_learn, present, scheduled_layers
from spikefa.schemas.validate import Validated, require

Output = Literal["times", "potential"]


class ConvSTDPNet(nn.Sequential):
    """The ``conv-stdp`` card's flat network (`spikefa.nn.build.build_conv_stdp`): its own model kind
    (`spikefa.rules.spec.ModelKind` ``"conv-stdp"``), so rules that train by gradient or feedback
    alignment, which once-firing neurons give nothing to, refuse it by name."""


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
    """A convolution (no bias; valid unless ``padding``: zeros that never spike) of non-leaky IF
    neurons that fire at most once per image, at threshold θ (``threshold``): input spike times
    [B, C, H, W] -> output spike times [B, F, H', W'] (``output = "times"``), after lateral
    inhibition (at each position only the earliest map's spike) when ``inhibition``, else every
    threshold crossing (as SpykeTorch's re-implementations of Kheradpisheh et al. 2018 and Mozafari
    et al. 2019 pass spikes on: there the inhibition acts only where a layer picks its learning
    winners); or the final potentials V[T−1] (``"potential"``, the paper's last layer before global
    max pooling). ``images_seen`` counts the images it learned from (the STDP rate schedule), saved
    with the model so a resumed run continues it."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, threshold: float, steps: int,
                 output: Output = "times", padding: int = 0, device: torch.device | str | None = None,
                 inhibition: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=padding, bias=False, device=device)
        self.threshold, self.steps, self.output = float(threshold), int(steps), output
        self.inhibition = bool(inhibition)
        self.register_buffer("images_seen", torch.zeros((), dtype=torch.int64, device=device))

    def potentials(self, times: torch.Tensor) -> torch.Tensor:
        """[T, B, F, H', W'] (`spikefa.functional.conv_stdp.if_potentials`)."""
        return if_potentials(times, self.weight, self.steps, self.stride[0], self.padding[0])  # type: ignore[index]

    def forward(self, times: torch.Tensor) -> torch.Tensor:
        if self.output == "potential":  # only the final step: no other is read
            return if_final_potential(times, self.weight, self.steps, self.stride[0], self.padding[0])  # type: ignore[index]
        t, v_fire = first_spikes(self.potentials(times), self.threshold)
        return lateral_inhibition(t, v_fire, self.steps) if self.inhibition else t

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, threshold={self.threshold:g}, steps={self.steps}, output={self.output}"
                + ("" if self.inhibition else ", inhibition=False"))


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
    """The read-out's features: the max of the final potentials (``"potential"``) or 1 − first-spike
    time / T (``"latency"``, from spike times), per map over all positions (``pool`` 0: [B, maps]) or
    per ``pool`` x ``pool`` window ([B, maps·H''·W''])."""

    def __init__(self, kind: Output, steps: int, pool: int = 0) -> None:
        super().__init__()
        self.kind, self.steps, self.pool = kind, int(steps), int(pool)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "potential":
            return potential_features(x, self.pool)
        return latency_features(x, self.steps, self.pool)

    def extra_repr(self) -> str:
        return f"kind={self.kind}, pool={self.pool}"


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
    ``double_every`` images (0: never) up to ``a_plus_max``; weights clipped to [0, 1]. ``update``:
    ``"image"`` learns image by image as the paper (each image sees the weights the previous one left,
    and moves each of its winners' maps by a whole step); ``"batch"`` computes a batch with the
    weights as they are at its start and moves each map by the mean of its winners' updates (one
    image's step per batch: faster per image, far fewer steps per map). ``init``: W ~ N(``init_mean``,
    ``init_std``²)."""

    LABEL = "rule 'conv-stdp' option"

    a_plus: float = 0.004
    a_minus_ratio: float = 0.75
    a_plus_max: float = 0.15
    double_every: int = 500
    k: int = 5
    radius: int = 2
    init_mean: float = 0.8
    init_std: float = 0.05
    update: Literal["image", "batch"] = "image"

    def check(self) -> None:
        require("a_plus", self.a_plus, 0 < self.a_plus <= self.a_plus_max, "a number in (0, a_plus_max]")
        require("a_minus_ratio", self.a_minus_ratio, self.a_minus_ratio >= 0, "a number >= 0 (A₋ = −ratio·A₊)")
        require("double_every", self.double_every, self.double_every >= 0, "an integer >= 0 (0: never)")
        require("k", self.k, self.k >= 1, "an integer >= 1")
        require("radius", self.radius, self.radius >= 0, "an integer >= 0")
        require("init_mean", self.init_mean, 0 <= self.init_mean <= 1, "a number in [0, 1]")
        require("update", self.update, self.update in ("image", "batch"), "'image' or 'batch'")

    def init(self, layer: nn.Module, after_norm: bool, gen: torch.Generator) -> None:
        init_paper(layer, gen, self.init_mean, self.init_std)  # type: ignore[arg-type]

    def step(self, layer: nn.Module, x: torch.Tensor, epoch: int, epochs: int) -> None:
        """One batch of input spike times x [B, C, H, W] (the layer's input), image by image or as one
        (``update``); ``epoch`` unused (the rate follows the images seen)."""
        conv: SpikingConv = layer  # type: ignore[assignment]
        for part in (x.split(1) if self.update == "image" else (x,)):
            self._learn(conv, part)

    def _learn(self, conv: SpikingConv, x: torch.Tensor) -> None:
        t, v = first_spikes(conv.potentials(x), conv.threshold)
        winners = k_winners(t, v, self.k, self.radius, conv.steps)
        a_plus, a_minus = stdp_rates(self.a_plus, self.a_minus_ratio, int(conv.images_seen), self.double_every,
                                     self.a_plus_max)
        stride, padding = conv.stride[0], conv.padding[0]  # type: ignore[index]
        delta = stdp_update(conv.weight, x, t, winners, a_plus, a_minus, stride, padding)
        conv.weight.add_(delta).clamp_(0.0, 1.0)
        conv.images_seen += x.shape[0]


@dataclass(frozen=True)
class RewardSTDP(Validated):
    """The rates of reward-modulated STDP (Mozafari, Kheradpisheh, Masquelier, Nowzari-Dalini &
    Ganjtabesh 2018, IEEE TNNLS 29(12):6178, "First-spike-based visual categorization using
    reward-modulated STDP", eq. 3-4), magnitudes: reward, Δw = +``r_plus`` for inputs that fired no
    later than the winner, −``r_minus`` for the others (STDP); punishment, −``p_minus`` for the former
    and +``p_plus`` for the latter (anti-STDP); the weights are then clipped to [``decision_w_min``,
    ``decision_w_max``]. Defaults: 0.004, 0.003, 0.0005, 0.004, additive within [0.2, 0.8], as the
    authors' SpykeTorch re-implementations train the decision layer. ``decision_soft = True``
    multiplies each change by w(1−w), as the feature layers learn; then a rewarded map's weights
    saturate near 1, where punishment no longer moves them, and one map can win every image (measured:
    benchmarks/results/conv_stdp_mnist_cpu/README.md).

    ``adaptive`` (Mozafari et al. 2019, Pattern Recognition 94:87, "Bio-inspired digit recognition
    using reward-modulated spike-timing-dependent plasticity in deep convolutional networks", as its
    authors' SpykeTorch re-implementation adapts them): the reward rates are multiplied by the
    fraction of wrong decisions and the punishment rates by the fraction of right ones, both counted
    over the previous ``adapt_every`` images (silent ones in the denominator; before the first
    window: 1 − 1/classes and 1/classes). Then the total reward and
    punishment a map receives balance whatever the accuracy: at chance the many punishments are small,
    near convergence the few errors are punished hard.

    ``decision``: ``"first-spike"`` (Mozafari et al. 2018: the decision neurons fire at their
    threshold, the earliest spike decides, ties by the larger potential) or ``"final-potential"``
    (Mozafari et al. 2019, as SpykeTorch's re-implementation fires its threshold-less decision layer:
    every neuron with a positive potential fires at the last step, so the largest final potential
    decides and every input that spiked counts as before the post spike). ``dropout``: the
    probability that a decision map is silenced for one training decision (Mozafari et al. 2018 drop
    maps against overfitting, one mask per epoch in the authors' re-implementation; here a new mask
    per decision, drawn from the run seed and the images the layer has seen, so a resumed run draws
    the same; never at evaluation). Raises `ConfigError` for a negative rate,
    bounds outside 0 ≤ decision_w_min < decision_w_max ≤ 1, ``adapt_every`` < 1, an unknown
    ``decision`` or a ``dropout`` outside [0, 1)."""

    LABEL = "rule 'conv-stdp' option"

    r_plus: float = 0.004
    r_minus: float = 0.003
    p_plus: float = 0.0005
    p_minus: float = 0.004
    decision_w_min: float = 0.2
    decision_w_max: float = 0.8
    decision_soft: bool = False
    adaptive: bool = True
    adapt_every: int = 1000
    decision: Literal["first-spike", "final-potential"] = "first-spike"
    dropout: float = 0.0

    def check(self) -> None:
        for key in ("r_plus", "r_minus", "p_plus", "p_minus"):
            require(key, getattr(self, key), getattr(self, key) >= 0, "a number >= 0 (a magnitude)")
        lo, hi = self.decision_w_min, self.decision_w_max
        require("decision_w_min", lo, 0.0 <= lo < hi, f"a number in [0, decision_w_max = {hi!r})")
        require("decision_w_max", hi, hi <= 1.0, "a number <= 1")
        require("adapt_every", self.adapt_every, self.adapt_every >= 1, "an integer >= 1 (images)")
        require("decision", self.decision, self.decision in ("first-spike", "final-potential"),
                "'first-spike' or 'final-potential'")
        require("dropout", self.dropout, 0.0 <= self.dropout < 1.0, "a probability in [0, 1)")


class RewardLearner(nn.Module):
    """A conv STDP network whose last `SpikingConv` is the decision layer (Mozafari et al. 2018): its
    maps are assigned to the classes in equal contiguous blocks, the class of the earliest spike is
    the decision (`first_spike_decision`), and the layer learns by reward-modulated STDP (reward if the
    decision is the label, punishment otherwise; nothing where no neuron fired) in every epoch, image
    by image when ``plasticity.update`` is ``"image"`` (each decision made with the weights the previous
    image left, as the paper), else once per batch, from the first epoch after the feature layers'
    phases (greedy: ``local_epochs`` per layer; together: ``local_epochs``; the same wait for the
    ``frozen`` control, so both give the decision layer the same epochs); its rates adapt to the
    recent accuracy (`RewardSTDP.adaptive`; the counts are buffers, so a resumed run continues them). The
    layers before it learn by ``plasticity`` (unsupervised STDP, greedy or together, ``local_epochs``
    each, from the first ``local_images`` images of each epoch when it is > 0, as
    `spikefa.nn.competitive.CompetitiveLearner`); ``frozen`` keeps them at their
    initialization (the random-feature control: the decision layer still learns). The network's
    features and Linear read-out after the last `SpikingConv` are dropped; the Linear's outputs give
    the number of classes.

    - ``local_step(x, y)``: one batch; returns the fraction of its images punished or undecided (the
      error R-STDP acts on; logged as the training loss). No gradient: the run has no optimiser.
    - ``end_epoch()``: counts epochs (``epochs_done``, checkpointed).
    - ``forward(x)``: class scores [B, classes] whose argmax is the decision.

    Once the feature layers are fixed (after their phases, or ``frozen``), the decision layer's input
    spike times of up to ``cache_images`` images are kept in memory (one byte per input; keyed by each
    image's bytes, cleared whenever a feature layer's weights or settings change), so later epochs and
    evaluations skip the feature pass, the most of a decision epoch's time; the same bits either way
    (tested). 0 turns it off.

    Raises `SpikefaError` for a model it cannot train (named)."""

    def __init__(self, model: nn.Module, plasticity: ConvSTDPPlasticity, reward: RewardSTDP, rule: str, *,
                 seed: int = 0, local_epochs: int = 1, schedule: str = "greedy", frozen: bool = False,
                 init: bool = True, local_images: int = 0, cache_images: int = 100_000) -> None:
        super().__init__()
        self.cache_images = int(cache_images)
        self._cache: dict[bytes, torch.Tensor] = {}
        self._cache_stamp: tuple[object, ...] = ()
        layers = list(model) if isinstance(model, nn.Sequential) else []
        convs = [i for i, m in enumerate(layers) if isinstance(m, SpikingConv)]
        linears = [m for m in layers if isinstance(m, nn.Linear)]
        if len(convs) < 2 or not linears or layers.index(linears[-1]) < convs[-1]:
            raise SpikefaError(f"rule {rule!r} with readout='rstdp' needs a flat nn.Sequential of at least two "
                               "SpikingConv layers and a Linear read-out after them (a 'conv-stdp' card's network)")
        self.classes, self.decision_at = linears[-1].out_features, convs[-1]
        maps = layers[convs[-1]].out_channels
        if maps % self.classes:
            raise SpikefaError(f"rule {rule!r} with readout='rstdp': the last SpikingConv has {maps} maps, not a "
                               f"multiple of the {self.classes} classes (each class gets an equal block of maps)")
        self.model = nn.Sequential(*layers[:convs[-1] + 1])
        self.local, self.plasticity, self.reward = convs[:-1], plasticity, reward
        self.local_epochs, self.schedule, self.frozen = int(local_epochs), schedule, bool(frozen)
        self.seed = int(seed)
        self.decision_from = self.local_epochs * (len(self.local) if schedule == "greedy" else 1)
        self.register_buffer("epochs_done", torch.zeros((), dtype=torch.int64))
        self.local_images = int(local_images)
        if self.local_images:  # only where the option uses it, so runs saved before it still load
            self.register_buffer("images_this_epoch", torch.zeros((), dtype=torch.int64))
        # right, wrong, silent decisions in the current window; the (reward, punishment) rate factors
        self.register_buffer("window", torch.zeros(3, dtype=torch.float64))
        start = (1.0 - 1.0 / self.classes, 1.0 / self.classes) if reward.adaptive else (1.0, 1.0)
        self.register_buffer("factors", torch.tensor(start, dtype=torch.float64))
        gen = torch.Generator().manual_seed(int(seed))
        for i in convs:
            self.model[i].weight.requires_grad_(False)
            if init:
                plasticity.init(self.model[i], False, gen)

    def learning(self) -> list[tuple[int, int]]:
        """(Sequential index, epoch within its local phase) of the unsupervised layers learning now."""
        return scheduled_layers(int(self.epochs_done), self.local, self.local_epochs, self.schedule, self.frozen)

    @torch.no_grad()
    def decision_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """The decision layer's input spike times for images x [B, ...], from the cache where the
        feature layers are fixed (class docstring), else by the feature pass."""
        body = self.model[:self.decision_at]
        steps = self.model[self.decision_at].steps
        if not self.cache_images or steps > 255 or not (self.frozen or int(self.epochs_done) >= self.decision_from):
            return body(x)
        stamp = tuple((m.weight._version, m.weight.data_ptr(), m.threshold, m.inhibition)
                      for m in body if isinstance(m, SpikingConv))
        if stamp != self._cache_stamp:
            self._cache, self._cache_stamp = {}, stamp
        flat = x.detach().cpu().contiguous().view(len(x), -1).numpy()
        keys = [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in flat]
        missing = [i for i, k in enumerate(keys) if k not in self._cache]
        fresh = dict(zip(missing, body(x[missing]).to(torch.uint8).cpu())) if missing else {}
        if len(self._cache) + len(fresh) <= self.cache_images:  # else this batch is served, not kept
            self._cache.update((keys[i], h) for i, h in fresh.items())
        return torch.stack([fresh[i] if i in fresh else self._cache[k] for i, k in enumerate(keys)]).to(
            device=x.device, dtype=x.dtype)

    def decide(self, h: torch.Tensor,
               silenced: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(class scores [B, classes], winners [B, 1, 3] (map, y, x; −1 where nothing fired), the
        decision layer's spike times [B, maps, H, W]) from the decision layer's input spike times h;
        the maps where ``silenced`` [maps] (bool) is true never fire (dropout)."""
        layer: SpikingConv = self.model[self.decision_at]  # type: ignore[assignment]
        potentials = layer.potentials(h)
        if self.reward.decision == "final-potential":
            v = potentials[-1]
            t = torch.where(v > 0, torch.full_like(v, layer.steps - 1.0), torch.full_like(v, float(layer.steps)))
        else:
            t, v = first_spikes(potentials, layer.threshold)
        if silenced is not None:
            off = silenced.view(1, -1, 1, 1)
            t, v = t.masked_fill(off, float(layer.steps)), v.masked_fill(off, 0.0)
        scores, winners = first_spike_decision(t, v, self.classes, layer.steps)
        return scores, winners, t

    @torch.no_grad()
    def local_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One batch (class docstring). In the feature layers' epochs the decision layer waits: the
        batch's first images (``local_images``) go only as far as the last layer learning, and the
        returned error is 1 (nothing decided)."""
        learning = dict(self.learning())
        if int(self.epochs_done) < self.decision_from:
            n = images_to_learn(self, x.shape[0]) if learning else 0  # past local_images the layers stay fixed
            if n:
                present(self.model, x[:n], learning, max(learning),
                        lambda i, x_in, e: self.plasticity.step(self.model[i], x_in, e, self.local_epochs))
            return torch.ones(())
        h = self.decision_inputs(x)
        parts = zip(h.split(1), y.split(1)) if self.plasticity.update == "image" else ((h, y),)
        hits = sum(self.reward_step(h_part, y_part) for h_part, y_part in parts)
        return 1.0 - torch.as_tensor(hits, dtype=torch.float32) / x.shape[0]

    @torch.no_grad()
    def reward_step(self, h: torch.Tensor, y: torch.Tensor, learn: bool = True) -> int:
        """Decides for the decision layer's input spike times h [B, C, H, W] and labels y [B]; when
        ``learn``, applies R-STDP (one step for the batch) and counts the decisions for the adaptive
        rates. Returns the number of right decisions."""
        layer: SpikingConv = self.model[self.decision_at]  # type: ignore[assignment]
        silenced = None
        if learn and self.reward.dropout > 0:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + int(layer.images_seen))
            silenced = torch.rand(layer.out_channels, generator=gen) < self.reward.dropout
        _, winners, t = self.decide(h, silenced)
        decided = winners[:, 0, 0] >= 0
        hit = decided & (winners[:, 0, 0] // (layer.out_channels // self.classes) == y)
        if not learn:
            return int(hit.sum())
        r, (fr, fp) = self.reward, self.factors.tolist()
        a_plus, a_minus = reward_rates(winners, y, self.classes, layer.out_channels, (r.r_plus * fr, -r.r_minus * fr),
                                       (-r.p_minus * fp, r.p_plus * fp))
        stride, padding = layer.stride[0], layer.padding[0]  # type: ignore[index]
        delta = stdp_update(layer.weight, h, t, winners, a_plus, a_minus, stride, padding, soft=r.decision_soft)
        layer.weight.add_(delta).clamp_(r.decision_w_min, r.decision_w_max)
        layer.images_seen += h.shape[0]
        right, wrong = int(hit.sum()), int((decided & ~hit).sum())
        self.window += torch.tensor([right, wrong, h.shape[0] - right - wrong], dtype=torch.float64)
        if r.adaptive and float(self.window.sum()) >= r.adapt_every:
            n = self.window.sum()
            self.factors.copy_(torch.stack([self.window[1] / n, self.window[0] / n]))
            self.window.zero_()
        return right

    @torch.no_grad()
    def end_epoch(self) -> None:
        """Ends an epoch (the harness's after-epoch call, `Rule.ends_epochs`)."""
        self.epochs_done += 1
        if self.local_images:
            self.images_this_epoch.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decide(self.decision_inputs(x))[0]

    def local_layers(self) -> list[nn.Module]:
        """The layers that learn by unsupervised STDP, input side first (the decision layer excluded)."""
        return [self.model[i] for i in self.local]
