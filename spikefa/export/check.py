"""The constraint checker: every way a network breaks a profile, listed, never just the first.

`check` returns the violations as one-line strings (empty: the network fits); export refuses with
`ExportRefused`, whose one-line message holds the whole list ("; "-joined) so that the CLI's
one-line error with exit code 2 shows all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from spikefa.errors import SpikefaError
from spikefa.export.network import DenseLayer, dense_layers
from spikefa.export.profile import Profile


class ExportRefused(SpikefaError):
    """The network does not fit the target; `violations` lists why."""

    def __init__(self, target: str, violations: Sequence[str]) -> None:
        self.target = target
        self.violations = list(violations)
        n = len(self.violations)
        super().__init__(f"cannot export to {target!r}: {n} violation{'s' * (n != 1)}: " + "; ".join(self.violations))


def neuron_model(layer: DenseLayer) -> str:
    """``if`` for β = 1 (no leak), else ``lif``."""
    return "if" if layer.lif.beta >= 1.0 else "lif"


def _neurons(layers: Sequence[DenseLayer], p: Profile) -> list[str]:
    out = []
    for i, l in enumerate(layers):
        model = neuron_model(l)
        if model not in p.neuron.models:
            out.append(f"layer {i}: neuron model {model!r} (beta {l.lif.beta:g}) is not supported; "
                       f"{p.name} runs {', '.join(p.neuron.models)}")
        if l.lif.reset not in p.neuron.resets:
            out.append(f"layer {i}: reset {l.lif.reset!r} is not supported; {p.name} resets by {', '.join(p.neuron.resets)}")
        lo, hi = p.dt_ms
        if not lo <= l.lif.dt <= hi:
            out.append(f"layer {i}: dt {l.lif.dt:g} ms is outside {p.name}'s [{lo:g}, {hi:g}] ms")
        if l.has_bias and p.bias.bits == 0 and bool((l.bias != 0).any()):
            out.append(f"layer {i}: has a bias but {p.name} has none (train with bias = false)")
    return out


def _layer_limits(layers: Sequence[DenseLayer], p: Profile) -> list[str]:
    lim, out = p.limits, []
    for i, l in enumerate(layers):
        for value, cap, what in ((l.size, lim.neurons_per_layer, "neurons"), (l.fan_in, lim.fan_in, "fan-in"),
                                 (l.size * l.fan_in, lim.synapses_per_layer, "synapses")):
            if cap is not None and value > cap:
                out.append(f"layer {i}: {value} {what} > {p.name}'s {cap} per layer")
    return out


def _net_limits(layers: Sequence[DenseLayer], p: Profile) -> list[str]:
    lim = p.limits
    if not layers:
        return []
    totals = (
        (layers[0].fan_in, lim.inputs, "inputs"),
        (layers[-1].size, lim.outputs, "output neurons"),
        (sum(l.size for l in layers[:-1]), lim.hidden_neurons, "hidden neurons"),
        (sum(l.size for l in layers), lim.neurons, "neurons"),
        (len(layers), lim.layers, "layers"),
        (sum(l.size * l.fan_in for l in layers), lim.synapses, "synapses"),
    )
    return [f"network: {value} {what} > {p.name}'s {cap}" for value, cap, what in totals if cap is not None and value > cap]


def _bits(p: Profile, bits: int | None) -> list[str]:
    if bits is not None and bits not in p.weights.bits_options:
        return [f"weights: {bits}-bit weights are not offered; {p.name} takes "
                f"{', '.join(str(b) for b in p.weights.bits_options)} bits"]
    return []


CHECKS: tuple[Callable[[Sequence[DenseLayer], Profile], list[str]], ...] = (_neurons, _layer_limits, _net_limits)


def check_layers(layers: Sequence[DenseLayer], profile: Profile, bits: int | None = None) -> list[str]:
    """Every violation of `profile` by dense `layers` (weights of `bits` bits)."""
    out = _bits(profile, bits)
    for rule in CHECKS:
        out += rule(layers, profile)
    return out


def check(net: nn.Module, profile: Profile, bits: int | None = None) -> list[str]:
    """Every violation of `profile` by `net`: unreadable synapses (convolutions, pools), neuron model,
    reset, dt, bias, bit width, neuron / fan-in / synapse / layer / input / output limits."""
    layers, problems = dense_layers(net)
    return problems + check_layers(layers, profile, bits)


def require_fit(net: nn.Module, profile: Profile, bits: int | None = None) -> list[DenseLayer]:
    """The dense layers of `net`, or `ExportRefused` listing every violation."""
    problems = check(net, profile, bits)
    if problems:
        raise ExportRefused(profile.name, problems)
    return dense_layers(net)[0]
