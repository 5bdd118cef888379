"""Model cards: frozen, validated descriptions of a named network and its training presets.

A card is DATA (``models/*.toml``, read through `spikefa.catalog`); this module defines the schema
and turns a parsed TOML mapping into a `ModelCard`. Every dataclass validates itself on
construction; `parse_card` adds the file and the TOML section to the message, so a bad card
fails with one line naming the file, the key, the value and what is allowed. No torch here.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from spikefa.errors import ConfigError

Activation = Literal["relu", "tanh", "sigmoid"]
Pool = Literal["max", "avg"]
Optimizer = Literal["adam", "sgd"]
Schedule = Literal["constant", "cosine"]

_RULE_NAME = re.compile(r"[a-z][a-z0-9_-]*")


class FieldError(ConfigError):
    """One field holds a bad value; `located` adds the file and the section it came from."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"{key} = {_show(value)} is not allowed; expected {allowed}")

    def located(self, source: str, section: str) -> ConfigError:
        """The same message, prefixed with the file and the dotted key (``defaults.lr``)."""
        return ConfigError(
            f"{source}: {_dotted(section, self.key)} = {_show(self.value)} is not allowed; "
            f"expected {self.allowed}"
        )


def _show(value: object) -> str:
    """A value as a TOML file would spell it (``true``, ``[800, -1]``, ``'relu'``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def _dotted(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


# ---------------------------------------------------------------- type checks from annotations


def _matches(value: object, hint: Any) -> bool:
    """Whether `value` has the type `hint` names (the few types a card can hold)."""
    if typing.get_origin(hint) is Literal:
        return isinstance(value, str) and value in typing.get_args(hint)
    if typing.get_origin(hint) is tuple:  # tuple[int, ...]
        item = typing.get_args(hint)[0]
        return isinstance(value, tuple) and all(_matches(v, item) for v in value)
    if hint is float:
        real = isinstance(value, (int, float)) and not isinstance(value, bool)
        return real and math.isfinite(value)  # type: ignore[arg-type]
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (bool, str):
        return isinstance(value, hint)
    raise TypeError(f"card fields cannot have type {hint!r}")  # a bug in this module


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(repr(v) for v in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        return f"a list of {_describe(typing.get_args(hint)[0])}s"
    names = {float: "a finite number", int: "an integer", bool: "true or false", str: "a string"}
    return names[hint]


def _normalise_and_check(obj: Any, skip: tuple[str, ...] = ()) -> None:
    """Turn lists into tuples and ints into floats where the annotation says so, then type-check."""
    for name, hint in typing.get_type_hints(type(obj)).items():
        if name in skip:
            continue
        value = getattr(obj, name)
        if typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        elif hint is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        object.__setattr__(obj, name, value)
        if not _matches(value, hint):
            raise FieldError(name, value, _describe(hint))


def _require(key: str, value: object, ok: bool, allowed: str) -> None:
    if not ok:
        raise FieldError(key, value, allowed)


def _positive_ints(key: str, values: tuple[int, ...], non_empty: bool) -> None:
    ok = all(v > 0 for v in values) and (bool(values) or not non_empty)
    _require(key, values, ok, "a non-empty list of positive integers" if non_empty
             else "a list of positive integers")


# ---------------------------------------------------------------- the schema


@dataclass(frozen=True, kw_only=True)
class TrainPreset:
    """Optimiser and schedule for one training run; ``normalize`` standardises inputs with the
    train split's mean and std; ``options`` (per-rule presets only) are the rule's own options
    (``spikefa list rules``), under any given on the command line."""

    optimizer: Optimizer
    lr: float
    batch_size: int
    epochs: int
    weight_decay: float
    momentum: float
    schedule: Schedule
    normalize: bool
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _normalise_and_check(self, skip=("options",))
        _require("options", self.options, isinstance(self.options, Mapping) and all(
            isinstance(k, str) and isinstance(v, bool | int | float | str) for k, v in self.options.items()),
            "a table of option = value (numbers, strings or booleans)")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        _require("lr", self.lr, self.lr > 0, "a number > 0")
        _require("batch_size", self.batch_size, self.batch_size > 0, "an integer > 0")
        _require("epochs", self.epochs, self.epochs > 0, "an integer > 0")
        _require("weight_decay", self.weight_decay, self.weight_decay >= 0, "a number >= 0")
        _require("momentum", self.momentum, 0 <= self.momentum < 1, "a number in [0, 1)")


@dataclass(frozen=True, kw_only=True)
class MLPArch:
    """Fully connected net: Flatten, then Linear+activation per hidden width, then a Linear
    read-out. An empty ``hidden`` is a linear classifier."""

    hidden: tuple[int, ...]
    activation: Activation
    bias: bool

    def __post_init__(self) -> None:
        _normalise_and_check(self)
        _positive_ints("hidden", self.hidden, non_empty=False)


def _check_conv_stack(arch: Any) -> None:
    """The checks a LeNet-style schema (rate-coded or spiking) shares: channels, kernel, hidden."""
    _normalise_and_check(arch)
    _positive_ints("channels", arch.channels, non_empty=True)
    k = arch.kernel_size
    _require("kernel_size", k, k >= 1 and k % 2 == 1,
             "an odd integer >= 1 (padding k//2 keeps the spatial size)")
    _positive_ints("hidden", arch.hidden, non_empty=False)


@dataclass(frozen=True, kw_only=True)
class LeNetArch:
    """LeNet-style conv net (LeCun et al. 1998): per channel count a same-padded conv, the
    activation and a 2x2 pool; then fully connected hidden layers and a read-out."""

    channels: tuple[int, ...]
    kernel_size: int
    hidden: tuple[int, ...]
    activation: Activation
    pool: Pool

    def __post_init__(self) -> None:
        _check_conv_stack(self)


@dataclass(frozen=True, kw_only=True)
class ResNetArch:
    """CIFAR-style ResNet (He et al. 2016, sec. 4.2): 3x3 stem, one stage of BasicBlocks per
    width (stride 2 at each stage after the first), global average pool, Linear."""

    widths: tuple[int, ...]
    blocks_per_stage: int
    batch_norm: bool

    def __post_init__(self) -> None:
        _normalise_and_check(self)
        _positive_ints("widths", self.widths, non_empty=True)
        _require("blocks_per_stage", self.blocks_per_stage, self.blocks_per_stage >= 1,
                 "an integer >= 1")


@dataclass(frozen=True, kw_only=True)
class SpikingMLPArch:
    """Spiking fully connected net: per hidden width a Linear synapse and a LIF layer, then a
    Linear synapse into a LIF output layer (classes read out by spike count)."""

    hidden: tuple[int, ...]
    bias: bool

    def __post_init__(self) -> None:
        _normalise_and_check(self)
        _positive_ints("hidden", self.hidden, non_empty=False)


@dataclass(frozen=True, kw_only=True)
class SpikingLeNetArch:
    """Spiking LeNet: per channel count a same-padded conv, a 2x2 pool of the currents and a LIF
    layer; then fully connected LIF layers and a LIF output layer."""

    channels: tuple[int, ...]
    kernel_size: int
    hidden: tuple[int, ...]
    pool: Pool

    def __post_init__(self) -> None:
        _check_conv_stack(self)


@dataclass(frozen=True, kw_only=True)
class NeuronSpec:
    """LIF neurons of a spiking card, stated explicitly: β per step, threshold, reset mode
    (subtract, zero or none: snnTorch semantics), dt in ms, and the surrogate gradient."""

    beta: float
    threshold: float
    reset: Literal["subtract", "zero", "none"]
    dt: float
    surrogate: Literal["atan", "fast-sigmoid"] = "atan"

    def __post_init__(self) -> None:
        _normalise_and_check(self)
        _require("beta", self.beta, 0 <= self.beta <= 1, "a number in [0, 1]")
        _require("threshold", self.threshold, self.threshold > 0, "a number > 0")
        _require("dt", self.dt, self.dt > 0, "a number of ms > 0")


@dataclass(frozen=True, kw_only=True)
class EncoderSpec:
    """How a static input becomes a spike train: rate (Bernoulli), latency or direct current,
    over ``time_steps`` steps of the neuron's dt."""

    kind: Literal["rate", "latency", "direct"]
    time_steps: int
    gain: float = 1.0

    def __post_init__(self) -> None:
        _normalise_and_check(self)
        _require("time_steps", self.time_steps, self.time_steps >= 1, "an integer >= 1")
        _require("gain", self.gain, 0 < self.gain <= 1, "a number in (0, 1]")


ArchSpec = MLPArch | LeNetArch | ResNetArch | SpikingMLPArch | SpikingLeNetArch

# arch name -> its schema; `spikefa.nn.build.ARCHITECTURES` holds a builder for each name.
ARCH_SCHEMAS: dict[str, type[ArchSpec]] = {"mlp": MLPArch, "lenet": LeNetArch, "resnet": ResNetArch,
                                           "snn-mlp": SpikingMLPArch, "snn-lenet": SpikingLeNetArch}
SPIKING_ARCHS = ("snn-mlp", "snn-lenet")


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """A named network: architecture, the rule it is meant for, and training presets per rule.

    ``presets`` holds each rule's full preset (its overrides already merged over ``defaults``).
    """

    name: str
    arch: str
    architecture: ArchSpec
    default_rule: str
    defaults: TrainPreset
    presets: Mapping[str, TrainPreset] = field(default_factory=dict, hash=False)
    neuron: NeuronSpec | None = None
    encoder: EncoderSpec | None = None
    description: str = ""
    reference: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        _normalise_and_check(self, skip=("architecture", "defaults", "presets", "neuron", "encoder"))
        _require("name", self.name, bool(self.name.strip()), "a non-empty string")
        _require("arch", self.arch, self.arch in ARCH_SCHEMAS, _one_of(ARCH_SCHEMAS))
        schema = ARCH_SCHEMAS[self.arch]
        _require("architecture", self.architecture, isinstance(self.architecture, schema),
                 f"a {schema.__name__} for arch {self.arch!r}")
        _require("default_rule", self.default_rule, _is_rule_name(self.default_rule),
                 "a rule name (lower-case letters, digits, '_' or '-')")
        _require("defaults", self.defaults, isinstance(self.defaults, TrainPreset),
                 "a TrainPreset")
        for rule, preset in self.presets.items():
            _require("presets", rule, _is_rule_name(rule), "rule names as keys")
            _require(f"presets.{rule}", preset, isinstance(preset, TrainPreset), "a TrainPreset")
        object.__setattr__(self, "presets", MappingProxyType(dict(self.presets)))
        spiking = self.arch in SPIKING_ARCHS
        for key, kind in (("neuron", NeuronSpec), ("encoder", EncoderSpec)):
            value = getattr(self, key)
            _require(key, value, isinstance(value, kind) if spiking else value is None,
                     f"a [{key}] table for spiking arch {self.arch!r}" if spiking
                     else f"no [{key}] table: arch {self.arch!r} is not spiking")

    @property
    def spiking(self) -> bool:
        """Whether the card describes a spiking (LIF) network."""
        return self.arch in SPIKING_ARCHS

    def preset(self, rule: str) -> TrainPreset:
        """The training preset for `rule`: ``defaults`` with that rule's overrides applied."""
        return self.presets.get(rule, self.defaults)


def _is_rule_name(value: object) -> bool:
    return isinstance(value, str) and _RULE_NAME.fullmatch(value) is not None


def _one_of(names: Mapping[str, object] | tuple[str, ...]) -> str:
    return "one of " + ", ".join(repr(n) for n in sorted(names))


# ---------------------------------------------------------------- parsing a TOML mapping


@contextmanager
def _located(source: str, section: str) -> Iterator[None]:
    try:
        yield
    except FieldError as err:
        raise err.located(source, section) from None


def _keys(cls: type, exclude: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(allowed, required) keys of a dataclass, in declaration order."""
    fields = [f for f in dataclasses.fields(cls) if f.name not in exclude]
    required = [f.name for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    return [f.name for f in fields], required


def _check_keys(table: Mapping[str, Any], allowed: list[str], required: list[str],
                where: tuple[str, str]) -> None:
    source, section = where
    for key, value in table.items():
        if key not in allowed:
            raise ConfigError(f"{source}: unknown key {_dotted(section, key)!r} = {_show(value)}; "
                              f"allowed keys: {', '.join(allowed)}")
    for key in required:
        if key not in table:
            raise ConfigError(f"{source}: missing required key {_dotted(section, key)!r} "
                              f"(no value given); required keys: {', '.join(required)}")


def _table(value: object, source: str, section: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{source}: {section} = {_show(value)} is not allowed; "
                          f"expected a table [{section}]")
    return value


def _parse_section(cls: type, value: object, source: str, section: str) -> Any:
    """Build dataclass `cls` from the table at `section`; every field is required."""
    table = _table(value, source, section)
    allowed, required = _keys(cls)
    _check_keys(table, allowed, required, (source, section))
    with _located(source, section):
        return cls(**table)


def _parse_presets(value: object, defaults: TrainPreset, source: str) -> dict[str, TrainPreset]:
    """Each ``[presets.<rule>]`` table overrides some keys of ``[defaults]``."""
    allowed, _ = _keys(TrainPreset)
    merged: dict[str, TrainPreset] = {}
    for rule, overrides in _table(value, source, "presets").items():
        section = f"presets.{rule}"
        if not _is_rule_name(rule):
            raise ConfigError(f"{source}: presets key {rule!r} is not allowed; expected a rule "
                              "name (lower-case letters, digits, '_' or '-')")
        table = _table(overrides, source, section)
        _check_keys(table, allowed, [], (source, section))
        with _located(source, section):
            merged[rule] = dataclasses.replace(defaults, **table)
        if merged[rule].options:
            _check_rule_options(rule, merged[rule].options, source, section)
    return merged


def _check_rule_options(rule: str, options: Mapping[str, Any], source: str, section: str) -> None:
    """A registered rule's options are checked against its declared ones when the card loads."""
    from spikefa.errors import SpikefaError
    from spikefa.rules.registry import get_rule, resolve_options

    try:
        r = get_rule(rule)
    except SpikefaError:
        return  # a rule registered later (a plugin) checks its options when it runs
    try:
        resolve_options(r, options)
    except SpikefaError as exc:
        raise ConfigError(f"{source}: [{section}.options] {exc}") from None


def parse_card(mapping: Mapping[str, Any], source: str) -> ModelCard:
    """Validate a parsed TOML card (`source` names its file in error messages)."""
    allowed, required = _keys(ModelCard, exclude=("source",))
    _check_keys(mapping, allowed, required, (source, ""))
    arch = mapping["arch"]
    if not isinstance(arch, str) or arch not in ARCH_SCHEMAS:
        raise ConfigError(f"{source}: arch = {_show(arch)} is not allowed; expected "
                          f"{_one_of(ARCH_SCHEMAS)}")
    architecture = _parse_section(ARCH_SCHEMAS[arch], mapping["architecture"], source,
                                  "architecture")
    defaults = _parse_section(TrainPreset, mapping["defaults"], source, "defaults")
    if defaults.options:
        raise ConfigError(f"{source}: [defaults.options] is not allowed; rule options belong in "
                          "[presets.<rule>.options]")
    presets = _parse_presets(mapping.get("presets", {}), defaults, source)
    sections = {key: _parse_section(kind, mapping[key], source, key)
                for key, kind in (("neuron", NeuronSpec), ("encoder", EncoderSpec)) if key in mapping}
    skip = ("architecture", "defaults", "presets", "neuron", "encoder")
    fields = {k: v for k, v in mapping.items() if k not in skip}
    with _located(source, ""):
        return ModelCard(**fields, architecture=architecture, defaults=defaults, presets=presets,
                         source=source, **sections)
