"""Quantisation-aware training: fake quantisation with a straight-through estimator.

`prepare_qat` registers ``torch.nn.utils.parametrize`` parametrizations on every ``nn.Linear`` and
``nn.Conv2d`` (any subclass: FA, sign symmetry, Hebbian descent) inside a network, in place (a
kernel's grid is per output channel like the quantiser's, and an average pool in its synapse is
accounted for as the quantiser folds it: the grid of W/Π k², scaled back):

- ``weight`` → Ŵ = W + (q(W) − W).detach(): the forward pass sees the profile's grid (the same
  grid `spikefa.export.quantize` uses, so PTQ after QAT is lossless on the weights), the backward
  pass the identity, so every gradient-substitute rule (backprop, FA, sign symmetry, DFA) trains
  the float master weight through its own backward.
- ``bias`` → the same state grid (the bias is rounded to the layer's state unit).
- optionally the fixed feedback matrices (FA's ``feedback_fixed``, DFA's ``fixed``) onto a
  symmetric grid of the same bits;
- the snnTorch ``Leaky`` neurons of a `SpikingNet` get the target's decay β̂ (restored by
  `remove_qat`; ``net.lif`` reads it back, so online learners and exporters see β̂) and, with
  ``state=True``, a ``state_quant`` that floors U to the state unit after each step: the integer
  simulator's rounding for floor decays (online DFA applies the same quantizer in its own step).

Local rules that write weights (STDP, Hebb) must add to the float master weight,
``master_weight(layer)``, or assign ``layer.weight = layer.weight + dw``: the assignment goes
through ``right_inverse``, which keeps the sub-LSB residual, so updates smaller than one grid
step accumulate instead of vanishing. An in-place ``layer.weight.add_()`` would only change a
temporary. Call `prepare_qat` after the rule converter (it replaces modules) and before building
the optimiser (the trainable tensor becomes ``parametrizations.weight.original``).
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn
from torch.nn.utils import parametrize

from collections.abc import Callable

from spikefa.errors import SpikefaError
from spikefa.export.arith import encode_decay
from spikefa.export.profile import Profile, load_profile
from spikefa.export.quantize import _round, layer_grid, shared_half, shared_levels
from spikefa.nn.layers import master_weight
from spikefa.nn.snntorch_net import refresh_surrogates, rescale_surrogate
from spikefa.rules.registry import get_rule
from spikefa.schemas.run import RunConfig

__all__ = ["OscillationFreeze", "master_weight", "prepare_qat", "qat_settings", "qat_transform", "qat_transform_for", "remove_qat"]

_FEEDBACK_BUFFERS = ("feedback_fixed", "fixed")


WEIGHTED = (nn.Linear, nn.Conv2d)


class _Grid:
    """The layer's grid, computed from the current float weight and the layer's threshold as it is
    now (`theta_of`, read at each forward: a checkpoint loaded after `prepare_qat` brings its θ_l,
    and the grid follows it): weight step and state unit. `fold` / `bias_fold`: the average-pool
    window sizes the quantiser folds into W and b."""

    def __init__(self, profile: Profile, theta_of: Callable[[], float] | None, fold: float = 1.0,
                 bias_fold: float = 1.0) -> None:
        self.profile, self.theta_of, self.fold, self.bias_fold = profile, theta_of, fold, bias_fold
        self.unit: torch.Tensor | None = None

    @property
    def theta(self) -> float | None:
        return None if self.theta_of is None else self.theta_of()

    def steps(self, w: torch.Tensor, bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(weight step [out], state unit [out]) for weights `w` (any [out, ...] shape), without gradient.
        On a shared (MINT) grid the weights are read clipped to what θ at half the state range holds,
        so the grid stays put while the master weights wander beyond it."""
        b = None if bias is None else bias.detach().double() / self.bias_fold
        flat = w.detach().double().reshape(w.shape[0], -1) / self.fold
        n = self.profile.neuron
        theta = self.theta
        if n.shared_scale and theta is not None:
            half = shared_half(self.profile)
            cap = shared_levels(self.profile)[1] * 2 ** self.profile.weights.exponent[0] * theta / (half * 2**n.threshold_shift)
            flat = flat.clamp(-cap, cap)
        e, _, unit = layer_grid(flat, theta, self.profile, b)
        self.unit = unit.to(w.dtype)
        return (unit * 2**e * self.fold).to(w.dtype), self.unit


def _col(step: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """A per-output-channel [out] tensor shaped to broadcast over w [out, ...]."""
    return step.reshape(-1, *[1] * (w.ndim - 1))


class OscillationFreeze(nn.Module):
    """Iterative weight freezing (Nagel, Fournarakis, Bondarenko & Blankevoort, ICML 2022, "Overcoming
    oscillations in quantization-aware training", §4.2), per weight of one layer, in the integer domain.

    At each optimiser step the layer's integer weights x_t are compared with x_{t−1}: a weight
    *oscillates* when it changes integer in the direction opposite to its previous change. Its
    oscillation frequency is the exponential moving average f_t = m·o_t + (1 − m)·f_{t−1} (m =
    ``momentum``, 0.01 in the paper); once f_t exceeds the threshold f_th, the weight is frozen at
    round(EMA of its integer value) for the rest of training. f_th follows a cosine from ``start`` to
    ``final`` over the run (`set_training_progress`, called by the training loop with the fraction
    of the run done); the paper's 4-bit MobileNetV2 setting is 0.1 → 0.01. State lives in buffers,
    so a checkpoint keeps what was frozen and `spikefa export` reads the frozen weights back."""

    def __init__(self, shape: torch.Size, start: float, final: float, momentum: float = 0.01) -> None:
        super().__init__()
        self.start, self.final, self.momentum, self.threshold = start, final, momentum, start
        for name in ("prev_int", "prev_dir", "frequency", "ema_int", "frozen_int"):
            self.register_buffer(name, torch.zeros(shape))
        self.register_buffer("frozen", torch.zeros(shape, dtype=torch.bool))
        self.register_buffer("started", torch.zeros((), dtype=torch.bool))

    def set_training_progress(self, t: float) -> None:
        """f_th at the fraction `t` ∈ [0, 1] of the run: a cosine from ``start`` down to ``final``."""
        t = min(max(t, 0.0), 1.0)
        self.threshold = self.final + (self.start - self.final) * 0.5 * (1.0 + math.cos(math.pi * t))

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        """One optimiser step's integer weights `x` (the layer's shape): update the frequencies,
        freeze the weights above the threshold."""
        x = x.to(self.prev_int.dtype)
        if not bool(self.started):
            self.prev_int.copy_(x)
            self.ema_int.copy_(x)
            self.started.fill_(True)
            return
        direction = torch.sign(x - self.prev_int)
        oscillated = (direction * self.prev_dir) < 0
        self.frequency.mul_(1 - self.momentum).add_(oscillated.to(x.dtype), alpha=self.momentum)
        self.prev_dir.copy_(torch.where(direction != 0, direction, self.prev_dir))
        self.prev_int.copy_(x)
        newly = (self.frequency > self.threshold) & ~self.frozen
        self.frozen_int.copy_(torch.where(newly, torch.round(self.ema_int), self.frozen_int))
        self.frozen |= newly
        self.ema_int.mul_(1 - self.momentum).add_(x, alpha=self.momentum)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Integer weights `x` with the frozen ones at their frozen value."""
        return torch.where(self.frozen, self.frozen_int.to(x.dtype), x)

    def training_stats(self) -> dict[str, tuple[int, int]]:
        """(count, of how many) per statistic, summed over layers by `spikefa.train.loop.training_stats`:
        frozen weights, and weights whose oscillation frequency is above the threshold's final value."""
        n = self.frozen.numel()
        return {"qat_frozen": (int(self.frozen.sum()), n),
                "qat_oscillating": (int((self.frequency > self.final).sum()), n)}


class FakeQuantWeight(nn.Module):
    """Ŵ = W + (q(W) − W).detach() on the profile's grid; right_inverse keeps the residual. With
    `freeze` (`OscillationFreeze`), each optimiser step's integers are tracked once (on the first
    training forward after the master weight changed) and frozen weights are pinned: their master
    weight is set back onto the frozen grid point, so the optimiser's later moves do not reach Ŵ."""

    def __init__(self, grid: _Grid, freeze: OscillationFreeze | None = None) -> None:
        super().__init__()
        self.grid = grid
        self.freeze = freeze
        self.residual: torch.Tensor | None = None
        self._seen_version: int | None = None

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        fmt = self.grid.profile.weights
        lo, hi = shared_levels(self.grid.profile) if self.grid.profile.neuron.shared_scale else fmt.levels()
        step, _ = self.grid.steps(w)
        step = _col(step, w)
        if fmt.bits == 1:
            q = torch.where(w >= 0, 1.0, -1.0).to(w.dtype) * step
        else:
            x = _round(w.detach() / step, fmt.rounding).clamp(lo, hi)
            if self.freeze is not None:
                x = self._frozen(w, x, step)
            q = x * step
        self.residual = (w - q).detach()
        return w + (q - w).detach()

    def _frozen(self, w: torch.Tensor, x: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        assert self.freeze is not None
        if self.training and torch.is_grad_enabled() and w._version != self._seen_version:
            self.freeze.observe(x)  # once per optimiser step: BPTT calls this forward T times per step
            x = self.freeze.apply(x)
            if bool(self.freeze.frozen.any()):
                with torch.no_grad():
                    w.copy_(torch.where(self.freeze.frozen, x * step, w))
            self._seen_version = w._version
            return x
        return self.freeze.apply(x)

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        """Assigning Ŵ + ΔW stores W + ΔW (the residual below one grid step survives)."""
        if self.residual is None or self.residual.shape != value.shape:
            return value
        return value + self.residual


class FakeQuantBias(nn.Module):
    """b̂ on the layer's state unit (read from the weight's grid), straight-through."""

    def __init__(self, grid: _Grid) -> None:
        super().__init__()
        self.grid = grid

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        unit = self.grid.unit
        bits = self.grid.profile.bias.bits
        if unit is None or bits == 0:
            return b if bits else b - b.detach()
        top = 2 ** (bits - 1) - 1
        unit = unit * self.grid.bias_fold
        q = _round(b.detach() / unit, self.grid.profile.weights.rounding).clamp(-top, top) * unit
        return b + (q - b).detach()

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        return value


class FakeQuantFeedback(nn.Module):
    """A fixed feedback matrix on a symmetric grid of `bits` bits (max-abs scale)."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = bits

    def forward(self, b: torch.Tensor) -> torch.Tensor:
        if self.bits == 1:
            return torch.where(b >= 0, 1.0, -1.0).to(b.dtype) * b.abs().mean()
        top = 2 ** (self.bits - 1) - 1
        step = b.abs().max().clamp_min(1e-30) / top
        return torch.round(b / step).clamp(-top, top) * step

    def right_inverse(self, value: torch.Tensor) -> torch.Tensor:
        return value


class StateQuant:
    """snnTorch ``state_quant``: U floored to the state unit and saturated, straight-through. A
    relative tolerance of 1e-6 absorbs float32 error; it is below a Q15 decay's 2^-15 granularity
    for states under ~30 units, so larger states may floor one unit differently (training only)."""

    def __init__(self, grid: _Grid, state_bits: int) -> None:
        self.grid, self.top = grid, 2 ** (state_bits - 1) - 1

    def __call__(self, mem: torch.Tensor) -> torch.Tensor:
        unit = self.grid.unit
        if unit is None:
            return mem
        u = unit.to(mem.dtype)
        u = u.reshape(-1, 1, 1) if mem.ndim == 4 else u  # a conv layer's membrane [B, C, H, W]: unit per channel
        v = mem.detach() / u
        q = torch.floor(v + 1e-6 * (1 + v.abs())).clamp(-self.top, self.top) * u
        return mem + (q - mem).detach()


def _thresholds(net: nn.Module) -> dict[int, Callable[[], float]]:
    """id(Linear / Conv2d) -> a reader of its LIF layer's threshold as it is when called, for a
    SpikingNet (a loaded checkpoint's θ_l, not the one `prepare_qat` placed on a fresh build)."""
    out: dict[int, Callable[[], float]] = {}
    for syn, neuron in zip(getattr(net, "synapses", ()), getattr(net, "neurons", ())):
        for m in syn.modules():
            if isinstance(m, WEIGHTED):
                out[id(m)] = partial(_threshold_now, neuron)
    return out


def _threshold_now(neuron: nn.Module) -> float:
    return float(neuron.threshold)


def _folds(net: nn.Module) -> dict[int, tuple[float, float]]:
    """id(Linear / Conv2d) -> (weight fold, bias fold): the window sizes of the average pools of its
    synapse (all of them for the weights, those after it for the bias), as `spikefa.export.network`
    folds them."""
    out: dict[int, tuple[float, float]] = {}
    for syn in getattr(net, "synapses", ()):
        parts = list(syn) if isinstance(syn, nn.Sequential) else [syn]
        sizes = [math.prod(_pair(m.kernel_size)) if isinstance(m, nn.AvgPool2d) and m.divisor_override is None else 1
                 for m in parts]
        for k, m in enumerate(parts):
            if isinstance(m, WEIGHTED):
                out[id(m)] = (float(math.prod(sizes)), float(math.prod(sizes[k + 1:])))
    return out


def _pair(v: object) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))  # type: ignore[arg-type, index]


def qat_transform_for(config: RunConfig) -> Callable[[nn.Module], None] | None:
    """The transform a run's config asks for: `qat_transform` when it names a profile, else None."""
    return qat_transform(config) if config.qat else None


def qat_transform(config: RunConfig) -> Callable[[nn.Module], None]:
    """The model transform a run with ``qat = "PROFILE[:BITS]"`` (and optionally ``state_bits``)
    trains through (`spikefa.runs.make_model` applies it after the rule's conversion); the rule's
    feedback matrices are quantized too when it owns them. The profile, the bits and the state
    width are checked here, before any training: raises `SpikefaError` (`ConfigError` naming the
    profile) for an unknown profile or a width it cannot take."""
    if not config.qat:
        raise SpikefaError("qat_transform needs a config with qat = 'PROFILE[:BITS]'")
    profile, bits, state_bits = qat_settings(config)
    quantize_feedback = get_rule(config.rule).owns_feedback
    freeze = (config.qat_freeze, config.qat_freeze_final if config.qat_freeze_final is not None else config.qat_freeze) \
        if config.qat_freeze else None

    def transform(net: nn.Module) -> None:
        prepare_qat(net, profile, bits, quantize_feedback=quantize_feedback, state_bits=state_bits, freeze=freeze)

    return transform


def qat_settings(config: RunConfig) -> tuple[Profile, int | None, int | None]:
    """(profile, weight bits or None, state bits or None) of a run trained with ``--qat``; the
    widths are validated against the profile (`Profile.with_bits`, `Profile.with_state_bits`)."""
    if not config.qat:
        raise SpikefaError("qat_settings needs a config with qat = 'PROFILE[:BITS]'")
    name, _, text = config.qat.partition(":")
    profile = load_profile(name)
    bits = int(text) if text else None
    profile.with_bits(bits).with_state_bits(config.state_bits)  # refuse a width the target cannot take, now
    return profile, bits, config.state_bits


def _place_thresholds(net: nn.Module, profile: Profile, folds: dict[int, tuple[float, float]]) -> None:
    """MINT's shared scale (Yin et al. 2023) for a k-bit membrane: weights and membrane count in one
    unit s, and the threshold is θ = 2^(k−2) units (half the state range). With the card's θ (say 1)
    that unit is θ/2^(k−2), coarser than every initial weight of a typical layer (|W| ≲ 1/√fan_in):
    the fake-quantised network starts silent and never learns (measured on snn-1x800-lif: chance).
    So where the card's θ would round more than half of a layer's initial weights to zero, the scale
    follows the initial weights instead, s_l = max|W_l|: every weight starts at −1, 0 or
    +1 units (ternary, about half of a uniform init non-zero), and the layer's float threshold becomes
    θ_l = 2^(k−2)·s_l (times the profile's threshold shift), written once into its neuron at the start
    of QAT. The run trains and exports with that θ_l (the neuron's buffer, in the checkpoint); the
    integer threshold is 2^(k−2) units. Chosen on validation against s_l = max|W_l|/7, /2 and ×1.4
    (benchmarks/results/export_conv_cpu/README.md). The network is rescaled by c = θ/θ_l, so its
    surrogate is too (`spikefa.nn.snntorch_net.rescale_surrogate`): it keeps its width relative to the threshold."""
    n = profile.neuron
    half = shared_half(profile)
    for syn, neuron in zip(getattr(net, "synapses", ()), getattr(net, "neurons", ())):
        layer = next((m for m in syn.modules() if isinstance(m, WEIGHTED)), None)
        if layer is None or not isinstance(getattr(neuron, "threshold", None), torch.Tensor):
            continue
        w = layer.weight.detach().abs() / folds.get(id(layer), (1.0, 1.0))[0]
        amax = float(w.max())
        unit = float(neuron.threshold.detach().max()) / (half * 2**n.threshold_shift) * 2 ** profile.weights.exponent[0]
        if amax > 0.0 and float((w < unit / 2).double().mean()) > 0.5:  # the card's θ would zero most weights
            before = float(neuron.threshold.detach().max())
            with torch.no_grad():
                neuron.threshold.fill_(half * 2**n.threshold_shift * amax / 2 ** profile.weights.exponent[0])
            rescale_surrogate(neuron, before / float(neuron.threshold.detach().max()))
    refresh_surrogates(net)


def prepare_qat(net: nn.Module, profile: Profile, bits: int | None = None, *, quantize_feedback: bool = False,
                state: bool = True, state_bits: int | None = None,
                freeze: tuple[float, float] | None = None) -> nn.Module:
    """Fake-quantize `net` in place for `profile` (weights of `bits` bits, a membrane of `state_bits`
    bits: fewer than the profile's share the weights' scale as in MINT, Yin et al. 2023, and
    saturate at ±(2^(state_bits−1) − 1) units after each step; each layer's threshold is then moved
    onto its initial weights' grid, `_place_thresholds`); `freeze` = (start, final) oscillation
    thresholds turns on iterative weight freezing (`OscillationFreeze`, weights of 2+ bits); returns `net`."""
    prof = profile.with_bits(bits).with_state_bits(state_bits)
    folds = _folds(net)
    if prof.neuron.shared_scale:
        _place_thresholds(net, prof, folds)
    thetas = _thresholds(net)
    grids: dict[int, _Grid] = {}
    for m in list(net.modules()):
        if isinstance(m, WEIGHTED) and not parametrize.is_parametrized(m, "weight"):
            grid = _Grid(prof, thetas.get(id(m)), *folds.get(id(m), (1.0, 1.0)))
            grids[id(m)] = grid
            tracker = OscillationFreeze(m.weight.shape, *freeze) if freeze and prof.weights.bits > 1 else None
            parametrize.register_parametrization(m, "weight", FakeQuantWeight(grid, tracker))
            if m.bias is not None:
                parametrize.register_parametrization(m, "bias", FakeQuantBias(grid))
        if quantize_feedback:
            for name in _FEEDBACK_BUFFERS:
                if isinstance(getattr(m, name, None), torch.Tensor) and not parametrize.is_parametrized(m, name):
                    parametrize.register_parametrization(m, name, FakeQuantFeedback(prof.weights.bits))
    if hasattr(net, "synapses") and hasattr(net, "neurons"):
        n = prof.neuron
        for syn, neuron, lif in zip(net.synapses, net.neurons, net.lif):
            beta = getattr(neuron, "beta", None)
            if isinstance(beta, torch.Tensor):  # train with the decay the target will run (β̂)
                neuron._spikefa_beta_float = beta.detach().clone()
                code = encode_decay(float(lif.beta), n.decay, n.decay_bits, n.decay_rounding, n.decay_shift_max)
                with torch.no_grad():
                    beta.fill_(code.beta)
            linear = next((m for m in syn.modules() if isinstance(m, WEIGHTED)), None)
            if state and linear is not None and hasattr(neuron, "state_quant"):
                neuron.state_quant = StateQuant(grids[id(linear)], n.state_bits)
    return net


def remove_qat(net: nn.Module, bake: bool = True) -> nn.Module:
    """Remove the fake quantisation in place; `bake` keeps the quantised values as the weights."""
    for m in list(net.modules()):
        for name in ("weight", "bias", *_FEEDBACK_BUFFERS):
            if parametrize.is_parametrized(m, name):
                parametrize.remove_parametrizations(m, name, leave_parametrized=bake)
        if isinstance(getattr(m, "state_quant", None), StateQuant):
            m.state_quant = False
        original = getattr(m, "_spikefa_beta_float", None)
        if original is not None:
            with torch.no_grad():
                m.beta.copy_(original)  # type: ignore[operator]
            del m._spikefa_beta_float
    return net
