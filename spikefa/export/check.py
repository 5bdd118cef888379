"""The constraint checker: every way a network breaks a profile, listed, never just the first.

`check` returns the violations as one-line strings (empty: the network fits); export refuses with
`ExportRefused`, whose one-line message holds the whole list ("; "-joined) so that the CLI's
one-line error with exit code 2 shows all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from spikefa.errors import ConfigError, SpikefaError
from spikefa.export.network import Layer, Op, read_layers
from spikefa.export.profile import Profile
from spikefa.schemas.neuron import PerNeuron, values_of


class ExportRefused(SpikefaError):
    """The network does not fit the target; `violations` lists why."""

    def __init__(self, target: str, violations: Sequence[str]) -> None:
        self.target = target
        self.violations = list(violations)
        n = len(self.violations)
        super().__init__(f"cannot export to {target!r}: {n} violation{'s' * (n != 1)}: " + "; ".join(self.violations))


def neuron_model(layer: Layer) -> str:
    """``if`` for β = 1 (no leak; every neuron's, for per-neuron β), else ``lif``."""
    return "if" if min(values_of(layer.lif.beta)) >= 1.0 else "lif"


def _beta_text(beta: float | PerNeuron) -> str:
    values = values_of(beta)
    return f"beta {values[0]:g}" if len(values) == 1 else f"per-neuron beta {min(values):g} to {max(values):g}"


def _neurons(layers: Sequence[Layer], p: Profile) -> list[str]:
    out = []
    for i, l in enumerate(layers):
        model = neuron_model(l)
        if model not in p.neuron.models:
            out.append(f"layer {i}: neuron model {model!r} ({_beta_text(l.lif.beta)}) is not supported; "
                       f"{p.name} runs {', '.join(p.neuron.models)}")
        if l.current_based and not p.neuron.synaptic_current:
            out.append(f"layer {i}: current-based neurons (a synaptic current state, alpha {l.lif.alpha:g}: "
                       f"snnTorch's Synaptic, NIR's CubaLIF) are not supported; {p.name} runs one state per neuron "
                       "(Leaky / LIF)")
        if l.lif.reset not in p.neuron.resets:
            out.append(f"layer {i}: reset {l.lif.reset!r} is not supported; {p.name} resets by {', '.join(p.neuron.resets)}")
        lo, hi = p.dt_ms
        if not lo <= l.lif.dt <= hi:
            out.append(f"layer {i}: dt {l.lif.dt:g} ms is outside {p.name}'s [{lo:g}, {hi:g}] ms")
        if l.has_bias and p.bias.bits == 0 and bool((l.bias != 0).any()):
            out.append(f"layer {i}: has a bias but {p.name} has none (train with bias = false)")
    return out


def _layer_limits(layers: Sequence[Layer], p: Profile) -> list[str]:
    lim, out = p.limits, []
    for i, l in enumerate(layers):
        for value, cap, what in ((l.size, lim.neurons_per_layer, "neurons"), (l.fan_in, lim.fan_in, "fan-in"),
                                 (l.weight_count, lim.synapses_per_layer, "synapses")):
            if cap is not None and value > cap:
                out.append(f"layer {i}: {value} {what} > {p.name}'s {cap} per layer")
    return out


def _net_limits(layers: Sequence[Layer], p: Profile) -> list[str]:
    lim = p.limits
    if not layers:
        return []
    totals = (
        (layers[0].in_features, lim.inputs, "inputs"),
        (layers[-1].size, lim.outputs, "output neurons"),
        (sum(l.size for l in layers[:-1]), lim.hidden_neurons, "hidden neurons"),
        (sum(l.size for l in layers), lim.neurons, "neurons"),
        (len(layers), lim.layers, "layers"),
        (sum(l.weight_count for l in layers), lim.synapses, "synapses"),
    )
    return [f"network: {value} {what} > {p.name}'s {cap}" for value, cap, what in totals if cap is not None and value > cap]


def _bits(p: Profile, bits: int | None, state_bits: int | None = None) -> list[str]:
    out = []
    if bits is not None and bits not in p.weights.bits_options:
        out.append(f"weights: {bits}-bit weights are not offered; {p.name} takes "
                   f"{', '.join(str(b) for b in p.weights.bits_options)} bits")
    if state_bits is not None:
        try:
            p.with_state_bits(state_bits)
        except ConfigError as err:
            out.append(f"state: {err}")
    return out


def _conv_limits(i: int, op: Op, l: Layer, p: Profile) -> list[str]:
    s, out = p.layers, []
    where = f"layer {i}: conv2d"
    if s.kernel_max is not None and max(op.kernel) > s.kernel_max:
        out.append(f"{where} kernel {op.kernel[0]}x{op.kernel[1]} > {p.name}'s {s.kernel_max}x{s.kernel_max}")
    if s.strides and any(v not in s.strides for v in op.stride):
        out.append(f"{where} stride {list(op.stride)} is not supported; {p.name} takes {', '.join(map(str, s.strides))}")
    if s.padding_max is not None and max(op.padding) > s.padding_max:
        out.append(f"{where} padding {list(op.padding)} > {p.name}'s {s.padding_max}")
    if op.groups > 1 and not s.groups:
        out.append(f"{where} groups {op.groups} (grouped / depthwise convolution) is not supported by {p.name}")
    channels = max(op.in_shape[0], op.out_shape[0])
    if s.channels_max is not None and channels > s.channels_max:
        out.append(f"{where} {channels} channels > {p.name}'s {s.channels_max}")
    if s.kernel_memory is not None and l.weight_count > s.kernel_memory:
        out.append(f"{where} {l.weight_count} weights > {p.name}'s kernel memory of {s.kernel_memory}")
    return out


def _pool_limits(i: int, op: Op, place: str, p: Profile) -> list[str]:
    s, out = p.layers, []
    if place not in s.pool_on:
        out.append(f"layer {i}: {op.kind} of {place} is not supported; {p.name} pools "
                   f"{' and '.join(s.pool_on)} ({'before' if 'spikes' in s.pool_on else 'after'} the weighted operation)")
    if s.pool_kernels and any(k not in s.pool_kernels for k in op.kernel):
        out.append(f"layer {i}: {op.kind} window {op.kernel[0]}x{op.kernel[1]} is not supported; {p.name} pools "
                   f"{', '.join(map(str, s.pool_kernels))}")
    return out


def _kinds(layers: Sequence[Layer], p: Profile) -> list[str]:
    """Layer kinds the target does not take, and its convolution and pooling limits."""
    out = []
    for i, l in enumerate(layers):
        place = "spikes"
        for op in l.ops:
            if op.kind not in p.layers.kinds:
                out.append(f"layer {i}: {op.kind} is not supported; {p.name} takes {', '.join(p.layers.kinds)}")
            elif op.kind == "conv2d":
                out += _conv_limits(i, op, l, p)
            elif op.pool:
                out += _pool_limits(i, op, place, p)
            if op.weighted:
                place = "currents"
    return out


CHECKS: tuple[Callable[[Sequence[Layer], Profile], list[str]], ...] = (_kinds, _neurons, _layer_limits, _net_limits)


def check_layers(layers: Sequence[Layer], profile: Profile, bits: int | None = None,
                 state_bits: int | None = None) -> list[str]:
    """Every violation of `profile` by `layers` (weights of `bits` bits, a `state_bits` membrane)."""
    out = _bits(profile, bits, state_bits)
    for rule in CHECKS:
        out += rule(layers, profile)
    return out


def check(net: nn.Module, profile: Profile, bits: int | None = None, *,
          input_shape: Sequence[int] | None = None, state_bits: int | None = None) -> list[str]:
    """Every violation of `profile` by `net`: unreadable synapses, layer kinds (convolutions, pools)
    and their kernel / stride / padding / groups / channel / kernel-memory / pool limits, neuron
    model, reset, dt, bias, bit width, neuron / fan-in / synapse / layer / input / output limits.
    `input_shape` (C, H, W) is needed for convolutions (default ``net.input_shape``); `state_bits`
    a membrane narrower than the profile's (`Profile.with_state_bits`)."""
    layers, problems = read_layers(net, input_shape)
    return problems + check_layers(layers, profile, bits, state_bits)


def require_fit(net: nn.Module, profile: Profile, bits: int | None = None, *,
                input_shape: Sequence[int] | None = None) -> list[Layer]:
    """The layers of `net`, or `ExportRefused` listing every violation."""
    problems = check(net, profile, bits, input_shape=input_shape)
    if problems:
        raise ExportRefused(profile.name, problems)
    return read_layers(net, input_shape)[0]
