"""Hardware target profiles: frozen dataclasses read from ``hardware/<name>.toml``, validated on
construction so that a bad profile fails with one line naming the file, the key and the value.

A profile says how a trained LIF network becomes integers on a target (see `spikefa.export.quantize`):

- ``[weights]``  mantissa bits and range (symmetric ±(2^(b−1) − 1), or the full two's complement
  range), the bit widths a sweep may ask for, the scale scheme (one real scale per layer, per output
  neuron, or a power of two per layer), rounding, and the per-layer exponent range e: a weight is
  ``mantissa << e`` state units (Loihi's weight exponent, Xylo's per-matrix bit shift).
- ``[bias]``     mantissa bits and the per-layer exponent range of the bias (0 bits: no bias).
- ``[neuron]``   neuron models (``lif``: β < 1, ``if``: β = 1), reset modes, state and threshold bits,
  the threshold's fixed left shift, overflow (saturate or wrap) and the decay encoding:
  ``multiplier`` (U·m / 2^decay_bits, m = round(β·2^decay_bits)), ``shift`` (U − U >> k) or ``none``.
- ``[limits]``   resource limits; a missing key means "no limit".
- ``[timing]``   the dt range in ms and the longest synaptic delay in steps.
- ``[export]``   the writers (spikefa.export.writers.EXPORTERS) that apply to the target.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from spikefa.errors import ConfigError

SCALES = ("per-tensor", "per-channel", "power-of-two")
RANGES = ("symmetric", "full")
ROUNDINGS = ("half-even", "half-away")
NEURON_MODELS = ("lif", "if")
RESETS = ("subtract", "zero")
OVERFLOWS = ("saturate", "wrap")
DECAYS = ("multiplier", "shift", "none")
DECAY_ROUNDINGS = ("floor", "toward-zero", "nearest")
LIMIT_KEYS = ("inputs", "outputs", "hidden_neurons", "neurons", "neurons_per_layer", "fan_in",
              "layers", "synapses_per_layer", "synapses")


def _int(key: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{key} = {value!r} is not allowed; expected an integer in [{lo}, {hi}]")


def _choice(key: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"{key} = {value!r} is not allowed; expected one of: {', '.join(allowed)}")


def _subset(key: str, values: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    if not isinstance(values, tuple) or not values or any(v not in allowed for v in values):
        raise ConfigError(f"{key} = {list(values) if isinstance(values, tuple) else values!r} is not "
                          f"allowed; expected a non-empty list from: {', '.join(allowed)}")


def _int_range(key: str, value: object, lo: int, hi: int) -> None:
    ok = isinstance(value, tuple) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi for v in value) and value[0] <= value[1]
    if not ok:
        raise ConfigError(f"{key} = {list(value) if isinstance(value, tuple) else value!r} is not allowed; "
                          f"expected [low, high] integers with {lo} <= low <= high <= {hi}")


@dataclass(frozen=True)
class WeightFormat:
    """Synaptic weights: ``mantissa << e`` state units, mantissa in `bits` bits."""

    bits: int
    bits_options: tuple[int, ...]
    range: str = "symmetric"
    scale: str = "per-tensor"
    rounding: str = "half-even"
    exponent: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        _int("bits", self.bits, 1, 16)
        if not isinstance(self.bits_options, tuple) or not self.bits_options or self.bits not in self.bits_options:
            shown = list(self.bits_options) if isinstance(self.bits_options, tuple) else self.bits_options
            raise ConfigError(f"bits_options = {shown!r} is not allowed; expected a list of "
                              f"integers that contains bits = {self.bits}")
        for b in self.bits_options:
            _int("bits_options", b, 1, 16)
        _choice("range", self.range, RANGES)
        _choice("scale", self.scale, SCALES)
        _choice("rounding", self.rounding, ROUNDINGS)
        _int_range("exponent", self.exponent, 0, 24)

    def levels(self, bits: int | None = None) -> tuple[int, int]:
        """(lowest, highest) mantissa for `bits` (default: the profile's); 1 bit is {−1, +1}."""
        b = self.bits if bits is None else bits
        if b == 1:
            return -1, 1
        top = 2 ** (b - 1) - 1
        return (-top if self.range == "symmetric" else -top - 1), top


@dataclass(frozen=True)
class BiasFormat:
    """Bias: ``mantissa << e`` state units, mantissa in `bits` bits (0: the target has no bias)."""

    bits: int
    exponent: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        _int("bits", self.bits, 0, 32)
        _int_range("exponent", self.exponent, 0, 24)


@dataclass(frozen=True)
class NeuronFormat:
    """Neuron models, reset modes, state/threshold widths, overflow and the decay encoding."""

    models: tuple[str, ...]
    resets: tuple[str, ...]
    state_bits: int
    threshold_bits: int
    threshold_signed: bool = True
    threshold_shift: int = 0
    overflow: str = "saturate"
    decay: str = "multiplier"
    decay_bits: int = 12
    decay_rounding: str = "floor"
    decay_shift_max: int = 15

    def __post_init__(self) -> None:
        _subset("models", self.models, NEURON_MODELS)
        _subset("resets", self.resets, RESETS)
        _int("state_bits", self.state_bits, 2, 48)
        _int("threshold_bits", self.threshold_bits, 2, 48)
        if not isinstance(self.threshold_signed, bool):
            raise ConfigError(f"threshold_signed = {self.threshold_signed!r} is not allowed; expected true or false")
        _int("threshold_shift", self.threshold_shift, 0, 24)
        _choice("overflow", self.overflow, OVERFLOWS)
        _choice("decay", self.decay, DECAYS)
        _int("decay_bits", self.decay_bits, 1, 24)
        _choice("decay_rounding", self.decay_rounding, DECAY_ROUNDINGS)
        _int("decay_shift_max", self.decay_shift_max, 1, 31)
        if self.decay == "none" and "lif" in self.models:
            raise ConfigError("models = ['lif', ...] is not allowed with decay = 'none'; a target without "
                              "a decay runs 'if' neurons only")

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
class Limits:
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

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                _int(f.name, value, 1, 2**62)


@dataclass(frozen=True)
class Profile:
    """One hardware target, validated (see the module docstring)."""

    name: str
    description: str
    references: tuple[str, ...]
    weights: WeightFormat
    bias: BiasFormat
    neuron: NeuronFormat
    limits: Limits = field(default_factory=Limits)
    dt_ms: tuple[float, float] = (0.0, math.inf)
    max_delay: int = 0
    formats: tuple[str, ...] = ("nir",)
    source: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError(f"name = {self.name!r} is not allowed; expected a non-empty string")
        if not isinstance(self.references, tuple) or not self.references:
            raise ConfigError(f"references = {self.references!r} is not allowed; expected a non-empty list "
                              "of sources for the profile's numbers")
        lo, hi = self.dt_ms
        if not (isinstance(lo, int | float) and isinstance(hi, int | float) and 0 <= lo <= hi):
            raise ConfigError(f"timing.dt_ms = {list(self.dt_ms)!r} is not allowed; expected [low, high] ms, 0 <= low <= high")
        _int("timing.max_delay", self.max_delay, 0, 2**16)
        from spikefa.export.writers import EXPORTERS

        _subset("export.formats", self.formats, tuple(EXPORTERS))

    def with_bits(self, bits: int | None) -> Profile:
        """The same profile with weight mantissas of `bits` bits (must be one of bits_options)."""
        if bits is None or bits == self.weights.bits:
            return self
        if bits not in self.weights.bits_options:
            raise ConfigError(f"bits = {bits!r} is not offered by profile {self.name!r}; it offers "
                              f"{', '.join(map(str, self.weights.bits_options))}")
        return replace(self, weights=replace(self.weights, bits=bits))


# ---------------------------------------------------------------- parsing

_SECTIONS: dict[str, type] = {"weights": WeightFormat, "bias": BiasFormat, "neuron": NeuronFormat,
                              "limits": Limits}
_TOP = ("name", "description", "references", "weights", "bias", "neuron", "limits", "timing", "export")


def _tupled(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _section(cls: type, table: object, source: str, section: str) -> Any:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: [{section}] must be a table, got {table!r}")
    allowed = [f.name for f in fields(cls)]
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(f"{source}: {section}.{unknown[0]} is not a known key; allowed: {', '.join(allowed)}")
    try:
        return cls(**{k: _tupled(v) for k, v in table.items()})
    except ConfigError as err:
        raise ConfigError(f"{source}: {section}.{err}") from None
    except TypeError as err:  # a required key is missing
        raise ConfigError(f"{source}: [{section}] {err}".replace("__init__() ", "")) from None


def parse_profile(mapping: Mapping[str, Any], source: str) -> Profile:
    """A `Profile` from a parsed TOML mapping; errors say ``<file>: <section>.<key> = <value> ...``."""
    unknown = sorted(set(mapping) - set(_TOP))
    if unknown:
        raise ConfigError(f"{source}: {unknown[0]} is not a known key; allowed: {', '.join(_TOP)}")
    for key in ("name", "description", "references", "weights", "neuron"):
        if key not in mapping:
            raise ConfigError(f"{source}: missing key {key!r}")
    parts = {k: _section(cls, mapping.get(k, {"bits": 0} if k == "bias" else {}), source, k)
             for k, cls in _SECTIONS.items()}
    timing = mapping.get("timing", {})
    export = mapping.get("export", {})
    for name, table, keys in (("timing", timing, ("dt_ms", "max_delay")), ("export", export, ("formats",))):
        extra = sorted(set(table) - set(keys)) if isinstance(table, Mapping) else [""]
        if extra:
            raise ConfigError(f"{source}: {name}.{extra[0]} is not a known key; allowed: {', '.join(keys)}")
    try:
        return Profile(name=mapping["name"], description=mapping["description"],
                       references=_tupled(mapping["references"]), **parts,
                       dt_ms=_tupled(timing.get("dt_ms", (0.0, math.inf))),
                       max_delay=timing.get("max_delay", 0),
                       formats=_tupled(export.get("formats", ("nir",))), source=source)
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


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
