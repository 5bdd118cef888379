"""Hardware target profiles: frozen dataclasses read from ``hardware/<name>.toml``, validated on
construction so that a bad profile fails with one line naming the file, the key and the value.

A profile says how a trained LIF network becomes integers on a target (see `spikefa.export.quantize`):

- ``[weights]``  mantissa bits and range (symmetric ±(2^(b−1) − 1), or the full two's complement
  range), the bit widths a sweep may ask for, the scale scheme (one real scale per layer, per output
  neuron, or a power of two per layer), rounding, and the per-layer exponent range e: a weight is
  ``mantissa << e`` state units (Loihi's weight exponent, Xylo's per-matrix bit shift).
- ``[bias]``     mantissa bits and the per-layer exponent range of the bias (0 bits: no bias).
- ``[neuron]``   neuron models (``lif``: β < 1, ``if``: β = 1), reset modes, state and threshold bits,
  the threshold's fixed left shift, overflow (saturate or wrap), ``shared_scale`` (low-bit state:
  `Profile.with_state_bits`), ``synaptic_current`` (whether it runs current-based neurons, snnTorch's
  ``Synaptic`` / NIR's ``CubaLIF``: a second state per neuron, J ← D_α(J) + W·x, in the state's bits)
  and the decay encoding (of β, and of α):
  ``multiplier`` (U·m / 2^decay_bits, m = round(β·2^decay_bits)), ``shift`` (U − U >> k) or ``none``.
- ``[layers]``   the layer kinds the target takes (``dense``, ``conv2d``, ``sumpool2d``, ``avgpool2d``,
  ``maxpool2d``, ``flatten``; default dense and flatten only), where it pools (``spikes``: a pool
  before the weighted operation, on the previous layer's output; ``currents``: after it), and the
  convolution limits: kernel side, strides, padding, grouped convolutions, channels, pool windows,
  the weights of one convolution (kernel memory).
- ``[limits]``   resource limits; a missing key means "no limit". For a convolution, ``fan_in`` is
  C_in/groups·k_h·k_w and ``synapses`` / ``synapses_per_layer`` count stored weights.
- ``[timing]``   the dt range in ms and the longest synaptic delay in steps.
- ``[export]``   the writers (spikefa.export.writers.EXPORTERS) that apply to the target.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from spikefa.errors import ConfigError
from spikefa.schemas.validate import Real, Validated, check_keys, choices, located, parse_section, require, table_at

Scale = Literal["per-tensor", "per-channel", "power-of-two"]
Range = Literal["symmetric", "full"]
Rounding = Literal["half-even", "half-away"]
NeuronModel = Literal["lif", "if"]
ChipReset = Literal["subtract", "zero"]
Overflow = Literal["saturate", "wrap"]
Decay = Literal["multiplier", "shift", "none"]
DecayRounding = Literal["floor", "toward-zero", "nearest"]
SCALES, RANGES, ROUNDINGS = choices(Scale), choices(Range), choices(Rounding)
NEURON_MODELS, RESETS, OVERFLOWS = choices(NeuronModel), choices(ChipReset), choices(Overflow)
DECAYS, DECAY_ROUNDINGS = choices(Decay), choices(DecayRounding)
LayerKind = Literal["dense", "conv2d", "sumpool2d", "avgpool2d", "maxpool2d", "flatten"]
PoolPlace = Literal["spikes", "currents"]
LAYER_KINDS, POOL_PLACES = choices(LayerKind), choices(PoolPlace)
LIMIT_KEYS = ("inputs", "outputs", "hidden_neurons", "neurons", "neurons_per_layer", "fan_in",
              "layers", "synapses_per_layer", "synapses")


def _int_in(key: str, value: int, lo: int, hi: int) -> None:
    require(key, value, lo <= value <= hi, f"an integer in [{lo}, {hi}]")


def _pair(key: str, value: tuple[int, ...], lo: int, hi: int) -> None:
    ok = len(value) == 2 and all(lo <= v <= hi for v in value) and value[0] <= value[1]
    require(key, value, ok, f"[low, high] integers with {lo} <= low <= high <= {hi}")


def _non_empty(key: str, value: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    require(key, value, bool(value), f"a non-empty list from: {', '.join(allowed)}")


@dataclass(frozen=True)
class WeightFormat(Validated):
    """Synaptic weights: ``mantissa << e`` state units, mantissa in `bits` bits."""

    bits: int
    bits_options: tuple[int, ...]
    range: Range = "symmetric"
    scale: Scale = "per-tensor"
    rounding: Rounding = "half-even"
    exponent: tuple[int, ...] = (0, 0)

    def check(self) -> None:
        _int_in("bits", self.bits, 1, 16)
        require("bits_options", self.bits_options, self.bits in self.bits_options and all(
            1 <= b <= 16 for b in self.bits_options), f"a list of integers in [1, 16] that contains bits = {self.bits}")
        _pair("exponent", self.exponent, 0, 24)

    def levels(self, bits: int | None = None) -> tuple[int, int]:
        """(lowest, highest) mantissa for `bits` (default: the profile's); 1 bit is {−1, +1}."""
        b = self.bits if bits is None else bits
        if b == 1:
            return -1, 1
        top = 2 ** (b - 1) - 1
        return (-top if self.range == "symmetric" else -top - 1), top


@dataclass(frozen=True)
class BiasFormat(Validated):
    """Bias: ``mantissa << e`` state units, mantissa in `bits` bits (0: the target has no bias)."""

    bits: int
    exponent: tuple[int, ...] = (0, 0)

    def check(self) -> None:
        _int_in("bits", self.bits, 0, 32)
        _pair("exponent", self.exponent, 0, 24)


@dataclass(frozen=True)
class NeuronFormat(Validated):
    """Neuron models, reset modes, state/threshold widths, overflow and the decay encoding."""

    models: tuple[NeuronModel, ...]
    resets: tuple[ChipReset, ...]
    state_bits: int
    threshold_bits: int
    threshold_signed: bool = True
    threshold_shift: int = 0
    overflow: Overflow = "saturate"
    decay: Decay = "multiplier"
    decay_bits: int = 12
    decay_rounding: DecayRounding = "floor"
    decay_shift_max: int = 15
    shared_scale: bool = False  # low-bit state (MINT): weights and state on one grid, θ ≤ half the range
    synaptic_current: bool = False  # runs current-based neurons: a second state J ← α·J + W·x per neuron

    def check(self) -> None:
        _non_empty("models", self.models, NEURON_MODELS)
        _non_empty("resets", self.resets, RESETS)
        _int_in("state_bits", self.state_bits, 2, 48)
        _int_in("threshold_bits", self.threshold_bits, 2, 48)
        _int_in("threshold_shift", self.threshold_shift, 0, 24)
        _int_in("decay_bits", self.decay_bits, 1, 24)
        _int_in("decay_shift_max", self.decay_shift_max, 1, 31)
        require("models", self.models, not (self.decay == "none" and "lif" in self.models),
                "['if'] with decay = 'none' (a target without a decay runs 'if' neurons only)")

    @property
    def state_range(self) -> tuple[int, int]:
        """Symmetric state range ±(2^(state_bits−1) − 1)."""
        top = 2 ** (self.state_bits - 1) - 1
        return -top, top

    @property
    def threshold_max(self) -> int:
        """Largest threshold mantissa (the threshold is ``mantissa << threshold_shift``)."""
        return 2 ** (self.threshold_bits - (1 if self.threshold_signed else 0)) - 1


@dataclass(frozen=True)
class LayerSupport(Validated):
    """The layer kinds a target takes and its convolution / pooling limits (empty list or None: any)."""

    kinds: tuple[LayerKind, ...] = ("dense", "flatten")
    pool_on: tuple[PoolPlace, ...] = ("spikes", "currents")
    kernel_max: int | None = None  # largest kernel side of a convolution
    strides: tuple[int, ...] = ()  # convolution strides it takes
    padding_max: int | None = None
    groups: bool = False  # grouped / depthwise convolutions
    channels_max: int | None = None  # input and output channels of one convolution
    pool_kernels: tuple[int, ...] = ()  # pool window sides it takes
    kernel_memory: int | None = None  # weights of one convolution

    def check(self) -> None:
        require("kinds", self.kinds, "dense" in self.kinds, f"a list from: {', '.join(LAYER_KINDS)} that holds 'dense'")
        _non_empty("pool_on", self.pool_on, POOL_PLACES)
        for key in ("kernel_max", "padding_max", "channels_max", "kernel_memory"):
            value = getattr(self, key)
            if value is not None:
                _int_in(key, value, 0 if key == "padding_max" else 1, 2**62)
        for key in ("strides", "pool_kernels"):
            require(key, getattr(self, key), all(1 <= v <= 64 for v in getattr(self, key)), "integers in [1, 64]")


@dataclass(frozen=True)
class Limits(Validated):
    """Resource limits; None is no limit."""

    inputs: int | None = None
    outputs: int | None = None
    hidden_neurons: int | None = None
    neurons: int | None = None
    neurons_per_layer: int | None = None
    fan_in: int | None = None
    layers: int | None = None
    synapses_per_layer: int | None = None
    synapses: int | None = None

    def check(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                _int_in(f.name, value, 1, 2**62)


@dataclass(frozen=True)
class Profile(Validated):
    """One hardware target, validated (see the module docstring)."""

    UNCHECKED = ("weights", "bias", "neuron", "limits", "layers")

    name: str
    description: str
    references: tuple[str, ...]
    weights: WeightFormat
    bias: BiasFormat
    neuron: NeuronFormat
    limits: Limits = field(default_factory=Limits)
    layers: LayerSupport = field(default_factory=LayerSupport)
    dt_ms: tuple[Real, ...] = (0.0, math.inf)
    max_delay: int = 0
    formats: tuple[str, ...] = ("nir",)
    source: str = ""

    def check(self) -> None:
        from spikefa.export.writers import EXPORTERS

        require("name", self.name, bool(self.name.strip()), "a non-empty string")
        require("references", self.references, bool(self.references),
                "a non-empty list of sources for the profile's numbers")
        require("timing.dt_ms", self.dt_ms, len(self.dt_ms) == 2 and 0 <= self.dt_ms[0] <= self.dt_ms[1],
                "[low, high] ms, 0 <= low <= high")
        _int_in("timing.max_delay", self.max_delay, 0, 2**16)
        require("export.formats", self.formats, bool(self.formats) and all(f in EXPORTERS for f in self.formats),
                f"a non-empty list from: {', '.join(EXPORTERS)}")

    def with_bits(self, bits: int | None) -> Profile:
        """The same profile with weight mantissas of `bits` bits (must be one of bits_options)."""
        if bits is None or bits == self.weights.bits:
            return self
        if bits not in self.weights.bits_options:
            raise ConfigError(f"bits = {bits!r} is not offered by profile {self.name!r}; it offers "
                              f"{', '.join(map(str, self.weights.bits_options))}")
        return replace(self, weights=replace(self.weights, bits=bits))

    def with_state_bits(self, state_bits: int | None) -> Profile:
        """The same profile with a membrane state of `state_bits` bits below its maximum, on the
        weights' grid (MINT, Yin et al. 2023: one scale shared by weights and membrane, so the state
        needs no rescaling): the weight exponent is fixed at its lowest and the threshold mantissa at
        most half the state range. None or the profile's own width: the profile unchanged."""
        n = self.neuron
        if state_bits is None or state_bits == n.state_bits:
            return self
        if not isinstance(state_bits, int) or isinstance(state_bits, bool) or not 3 <= state_bits < n.state_bits:
            raise ConfigError(f"state_bits = {state_bits!r} is not allowed for profile {self.name!r}; expected an "
                              f"integer in [3, {n.state_bits}] (its state is {n.state_bits} bits)")
        if (2 ** (state_bits - 2)) >> n.threshold_shift < 1:
            raise ConfigError(f"state_bits = {state_bits} is too few for profile {self.name!r}: its threshold is "
                              f"shifted left by {n.threshold_shift} bits; expected at least {n.threshold_shift + 3}")
        neuron = replace(n, state_bits=state_bits, threshold_bits=min(n.threshold_bits, state_bits), shared_scale=True)
        return replace(self, neuron=neuron)


# ---------------------------------------------------------------- parsing

_SECTIONS: dict[str, type] = {"weights": WeightFormat, "bias": BiasFormat, "neuron": NeuronFormat,
                              "limits": Limits, "layers": LayerSupport}
_TOP = ["name", "description", "references", "weights", "bias", "neuron", "limits", "layers", "timing", "export"]
_NESTED = {"timing": {"dt_ms": "dt_ms", "max_delay": "max_delay"}, "export": {"formats": "formats"}}


def parse_profile(mapping: Mapping[str, Any], source: str) -> Profile:
    """A `Profile` from a parsed TOML mapping; errors say ``<file>: <section>.<key> = <value> ...``."""
    check_keys(mapping, _TOP, ["name", "description", "references", "weights", "neuron"], (source, ""))
    parts = {k: parse_section(cls, mapping.get(k, {"bits": 0} if k == "bias" else {}), source, k)
             for k, cls in _SECTIONS.items()}
    flat: dict[str, Any] = {}
    for section, keys in _NESTED.items():
        table = table_at(mapping.get(section, {}), source, section)
        check_keys(table, list(keys), [], (source, section))
        flat.update({keys[k]: v for k, v in table.items()})
    with located(source, ""):
        return Profile(name=mapping["name"], description=mapping["description"], references=mapping["references"],
                       **parts, **flat, source=source)


def load_profile(name_or_path: str | os.PathLike[str]) -> Profile:
    """Find (``spikefa.catalog.find_file(kind="hardware")``), read and validate a profile."""
    from spikefa.catalog import find_file, read_toml

    path = find_file(name_or_path, "hardware")
    profile = parse_profile(read_toml(path), str(path))
    if not _is_path_like(name_or_path) and profile.name != os.fspath(name_or_path):
        raise ConfigError(f"{path}: name = {profile.name!r} does not match the file name {path.stem!r}")
    return profile


def _is_path_like(value: str | os.PathLike[str]) -> bool:
    text = os.fspath(value)
    return isinstance(value, os.PathLike) or text.endswith(".toml") or os.sep in text


def list_profiles() -> list[str]:
    """Names of every profile `load_profile` can find."""
    from spikefa.catalog import list_names

    return list_names("hardware")
