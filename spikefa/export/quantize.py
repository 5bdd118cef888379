"""Post-training quantisation of a LIF network onto a profile's integers.

A spiking layer computes U = β·U + W·x + b − r·θ and compares U with θ. Dividing the whole
equation by one positive number s (a layer's or a neuron's state unit) changes nothing the layer
computes, so the weight, the bias, the threshold and the state are scaled **together**: scaling
only the weights would change which neurons fire. Per neuron i (per layer for per-tensor scales)

    weight mantissa  w = clamp(round(W / (s·2^e)))        (weight in state units: w << e)
    bias             b = clamp(round(b / (s·2^eb))) << eb
    threshold        θ = round(θ / (s·2^ts)) << ts         (ts: the profile's fixed threshold shift)
    decay            β → its encoding (`spikefa.export.arith.encode_decay`)

The weight exponent e is the largest the profile allows that keeps the threshold within its bits
and a quarter of the state range (more state resolution, so decays round less). With a low-bit
state (``state_bits`` below the profile's, `Profile.with_state_bits`) weights and membrane share
one scale as in MINT (Yin et al. 2023): e is the lowest exponent and θ is as many units as the
finest grid allows that holds the largest weight within q = min(weight top, state top) units and θ
within half the state range (2^(k−2) units; a weight beyond the state's range would saturate the
membrane on its own), `shared_threshold`. QAT keeps its weights within q units, so its grid stays
at 2^(k−2) units once it gets there and training sees the grid it exports to. For per-tensor and
per-channel scales, s is nudged up so that θ/s is an integer: the threshold is then exact and no
weight clips because of the nudge; power-of-two scales keep s = 2^k and report the threshold error.
For 2–4 bit weights the clipping point is searched (least squared error, as in TWN for ternary).

Per-neuron β and θ (`spikefa.schemas.neuron.PerNeuron`): every neuron gets its own decay code
value (``QLayer.decay_values``); the grid is set by the largest θ of each output channel (of the
layer, for a per-tensor or power-of-two scale), and each neuron's threshold is round(θ_i/(s·2^ts))
<< ts state units, so thresholds may differ within a channel (``QLayer.threshold`` then holds one per
neuron). A current-based neuron's α gets a decay code of the profile's kind (``QLayer.syn_decay``).

A convolution is quantised per output channel the same way (its kernel [C_out, C_in/g, k_h, k_w] is
read as C_out rows of C_in/g·k_h·k_w weights): one state unit and one threshold per channel when
the profile's scale is per-channel, one per layer otherwise; every neuron of a channel shares them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from spikefa.export.arith import DecayCode, code_betas, encode_decay, encode_decays, tau
from spikefa.export.network import Layer, Op, read_layers
from spikefa.export.profile import Profile
from spikefa.schemas.neuron import PerNeuron

_CLIP_RATIOS = torch.linspace(0.3, 1.0, 36, dtype=torch.float64)


@dataclass(frozen=True, eq=False)
class QLayer:
    """One layer in integers; `unit` is the real value of one state unit, per neuron."""

    weight: torch.Tensor  # int64 [out, in]: mantissas
    weight_shift: int  # e: weight in state units = weight << e
    bias: torch.Tensor  # int64 [out], state units (= mantissa << bias_shift)
    bias_shift: int
    threshold: torch.Tensor  # int64 [out] (per output channel) or [size] (per neuron), state units
    unit: torch.Tensor  # float64 [out]
    decay: DecayCode
    reset: str
    beta: float | torch.Tensor  # the float network's β (the code's β̂ is decay.beta), float64 [size] per neuron
    dt: float
    ops: tuple[Op, ...] = ()  # the synapse's operations (`spikefa.export.network.Op`); () is one dense op
    pool_fold: float = 1.0  # average-pool window sizes folded into the weights
    decay_values: torch.Tensor | None = None  # int64 [size]: per-neuron values of the decay code (per-neuron β)
    syn_decay: DecayCode | None = None  # α's code: a current-based neuron (synaptic current state)
    alpha: float | None = None  # the float network's α

    def __post_init__(self) -> None:
        if not self.ops:
            shape = self.weight.shape
            object.__setattr__(self, "ops", (Op("dense", (int(shape[1]),), (int(shape[0]),)),))

    @property
    def weight_state(self) -> torch.Tensor:
        """Weights in state units (int64)."""
        return self.weight * 2**self.weight_shift

    @property
    def kind(self) -> str:
        """``dense`` or ``conv2d``."""
        return next(op.kind for op in self.ops if op.weighted)

    @property
    def plain_dense(self) -> bool:
        """One matrix product on the flat input (a flatten in front of it changes nothing)."""
        return all(op.kind in ("flatten", "dense") for op in self.ops)

    @property
    def in_features(self) -> int:
        return int(math.prod(self.ops[0].in_shape))

    @property
    def size(self) -> int:
        """Neurons (the synapse's flattened output)."""
        return int(math.prod(self.ops[-1].out_shape))

    @property
    def channels(self) -> int:
        return int(self.weight.shape[0])

    def per_neuron(self, per_channel: torch.Tensor) -> torch.Tensor:
        """A per-output-channel tensor [C_out] repeated for every neuron [size] (channel-major)."""
        return per_channel.repeat_interleave(self.size // self.channels)

    @property
    def threshold_neurons(self) -> torch.Tensor:
        """θ of every neuron [size], state units."""
        return self.threshold if self.threshold.numel() == self.size else self.per_neuron(self.threshold)

    @property
    def unit_neurons(self) -> torch.Tensor:
        """The state unit of every neuron [size], real units."""
        return self.per_neuron(self.unit)

    @property
    def per_neuron_decay(self) -> bool:
        return self.decay_values is not None

    @property
    def beta_hat(self) -> float | torch.Tensor:
        """β̂ the codes represent: one float, or float64 [size] per neuron."""
        return self.decay.beta if self.decay_values is None else code_betas(self.decay, self.decay_values)

    @property
    def current_based(self) -> bool:
        """Whether the neuron filters its input through a synaptic current (α's code set)."""
        return self.syn_decay is not None


@dataclass(frozen=True)
class LayerReport:
    """What quantising one layer cost."""

    layer: int
    weight_shift: int
    weight_clipped: float  # fraction of weights saturated at the mantissa range
    weight_max_error: float  # max |W − Ŵ|, real units
    weight_rel_error: float  # ‖W − Ŵ‖ / ‖W‖
    bias_clipped: float
    bias_max_error: float
    threshold_rel_error: float  # max |θ − θ̂| / θ
    threshold_int: tuple[int, int]  # (min, max) integer threshold, state units
    beta: float
    beta_hat: float
    tau: float  # τ_mem, ms
    tau_hat: float
    tau_rel_error: float  # τ̂/τ − 1: what the decay encoding does to the time constant
    kind: str = "dense"  # the weighted operation: dense or conv2d
    alpha: float | None = None  # current-based neurons: α, its code's α̂, and the synaptic τ's error
    alpha_hat: float | None = None
    tau_syn_rel_error: float | None = None
    per_neuron: bool = False  # β or θ per neuron: beta/tau/threshold errors are those of the worst neuron

    def as_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True, eq=False)
class QuantizedNet:
    """A network in a profile's integers, with the per-layer report."""

    layers: tuple[QLayer, ...]
    profile: Profile
    bits: int
    state_bits: int
    overflow: str
    report: tuple[LayerReport, ...]

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def convolutional(self) -> bool:
        """Whether any layer convolves or pools (flatten + dense layers are plain dense)."""
        return not all(q.plain_dense for q in self.layers)

    @property
    def dt(self) -> float:
        return self.layers[0].dt


def _amax(x: torch.Tensor) -> float:
    """max |x| (0 for an empty tensor)."""
    return float(x.abs().max()) if x.numel() else 0.0


def _round(x: torch.Tensor, rounding: str) -> torch.Tensor:
    return torch.round(x) if rounding == "half-even" else torch.sign(x) * torch.floor(x.abs() + 0.5)


def _quant(w: torch.Tensor, step: torch.Tensor, lo: int, hi: int, rounding: str) -> torch.Tensor:
    return _round(w / step, rounding).clamp(lo, hi)


def weight_step(w: torch.Tensor, lo: int, hi: int, per_channel: bool, rounding: str) -> torch.Tensor:
    """The raw weight grid step per output neuron [out]: max|W|/hi (bits ≥ 5), else the clipping
    point with least squared error."""
    amax = w.abs().amax(dim=1) if per_channel else w.abs().max().expand(w.shape[0])
    amax = torch.where(amax > 0, amax, torch.ones_like(amax))
    if hi >= 15:
        return amax / hi
    best, best_err = amax / hi, torch.full_like(amax, math.inf)
    for ratio in _CLIP_RATIOS:
        step = amax * ratio / hi
        err = ((_quant(w, step[:, None], lo, hi, rounding) * step[:, None] - w) ** 2)
        err = err.sum(dim=1) if per_channel else err.sum().expand(w.shape[0])
        better = err < best_err
        best, best_err = torch.where(better, step, best), torch.where(better, err, best_err)
    return best


def shared_levels(profile: Profile) -> tuple[int, int]:
    """The weight mantissas a layer can use on a shared (MINT) grid: the weight format's, cut at the
    state's range (a weight beyond it would saturate the membrane on its own)."""
    lo, hi = profile.weights.levels()
    top = max(profile.neuron.state_range[1] >> profile.weights.exponent[0], 1)
    return max(lo, -top), min(hi, top)


def shared_half(profile: Profile) -> int:
    """The threshold mantissa on a shared grid: half the state range (2^(k−2) units for a k-bit
    state), within the threshold's bits and shift."""
    n = profile.neuron
    return max(min(n.threshold_max, ((n.state_range[1] + 1) // 2) >> n.threshold_shift), 1)


def shared_threshold(amax: torch.Tensor, theta: float, profile: Profile) -> torch.Tensor:
    """The threshold mantissa [out] on a shared grid: the finest unit u with max|W| ≤ q·u·2^e (q: the
    top of `shared_levels`), θ = mant·u·2^ts at most half the state range (2^(k−2) units)."""
    n = profile.neuron
    half = shared_half(profile)
    q = shared_levels(profile)[1] * 2 ** profile.weights.exponent[0]
    amax = torch.where(amax > 0, amax, torch.full_like(amax, 1e-30))
    return torch.floor(theta * q / (amax * 2**n.threshold_shift) * (1 + 1e-6)).clamp(1, half)


def _exponent(raw: torch.Tensor, theta: float, profile: Profile, bias: torch.Tensor | None) -> tuple[int, torch.Tensor]:
    """(e, threshold mantissa per neuron, floored) for the largest weight exponent that keeps the
    threshold within its bits and a quarter of the state range, and the bias within its range."""
    n, b = profile.neuron, profile.bias
    ts = n.threshold_shift
    cap = max(min(n.threshold_max, (n.state_range[1] // 4) >> ts), 1)
    b_top = (2 ** (b.bits - 1) - 1) * 2 ** b.exponent[1] if b.bits else math.inf
    b_max = _amax(bias) if bias is not None else 0.0
    lo, hi = profile.weights.exponent
    for e in range(hi, lo - 1, -1):
        unit = raw / 2**e
        mant = torch.floor(theta / unit / 2**ts)
        if bool((mant >= 1).all()) and bool((mant <= cap).all()) and (e == lo or b_max <= b_top * float(unit.min())):
            return e, mant
    e = hi if bool((torch.floor(theta / (raw / 2**hi) / 2**ts) < 1).any()) else lo
    return e, torch.floor(theta / (raw / 2**e) / 2**ts).clamp(1, cap)


def _grid_error(w: torch.Tensor, step: torch.Tensor, fmt: Any, per_channel: bool) -> torch.Tensor:
    lo, hi = fmt.levels()
    q = torch.where(w >= 0, 1.0, -1.0).to(w.dtype) if fmt.bits == 1 else _quant(w, step[:, None], lo, hi, fmt.rounding)
    err = ((q * step[:, None] - w) ** 2)
    return err.sum(dim=1) if per_channel else err.sum().expand(w.shape[0])


def layer_grid(w: torch.Tensor, theta: float | None, profile: Profile,
               bias: torch.Tensor | None = None) -> tuple[int, torch.Tensor, torch.Tensor]:
    """(weight exponent e, threshold mantissa [out], state unit [out]) of one layer; the weight
    step is unit·2^e. Without a threshold (a rate-coded layer) the unit is the raw weight step."""
    fmt, n = profile.weights, profile.neuron
    lo, hi = fmt.levels()
    per_channel = fmt.scale == "per-channel"
    if n.shared_scale and theta is not None:  # θ fixes the one grid of weights and state, whatever the scale scheme
        mant = shared_threshold(w.abs().amax(dim=1) if per_channel else w.abs().max().expand(w.shape[0]), theta, profile)
        return fmt.exponent[0], mant, theta / (mant * 2**n.threshold_shift)
    if fmt.bits == 1:
        mean = w.abs().mean(dim=1) if per_channel else w.abs().mean().expand(w.shape[0])
        raw = torch.where(mean > 0, mean, torch.ones_like(mean))
    else:
        raw = weight_step(w, lo, hi, per_channel, fmt.rounding)
    if fmt.scale == "power-of-two":
        raw = torch.pow(2.0, torch.ceil(torch.log2(raw)))
    if theta is None:
        return 0, torch.ones_like(raw), raw
    e, mant = _exponent(raw, theta, profile, bias)
    scale = 2**n.threshold_shift
    if fmt.scale == "power-of-two":
        unit = raw / 2**e
        return e, _round(theta / unit / scale, "half-even").clamp(1, n.threshold_max), unit
    if hi >= 15:  # 5+ bits: the max-abs grid, never clip
        return e, mant, theta / (mant * scale)
    up = (mant + 1).clamp(max=n.threshold_max)  # a finer grid may fit low-bit weights better
    err_floor = _grid_error(w, theta / (mant * scale) * 2**e, fmt, per_channel)
    err_up = _grid_error(w, theta / (up * scale) * 2**e, fmt, per_channel)
    mant = torch.where(err_up < err_floor, up, mant)
    return e, mant, theta / (mant * scale)


def _bias(b: torch.Tensor, unit: torch.Tensor, profile: Profile, rounding: str) -> tuple[torch.Tensor, int, float]:
    """(bias in state units, bias exponent, clipped fraction)."""
    bits = profile.bias.bits
    if bits == 0:
        return torch.zeros_like(b, dtype=torch.int64), 0, float((b != 0).double().mean()) if b.numel() else 0.0
    top = 2 ** (bits - 1) - 1
    units = b / unit
    lo, hi = profile.bias.exponent
    eb = next((e for e in range(lo, hi + 1) if _amax(_round(units / 2**e, rounding)) <= top), hi)
    raw = _round(units / 2**eb, rounding)
    clipped = float((raw.abs() > top).double().mean()) if b.numel() else 0.0
    return raw.clamp(-top, top).to(torch.int64) * 2**eb, eb, clipped


def _thetas(layer: Layer, per_channel: bool) -> tuple[float | torch.Tensor, torch.Tensor | None]:
    """(θ setting the grid: the one θ, the largest per output channel, or the largest of the layer;
    per-neuron θ [size] or None when the layer has one θ)."""
    if not isinstance(layer.lif.threshold, PerNeuron):
        return float(layer.lif.threshold), None
    per = layer.threshold_neurons
    per_c = per.reshape(layer.channels, -1).amax(dim=1)
    return (per_c if per_channel else float(per_c.max())), per


def _per_neuron_threshold(theta: torch.Tensor, unit: torch.Tensor, per: int, n: Any) -> torch.Tensor:
    """round(θ_i / (s·2^ts)) << ts per neuron [size], clamped to [1, threshold_max]."""
    mant = torch.round(theta / (unit.repeat_interleave(per) * 2**n.threshold_shift)).clamp(1, n.threshold_max)
    return (mant * 2**n.threshold_shift).to(torch.int64)


def quantize_layer(layer: Layer, profile: Profile, index: int = 0) -> tuple[QLayer, LayerReport]:
    """One `Layer` (dense or convolutional; β, θ per layer or per neuron; plain or current-based) in
    the profile's integers, with its report."""
    fmt, n = profile.weights, profile.neuron
    lo, hi = fmt.levels()
    w = layer.weight.reshape(layer.weight.shape[0], -1)
    theta, theta_n = _thetas(layer, fmt.scale == "per-channel")
    binary = fmt.bits == 1
    e, mant, unit = layer_grid(w, theta, profile, layer.bias if layer.has_bias else None)
    step = unit * 2**e
    scaled = w / step[:, None]
    q = torch.where(w >= 0, 1.0, -1.0) if binary else _round(scaled, fmt.rounding).clamp(lo, hi)
    bias, eb, bias_clipped = _bias(layer.bias, unit, profile, fmt.rounding)
    per = layer.per_channel_neurons
    if theta_n is None:
        threshold = (mant * 2**n.threshold_shift).to(torch.int64)
        theta_ref, unit_ref = torch.full((layer.channels,), float(theta), dtype=torch.float64), unit
    else:
        threshold = _per_neuron_threshold(theta_n, unit, per, n)
        if layer.kind == "conv2d" and bool((threshold.reshape(layer.channels, -1) == threshold[::per, None]).all()):
            threshold = threshold[::per].clone()  # one per channel after all
        theta_ref, unit_ref = theta_n, unit.repeat_interleave(per)
    args = (n.decay, n.decay_bits, n.decay_rounding, n.decay_shift_max)
    if isinstance(layer.lif.beta, PerNeuron):
        code, values = encode_decays(layer.beta_neurons, *args)
        beta: float | torch.Tensor = layer.beta_neurons
        betas, betas_hat = layer.beta_neurons.tolist(), code_betas(code, values).tolist()
    else:
        code, values, beta = encode_decay(float(layer.lif.beta), *args), None, float(layer.lif.beta)
        betas, betas_hat = [beta], [code.beta]
    alpha = None if layer.lif.alpha is None else float(layer.lif.alpha)
    syn = None if alpha is None else encode_decay(alpha, *args)
    qlayer = QLayer(q.to(torch.int64).reshape(layer.weight.shape), e, bias, eb, threshold, unit, code, layer.lif.reset,
                    beta, float(layer.lif.dt), layer.ops, layer.pool_fold, values, syn,
                    alpha)
    w_hat = q * step[:, None]
    dt = float(layer.lif.dt)
    errors = [_ratio_error(tau(b, dt), tau(bh, dt)) for b, bh in zip(betas, betas_hat)]
    worst = max(range(len(errors)), key=lambda k: abs(errors[k]))
    th_int = threshold if threshold.numel() == theta_ref.numel() else threshold.repeat_interleave(per)
    report = LayerReport(
        layer=index, weight_shift=e,
        weight_clipped=0.0 if binary else float((scaled.abs() > hi + 0.5).double().mean()),
        weight_max_error=float(_amax(w - w_hat)),
        weight_rel_error=float((w - w_hat).norm() / w.norm().clamp_min(1e-30)),
        bias_clipped=bias_clipped,
        bias_max_error=float(_amax(layer.bias - bias.double() * unit)),
        threshold_rel_error=float(((th_int.double() * unit_ref - theta_ref).abs() / theta_ref).max()),
        threshold_int=(int(threshold.min()), int(threshold.max())),
        beta=betas[worst], beta_hat=betas_hat[worst], tau=tau(betas[worst], dt), tau_hat=tau(betas_hat[worst], dt),
        tau_rel_error=errors[worst], kind=layer.kind,
        alpha=alpha, alpha_hat=None if syn is None else syn.beta,
        tau_syn_rel_error=None if syn is None or alpha is None else _ratio_error(tau(alpha, dt), tau(syn.beta, dt)),
        per_neuron=layer.lif.per_neuron)
    return qlayer, report


def _ratio_error(t: float, t_hat: float) -> float:
    if t == t_hat:
        return 0.0
    if math.isinf(t) or t == 0:
        return math.inf
    return t_hat / t - 1.0


def quantize(net: nn.Module | Sequence[Layer], profile: Profile, bits: int | None = None, *,
             input_shape: Sequence[int] | None = None, state_bits: int | None = None) -> QuantizedNet:
    """Post-training quantisation of a `SpikingNet` (or its layers) onto `profile`, with weight
    mantissas of `bits` bits (default: the profile's) and a membrane of `state_bits` bits (default:
    the profile's; fewer share the weights' scale, `Profile.with_state_bits`); `input_shape`
    (C, H, W) for convolutions (default ``net.input_shape``). Raises `ExportRefused` with every
    violation when the network cannot be read as LIF layers, `ConfigError` for bits the profile
    does not offer."""
    from spikefa.export.check import ExportRefused

    prof = profile.with_bits(bits).with_state_bits(state_bits)
    if isinstance(net, nn.Module):
        layers, problems = read_layers(net, input_shape)
        if problems:
            raise ExportRefused(prof.name, problems)
    else:
        layers = list(net)
    pairs = [quantize_layer(layer, prof, i) for i, layer in enumerate(layers)]
    return QuantizedNet(tuple(p[0] for p in pairs), prof, prof.weights.bits, prof.neuron.state_bits,
                        prof.neuron.overflow, tuple(p[1] for p in pairs))


def _kind(r: LayerReport) -> str:
    extra = " (per-neuron β/θ: worst neuron shown)" if r.per_neuron else ""
    if r.alpha is not None:
        extra += f", synaptic current α {r.alpha:.4g} → {r.alpha_hat:.4g}"
    return r.kind + extra


def report_table(qnet: QuantizedNet) -> str:
    """The per-layer report as a Markdown table."""
    head = ("| layer | kind | e | weights clipped | max \\|ΔW\\| | ‖ΔW‖/‖W‖ | bias clipped | θ int | θ error "
            "| β → β̂ | τ → τ̂ (ms) | τ error |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = [f"| {r.layer} | {_kind(r)} | {r.weight_shift} | {100 * r.weight_clipped:.2f} % | {r.weight_max_error:.3g} "
            f"| {r.weight_rel_error:.3g} | {100 * r.bias_clipped:.2f} % | {r.threshold_int[0]}–{r.threshold_int[1]} "
            f"| {r.threshold_rel_error:.2g} | {r.beta:.4g} → {r.beta_hat:.4g} | {r.tau:.3g} → {r.tau_hat:.3g} "
            f"| {100 * r.tau_rel_error:+.1f} % |" for r in qnet.report]
    legend = ("\ne: the weight exponent (a weight in state units is its mantissa × 2^e); weights clipped: the share "
              "beyond the grid's range; ‖ΔW‖/‖W‖: the rounding error relative to the float weights; θ int: the "
              "integer thresholds (state units); τ error: the decay's rounding as a change of τ.")
    return "\n".join([head, *rows]) + "\n" + legend
