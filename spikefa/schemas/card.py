"""Model cards: frozen, validated descriptions of a named network and its training presets.

A card is DATA (``models/*.toml``, read through `spikefa.catalog`); this module defines the schema
and turns a parsed TOML mapping into a `ModelCard`. Every dataclass validates itself on
construction; `parse_card` adds the file and the TOML section to the message, so a bad card
fails with one line naming the file, the key, the value and what is allowed. No torch here.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from spikefa.errors import ConfigError
from spikefa.schemas.neuron import LIFParams
from spikefa.schemas.stdp import DiehlCookParams, ThreeFactorParams
from spikefa.schemas.validate import (Validated, check_keys, keys_of, located, one_of, parse_section, positive_ints,
                                      require, show, table_at)
from spikefa.schemas.vocab import Activation, EncoderKind, LastPool, Optimizer, Pool, Schedule

_RULE_NAME = re.compile(r"[a-z][a-z0-9_-]*")


# ---------------------------------------------------------------- the schema


@dataclass(frozen=True, kw_only=True)
class TrainPreset(Validated):
    """Optimiser and schedule for one training run; ``standardize`` standardizes inputs with the
    train split's mean and std; ``options`` (per-rule presets only) are the rule's own options
    (``spikefa list rules``), under any given on the command line."""

    optimizer: Optimizer
    lr: float
    batch_size: int
    epochs: int
    weight_decay: float
    momentum: float
    schedule: Schedule
    standardize: bool
    options: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def check(self) -> None:
        require("options", self.options, isinstance(self.options, Mapping) and all(
            isinstance(k, str) and isinstance(v, bool | int | float | str) for k, v in self.options.items()),
            "a table of option = value (numbers, strings or booleans)")
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        require("lr", self.lr, self.lr > 0, "a number > 0")
        require("batch_size", self.batch_size, self.batch_size > 0, "an integer > 0")
        require("epochs", self.epochs, self.epochs > 0, "an integer > 0")
        require("weight_decay", self.weight_decay, self.weight_decay >= 0, "a number >= 0")
        require("momentum", self.momentum, 0 <= self.momentum < 1, "a number in [0, 1)")


@dataclass(frozen=True, kw_only=True)
class MLPArch(Validated):
    """Fully connected net: Flatten, then Linear+activation per hidden width, then a Linear
    read-out. An empty ``hidden`` is a linear classifier."""

    ARCH: ClassVar[str] = "mlp"
    SECTIONS: ClassVar[tuple[str, ...]] = ()

    hidden: tuple[int, ...]
    activation: Activation
    bias: bool

    def check(self) -> None:
        positive_ints("hidden", self.hidden, non_empty=False)


def _check_conv_stack(arch: Any) -> None:
    """The checks a LeNet-style schema (rate-coded or spiking) shares: channels, kernel, hidden."""
    positive_ints("channels", arch.channels, non_empty=True)
    k = arch.kernel_size
    require("kernel_size", k, k >= 1 and k % 2 == 1, "an odd integer >= 1 (padding k//2 keeps the spatial size)")
    positive_ints("hidden", arch.hidden, non_empty=False)


@dataclass(frozen=True, kw_only=True)
class LeNetArch(Validated):
    """LeNet-style conv net (LeCun et al. 1998): per channel count a same-padded conv, the
    activation and a 2x2 pool; then Flatten, Linear+activation per hidden width, Linear."""

    ARCH: ClassVar[str] = "lenet"
    SECTIONS: ClassVar[tuple[str, ...]] = ()

    channels: tuple[int, ...]
    kernel_size: int
    hidden: tuple[int, ...]
    activation: Activation
    pool: Pool

    def check(self) -> None:
        _check_conv_stack(self)


@dataclass(frozen=True, kw_only=True)
class ResNetArch(Validated):
    """CIFAR-style ResNet (He et al. 2016, sec. 4.2): 3x3 stem, one stage of BasicBlocks per
    width (stride 2 at each stage after the first), global average pool, Linear."""

    ARCH: ClassVar[str] = "resnet"
    SECTIONS: ClassVar[tuple[str, ...]] = ()

    widths: tuple[int, ...]
    blocks_per_stage: int
    batch_norm: bool

    def check(self) -> None:
        positive_ints("widths", self.widths, non_empty=True)
        require("blocks_per_stage", self.blocks_per_stage, self.blocks_per_stage >= 1, "an integer >= 1")


_SPIKING = ("neuron", "encoder")


@dataclass(frozen=True, kw_only=True)
class SpikingMLPArch(Validated):
    """Spiking fully connected net: per hidden width a Linear synapse and a LIF layer, then a
    Linear synapse into a LIF output layer (classes read out by spike count)."""

    ARCH: ClassVar[str] = "snn-mlp"
    SECTIONS: ClassVar[tuple[str, ...]] = _SPIKING

    hidden: tuple[int, ...]
    bias: bool

    def check(self) -> None:
        positive_ints("hidden", self.hidden, non_empty=False)


@dataclass(frozen=True, kw_only=True)
class SpikingLeNetArch(Validated):
    """Spiking LeNet: per channel count a same-padded conv, a 2x2 pool of the currents and a LIF
    layer; then fully connected LIF layers and a LIF output layer."""

    ARCH: ClassVar[str] = "snn-lenet"
    SECTIONS: ClassVar[tuple[str, ...]] = _SPIKING

    channels: tuple[int, ...]
    kernel_size: int
    hidden: tuple[int, ...]
    pool: Pool

    def check(self) -> None:
        _check_conv_stack(self)


@dataclass(frozen=True, kw_only=True)
class SnnTorchArch(Validated):
    """Your own snnTorch network (`spikefa.nn.snntorch_net` says what it may hold): ``factory`` names
    a Python function returning it, ``path/to/file.py:function`` (a relative path is taken from the
    card's folder) or ``package.module:function``. It is called with ``input_shape`` and
    ``num_classes`` when it takes them, and with the card's ``arguments`` (``arguments = { hidden =
    50 }``: numbers, strings, booleans or lists of them), under the run seed; the card's
    ``[encoder]`` makes the spikes."""

    ARCH: ClassVar[str] = "snntorch"
    SECTIONS: ClassVar[tuple[str, ...]] = ("encoder",)

    factory: str
    arguments: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def check(self) -> None:
        where, _, name = self.factory.rpartition(":")
        require("factory", self.factory, bool(where.strip()) and name.isidentifier(),
                "'path/to/file.py:function' or 'package.module:function'")
        scalar = (bool, int, float, str)
        require("arguments", self.arguments, isinstance(self.arguments, Mapping) and all(
            isinstance(k, str) and k.isidentifier() and k not in ("input_shape", "num_classes") and (
                isinstance(v, scalar) or isinstance(v, list) and all(isinstance(x, scalar) for x in v))
            for k, v in self.arguments.items()),
            "a table of the factory's keyword arguments (numbers, strings, booleans or lists of them; "
            "input_shape and num_classes come from the data)")
        object.__setattr__(self, "arguments", MappingProxyType(dict(self.arguments)))


@dataclass(frozen=True, kw_only=True)
class KrotovArch(Validated):
    """Krotov & Hopfield (2019): Flatten, per hidden width a Linear without bias (the units that
    compete) and the rectified power unit relu(u)^``power``; then, when ``feature_norm``, each
    sample's features rescaled to mean square 1 (the power law spans orders of magnitude), and a
    Linear read-out."""

    ARCH: ClassVar[str] = "krotov"
    SECTIONS: ClassVar[tuple[str, ...]] = ()

    hidden: tuple[int, ...]
    power: float = 4.5
    feature_norm: bool = True

    def check(self) -> None:
        positive_ints("hidden", self.hidden, non_empty=True)
        require("power", self.power, self.power >= 1.0, "a number >= 1")


@dataclass(frozen=True, kw_only=True)
class ConvSTDPArch(Validated):
    """Kheradpisheh et al. (2018)'s spiking convolutional network: DoG on/off filtering
    (``dog_size``, ``dog_sigmas`` centre and surround, pixels) and latency coding into ``steps`` time
    steps, per entry of ``channels`` a valid convolution (``kernel_sizes``) of non-leaky IF neurons
    firing once at ``thresholds`` with lateral inhibition, spike-time max pooling (``pool`` window,
    ``pool_stride``) between layers, the last layer's features (``features``: the max of its final
    potentials, or 1 − first-spike time / T) per map over all positions (``feature_pool`` 0: the
    paper's global max pooling, one feature per map) or per ``feature_pool`` x ``feature_pool``
    window (a feature per map and window), when ``feature_norm`` each sample's features standardized
    (mean 0, variance 1: their common offset removed), and a Linear read-out. ``lateral_inhibition``
    false: each layer passes on every threshold crossing, as SpykeTorch's re-implementations of the
    papers do; the inhibition then acts only where a layer picks its STDP winners."""

    ARCH: ClassVar[str] = "conv-stdp"
    SECTIONS: ClassVar[tuple[str, ...]] = ()

    channels: tuple[int, ...]
    kernel_sizes: tuple[int, ...]
    thresholds: tuple[float, ...]
    steps: int = 15
    pool: int = 2
    pool_stride: int = 2
    dog_size: int = 7
    dog_sigmas: tuple[float, ...] = (1.0, 2.0)
    features: Literal["potential", "latency"] = "potential"
    feature_pool: int = 0
    feature_norm: bool = True
    lateral_inhibition: bool = True

    def check(self) -> None:
        positive_ints("channels", self.channels, non_empty=True)
        n = len(self.channels)
        require("feature_pool", self.feature_pool, self.feature_pool >= 0, "an integer >= 0 (0: global per map)")
        require("kernel_sizes", self.kernel_sizes, len(self.kernel_sizes) == n and all(
            k >= 1 for k in self.kernel_sizes), f"{n} integers >= 1 (one per layer)")
        require("thresholds", self.thresholds, len(self.thresholds) == n and all(
            t > 0 for t in self.thresholds), f"{n} numbers > 0 (one per layer)")
        require("steps", self.steps, self.steps >= 2, "an integer >= 2")
        require("pool", self.pool, self.pool >= 1, "an integer >= 1")
        require("pool_stride", self.pool_stride, self.pool_stride >= 1, "an integer >= 1")
        require("dog_size", self.dog_size, self.dog_size >= 3 and self.dog_size % 2 == 1, "an odd integer >= 3")
        require("dog_sigmas", self.dog_sigmas, len(self.dog_sigmas) == 2 and
                0 < self.dog_sigmas[0] < self.dog_sigmas[1], "[centre, surround] with 0 < centre < surround")


@dataclass(frozen=True, kw_only=True)
class SoftHebbConvArch(Validated):
    """SoftHebb's convolutional blocks (Journé et al. 2023): per channel count a batch norm without
    affine parameters, a same-size Conv2d without bias (reflect padding), the triangle activation
    relu(u − mean over channels)^power and a pool (kernel 4, stride 2, padding 1: halves the side);
    then Flatten, when ``feature_norm`` each sample's features rescaled to mean square 1 (the
    read-out sees the same scale whatever the units' norms are while they converge), dropout and a
    Linear read-out. ``kernel_sizes`` and ``powers`` give one value per block; ``last_pool = "avg2"``
    pools the last block as the reference's third (average, window 2, stride 2)."""

    ARCH: ClassVar[str] = "softhebb-conv"
    SECTIONS: ClassVar[tuple[str, ...]] = ()

    channels: tuple[int, ...]
    kernel_sizes: tuple[int, ...]
    powers: tuple[float, ...]
    pool: Pool = "max"
    last_pool: LastPool = "same"
    dropout: float = 0.5
    feature_norm: bool = True
    lateral_inhibition: bool = True

    def check(self) -> None:
        positive_ints("channels", self.channels, non_empty=True)
        n = len(self.channels)
        require("kernel_sizes", self.kernel_sizes, len(self.kernel_sizes) == n and all(
            k >= 1 and k % 2 == 1 for k in self.kernel_sizes), f"{n} odd integers >= 1 (one per block)")
        require("powers", self.powers, len(self.powers) == n and all(p > 0 for p in self.powers),
                f"{n} numbers > 0 (one per block)")
        require("dropout", self.dropout, 0.0 <= self.dropout < 1.0, "a number in [0, 1)")


@dataclass(frozen=True, kw_only=True)
class EncoderSpec(Validated):
    """How a static input becomes a spike train: rate (Bernoulli), latency or direct current,
    over ``time_steps`` steps of the neuron's dt."""

    kind: EncoderKind
    time_steps: int
    gain: float = 1.0

    def check(self) -> None:
        require("time_steps", self.time_steps, self.time_steps >= 1, "an integer >= 1")
        require("gain", self.gain, 0 < self.gain <= 1, "a number in (0, 1]")


ArchSpec = (MLPArch | LeNetArch | ResNetArch | SpikingMLPArch | SpikingLeNetArch | SnnTorchArch | DiehlCookParams
            | ThreeFactorParams | KrotovArch | SoftHebbConvArch | ConvSTDPArch)

# The one architecture registry: arch name -> its schema. A schema names itself (ARCH) and the card
# sections it needs (SECTIONS); `spikefa.nn.build.BUILDERS` holds a builder per schema class.
ARCH_SCHEMAS: dict[str, type[ArchSpec]] = {
    cls.ARCH: cls for cls in (MLPArch, LeNetArch, ResNetArch, SpikingMLPArch, SpikingLeNetArch, SnnTorchArch,
                              DiehlCookParams, ThreeFactorParams, KrotovArch, SoftHebbConvArch,
                              ConvSTDPArch)
}
# fields of an architecture schema that the data decides (a card never sets them)
FROM_DATA: dict[str, tuple[str, ...]] = {"diehl-cook": ("n_input",), "three-factor": ("n_input", "num_classes", "seed")}
_NEURON_REQUIRED = ["beta", "threshold", "reset", "dt"]


def _sections(arch: str) -> tuple[str, ...]:
    return getattr(ARCH_SCHEMAS[arch], "SECTIONS", ())


@dataclass(frozen=True, kw_only=True)
class ModelCard(Validated):
    """A named network: architecture, the rule it is meant for, and training presets per rule.

    ``presets`` holds each rule's full preset (its overrides already merged over ``defaults``).
    ``mapping`` is the TOML mapping it was parsed from: a run directory stores it, so a run resumes
    and exports the network it was trained as even if the card file changes later.
    """

    UNCHECKED = ("architecture", "defaults", "presets", "neuron", "encoder", "mapping")

    name: str
    arch: str
    architecture: ArchSpec
    default_rule: str
    defaults: TrainPreset
    presets: Mapping[str, TrainPreset] = field(default_factory=dict, hash=False)
    neuron: LIFParams | None = None
    encoder: EncoderSpec | None = None
    description: str = ""
    reference: str = ""
    source: str = ""
    mapping: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False, repr=False)

    def check(self) -> None:
        require("name", self.name, bool(self.name.strip()), "a non-empty string")
        require("arch", self.arch, self.arch in ARCH_SCHEMAS, one_of(ARCH_SCHEMAS))
        schema = ARCH_SCHEMAS[self.arch]
        require("architecture", self.architecture, isinstance(self.architecture, schema),
                f"a {schema.__name__} for arch {self.arch!r}")
        require("default_rule", self.default_rule, _is_rule_name(self.default_rule),
                "a rule name (lower-case letters, digits, '_' or '-')")
        require("defaults", self.defaults, isinstance(self.defaults, TrainPreset), "a TrainPreset")
        for rule, preset in self.presets.items():
            require("presets", rule, _is_rule_name(rule), "rule names as keys")
            require(f"presets.{rule}", preset, isinstance(preset, TrainPreset), "a TrainPreset")
        object.__setattr__(self, "presets", MappingProxyType(dict(self.presets)))
        needs = _sections(self.arch)
        for key, kind in (("neuron", LIFParams), ("encoder", EncoderSpec)):
            value = getattr(self, key)
            require(key, value, isinstance(value, kind) if key in needs else value is None,
                    f"a [{key}] table for arch {self.arch!r}" if key in needs
                    else f"no [{key}] table: arch {self.arch!r} takes none")

    @property
    def spiking(self) -> bool:
        """Whether the card describes a LIF network of synapses and neurons (a `SpikingNet`) fed by
        the card's spike encoder."""
        return "encoder" in _sections(self.arch)

    def preset(self, rule: str) -> TrainPreset:
        """The training preset for `rule`: ``defaults`` with that rule's overrides applied."""
        return self.presets.get(rule, self.defaults)


def _is_rule_name(value: object) -> bool:
    return isinstance(value, str) and _RULE_NAME.fullmatch(value) is not None


# ---------------------------------------------------------------- parsing a TOML mapping


def _parse_presets(value: object, defaults: TrainPreset, source: str) -> dict[str, TrainPreset]:
    """Each ``[presets.<rule>]`` table overrides some keys of ``[defaults]``. A preset's rule
    options are checked against the rule's declared ones by `spikefa.rules.check_card`."""
    allowed, _ = keys_of(TrainPreset)
    merged: dict[str, TrainPreset] = {}
    for rule, overrides in table_at(value, source, "presets").items():
        section = f"presets.{rule}"
        if not _is_rule_name(rule):
            raise ConfigError(f"{source}: presets key {rule!r} is not allowed; expected a rule "
                              "name (lower-case letters, digits, '_' or '-')")
        table = table_at(overrides, source, section)
        check_keys(table, allowed, [], (source, section))
        with located(source, section):
            merged[rule] = dataclasses.replace(defaults, **table)
    return merged


def _parse_neuron(value: object, source: str) -> LIFParams:
    """The card's LIF neurons (snnTorch ``Leaky``; a current-based neuron is not built from cards)."""
    table = table_at(value, source, "neuron")
    allowed, _ = keys_of(LIFParams, exclude=("alpha",))
    check_keys(table, allowed, _NEURON_REQUIRED, (source, "neuron"))
    with located(source, "neuron"):
        return LIFParams(**table)


def parse_card(mapping: Mapping[str, Any], source: str) -> ModelCard:
    """Validate a parsed TOML card (`source` names its file in error messages)."""
    allowed, required = keys_of(ModelCard, exclude=("source", "mapping"))
    check_keys(mapping, allowed, required, (source, ""))
    arch = mapping["arch"]
    if not isinstance(arch, str) or arch not in ARCH_SCHEMAS:
        raise ConfigError(f"{source}: arch = {show(arch)} is not allowed; expected {one_of(ARCH_SCHEMAS)}")
    architecture = parse_section(ARCH_SCHEMAS[arch], mapping["architecture"], source, "architecture",
                                 exclude=FROM_DATA.get(arch, ()))
    defaults = parse_section(TrainPreset, mapping["defaults"], source, "defaults")
    if defaults.options:
        raise ConfigError(f"{source}: [defaults.options] is not allowed; rule options belong in "
                          "[presets.<rule>.options]")
    presets = _parse_presets(mapping.get("presets", {}), defaults, source)
    sections: dict[str, Any] = {}
    if "neuron" in mapping:
        sections["neuron"] = _parse_neuron(mapping["neuron"], source)
    if "encoder" in mapping:
        sections["encoder"] = parse_section(EncoderSpec, mapping["encoder"], source, "encoder")
    skip = ("architecture", "defaults", "presets", "neuron", "encoder")
    fields = {k: v for k, v in mapping.items() if k not in skip}
    with located(source, ""):
        return ModelCard(**fields, architecture=architecture, defaults=defaults, presets=presets,
                         source=source, mapping=dict(mapping), **sections)
