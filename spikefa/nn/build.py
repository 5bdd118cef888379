"""Build a plain torch network from a model card, with weights drawn from a seeded generator.

The network is made of ordinary modules (Linear, Conv2d, BatchNorm2d, activations, pools) in a
flat ``nn.Sequential`` so that a rule converter can walk it. Modules are constructed on the meta
device, so construction never draws from the global RNG, then materialized on CPU and
initialized from a ``torch.Generator`` with PyTorch's default scheme: Linear/Conv2d weights and
biases ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming-uniform with a=sqrt(5)), BatchNorm
weight 1 and bias 0. Same seed -> same bits.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from spikefa.errors import ConfigError, SpikefaError
from spikefa.nn.competitive import RePU, Triangle, UnitNorm
from spikefa.nn.conv_stdp import ConvSTDPNet, DoGLatency, MapFeatures, SpikePool, SpikingConv, init_paper
from spikefa.nn.spiking import SpikingNet
from spikefa.nn.stdp import DiehlCookNet, ThreeFactorNet
from spikefa.schemas.card import (ConvSTDPArch, KrotovArch, LeNetArch, MLPArch, ModelCard, ResNetArch, SnnTorchArch,
                                  SoftHebbConvArch, SpikingLeNetArch, SpikingMLPArch)
from spikefa.schemas.stdp import DiehlCookParams, ThreeFactorParams

Shape = tuple[int, int, int]
Builder = Callable[[Any, Shape, int], nn.Sequential]

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
POOLS: dict[str, type[nn.Module]] = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


def build_mlp(arch: MLPArch, input_shape: Shape, num_classes: int) -> nn.Sequential:
    """Flatten, (Linear, activation) per hidden width, Linear read-out."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for hidden in arch.hidden:
        layers += [nn.Linear(width, hidden, bias=arch.bias), ACTIVATIONS[arch.activation]()]
        width = hidden
    layers.append(nn.Linear(width, num_classes, bias=arch.bias))
    return nn.Sequential(*layers)


def build_lenet(arch: LeNetArch, input_shape: Shape, num_classes: int) -> nn.Sequential:
    """(Conv same-padded, activation, 2x2 pool) per channel count, Flatten, MLP head.

    A pool is skipped when it would shrink a spatial side below 1 (tiny inputs such as 1x1).
    """
    channels, height, width = input_shape
    layers: list[nn.Module] = []
    for out in arch.channels:
        k = arch.kernel_size
        layers += [nn.Conv2d(channels, out, k, padding=k // 2), ACTIVATIONS[arch.activation]()]
        if height >= 2 and width >= 2:
            layers.append(POOLS[arch.pool](2))
            height, width = height // 2, width // 2
        channels = out
    layers.append(nn.Flatten())
    features = channels * height * width
    for hidden in arch.hidden:
        layers += [nn.Linear(features, hidden), ACTIVATIONS[arch.activation]()]
        features = hidden
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)


def _conv_bn(c_in: int, c_out: int, kernel: int, stride: int, batch_norm: bool) -> list[nn.Module]:
    conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=not batch_norm)
    return [conv, nn.BatchNorm2d(c_out)] if batch_norm else [conv]


class BasicBlock(nn.Module):
    """He et al. (2016) basic block: relu(conv3x3-BN-ReLU-conv3x3-BN (x) + shortcut(x)).

    The shortcut is the identity, or a 1x1 strided conv (+BN) projection when the shape changes.
    """

    def __init__(self, c_in: int, c_out: int, stride: int, batch_norm: bool) -> None:
        super().__init__()
        self.main = nn.Sequential(*_conv_bn(c_in, c_out, 3, stride, batch_norm), nn.ReLU(),
                                  *_conv_bn(c_out, c_out, 3, 1, batch_norm))
        project = stride != 1 or c_in != c_out
        self.shortcut = nn.Sequential(*_conv_bn(c_in, c_out, 1, stride, batch_norm)
                                      if project else [])
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.act(self.main(x) + self.shortcut(x))
        return out


def build_resnet(arch: ResNetArch, input_shape: Shape, num_classes: int) -> nn.Sequential:
    """CIFAR ResNet (He et al. 2016, sec. 4.2): 3x3 stem, stages of BasicBlocks (stride 2 at the
    start of every stage after the first), global average pool, Linear."""
    layers: list[nn.Module] = [*_conv_bn(input_shape[0], arch.widths[0], 3, 1, arch.batch_norm),
                               nn.ReLU()]
    channels = arch.widths[0]
    for stage, width in enumerate(arch.widths):
        for block in range(arch.blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            layers.append(BasicBlock(channels, width, stride, arch.batch_norm))
            channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


def build_krotov(arch: KrotovArch, input_shape: Shape, num_classes: int) -> nn.Sequential:
    """Flatten, (Linear without bias, relu^n) per hidden width, [each sample's features rescaled to
    mean square 1], Linear read-out (Krotov & Hopfield 2019)."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = math.prod(input_shape)
    for hidden in arch.hidden:
        layers += [nn.Linear(width, hidden, bias=False), RePU(arch.power)]
        width = hidden
    if arch.feature_norm:
        layers.append(UnitNorm())
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def build_softhebb_conv(arch: SoftHebbConvArch, input_shape: Shape, num_classes: int) -> nn.Sequential:
    """Per block BatchNorm2d without affine, Conv2d (same size, reflect padding, no bias), triangle,
    pool (4, stride 2, padding 1; the last block's average 2, stride 2 under ``last_pool = "avg2"``);
    Flatten, [each sample rescaled to mean square 1], Dropout, Linear (Journé et al. 2023). A pool is
    skipped when a side is below 2."""
    channels, height, width = input_shape
    layers: list[nn.Module] = []
    last = len(arch.channels) - 1
    for i, (out, k, power) in enumerate(zip(arch.channels, arch.kernel_sizes, arch.powers)):
        layers += [nn.BatchNorm2d(channels, affine=False),
                   nn.Conv2d(channels, out, k, padding=k // 2, padding_mode="reflect" if k > 1 else "zeros",
                             bias=False), Triangle(power)]
        if height >= 2 and width >= 2:
            if i == last and arch.last_pool == "avg2":
                layers.append(nn.AvgPool2d(2, stride=2))
            else:
                layers.append(POOLS[arch.pool](4, stride=2, padding=1))
            height, width = height // 2, width // 2  # both windows: floor(side / 2)
        channels = out
    layers += [nn.Flatten(), *([UnitNorm()] if arch.feature_norm else []), nn.Dropout(arch.dropout),
               nn.Linear(channels * height * width, num_classes)]
    return nn.Sequential(*layers)


def build_conv_stdp(arch: ConvSTDPArch, input_shape: Shape, num_classes: int) -> nn.Sequential:
    """DoG + latency coding, per layer a `SpikingConv` (valid; the last one giving its final
    potentials or spike times), spike-time pooling between layers (skipped where a side is below the
    window), per-map features (global, or per window: a window larger than the map is the whole map),
    [each sample's features standardized], Linear
    (Kheradpisheh et al. 2018), as a `ConvSTDPNet`. A kernel larger than the map it sees (tiny inputs,
    e.g. 8x8) is zero-padded just enough to give one position; padded inputs never spike."""
    _, height, width = input_shape
    layers: list[nn.Module] = [DoGLatency(arch.steps, arch.dog_size, *arch.dog_sigmas)]
    channels, n = 2, len(arch.channels)
    for i, (out, k, theta) in enumerate(zip(arch.channels, arch.kernel_sizes, arch.thresholds)):
        if i > 0 and height >= arch.pool and width >= arch.pool:
            layers.append(SpikePool(arch.pool, arch.pool_stride))
            height, width = (height - arch.pool) // arch.pool_stride + 1, (width - arch.pool) // arch.pool_stride + 1
        pad = max(0, math.ceil((k - min(height, width)) / 2))
        last = i == n - 1
        layers.append(SpikingConv(channels, out, k, theta, arch.steps, arch.features if last else "times", padding=pad,
                                  inhibition=arch.lateral_inhibition))
        height, width, channels = height + 2 * pad - k + 1, width + 2 * pad - k + 1, out
    pool = min(arch.feature_pool, height, width)
    features = channels if pool == 0 else channels * (height // pool) * (width // pool)
    layers += [MapFeatures(arch.features, arch.steps, pool),
               *([nn.LayerNorm(features, elementwise_affine=False)] if arch.feature_norm else []),
               nn.Linear(features, num_classes)]
    return ConvSTDPNet(*layers)


def mlp_synapses(arch: SpikingMLPArch, input_shape: Shape, num_classes: int) -> list[nn.Module]:
    """Flatten+Linear into the first layer, Linear between the others."""
    widths = [math.prod(input_shape), *arch.hidden, num_classes]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths, widths[1:])):
        linear = nn.Linear(a, b, bias=arch.bias)
        layers.append(nn.Sequential(nn.Flatten(), linear) if i == 0 else linear)
    return layers


def lenet_synapses(arch: SpikingLeNetArch, input_shape: Shape, num_classes: int) -> list[nn.Module]:
    """Conv (same padding) + 2x2 pool per channel count, then Flatten+Linear and Linear layers."""
    channels, height, width = input_shape
    layers: list[nn.Module] = []
    for out in arch.channels:
        ops: list[nn.Module] = [nn.Conv2d(channels, out, arch.kernel_size, padding=arch.kernel_size // 2)]
        if height >= 2 and width >= 2:
            ops.append(POOLS[arch.pool](2))
            height, width = height // 2, width // 2
        layers.append(nn.Sequential(*ops))
        channels = out
    features = [channels * height * width, *arch.hidden, num_classes]
    for i, (a, b) in enumerate(zip(features, features[1:])):
        layers.append(nn.Sequential(nn.Flatten(), nn.Linear(a, b)) if i == 0 else nn.Linear(a, b))
    return layers


def _init_fan_in_uniform(module: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default Linear/Conv2d init, drawn from `generator`."""
    weight: torch.Tensor = module.weight  # type: ignore[assignment]
    bound = 1.0 / math.sqrt(weight[0].numel())
    weight.uniform_(-bound, bound, generator=generator)
    if module.bias is not None:
        module.bias.uniform_(-bound, bound, generator=generator)  # type: ignore[operator]


def _init_batch_norm(module: nn.Module, generator: torch.Generator) -> None:
    module.reset_parameters()  # type: ignore[operator]  # weight 1, bias 0, stats reset; no RNG


INITIALIZERS: dict[type[nn.Module], Callable[[nn.Module, torch.Generator], None]] = {
    SpikingConv: init_paper,  # type: ignore[dict-item]
    nn.Linear: _init_fan_in_uniform,
    nn.Conv2d: _init_fan_in_uniform,
    nn.BatchNorm2d: _init_batch_norm,
}


def _initialize(model: nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            init = INITIALIZERS.get(type(module))
            if init is not None:
                init(module, generator)
            elif next(module.parameters(recurse=False), None) is not None or \
                    next(module.buffers(recurse=False), None) is not None:
                raise TypeError(f"no initialiser for {type(module).__name__}; add it to "
                                "INITIALIZERS")


def _check_args(input_shape: tuple[int, ...], num_classes: int, seed: int) -> Shape:
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape):
        raise ConfigError(f"input_shape = {input_shape!r} is not allowed; expected "
                          "(channels, height, width) of positive integers")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ConfigError(f"num_classes = {num_classes!r} is not allowed; expected an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"seed = {seed!r} is not allowed; expected an integer")
    return shape


def _spiking(synapses_of: Callable[[Any, Shape, int], list[nn.Module]]) -> Callable[..., nn.Module]:
    """A SpikingNet builder from a synapse builder (the neurons come from the card's [neuron])."""
    def make(card: ModelCard, shape: Shape, num_classes: int, seed: int) -> nn.Module:
        with torch.device("meta"):
            synapses = nn.Sequential(*synapses_of(card.architecture, shape, num_classes))
        synapses.to_empty(device="cpu")
        _initialize(synapses, seed)
        assert card.neuron is not None  # a spiking card always has one (validated)
        return SpikingNet(list(synapses), card.neuron)

    return make


def _plain(builder: Builder) -> Callable[..., nn.Module]:
    def make(card: ModelCard, shape: Shape, num_classes: int, seed: int) -> nn.Module:
        with torch.device("meta"):
            model = builder(card.architecture, shape, num_classes)
        model.to_empty(device="cpu")
        _initialize(model, seed)
        return model

    return make


def load_factory(factory: str) -> Callable[..., nn.Module]:
    """The function a ``file.py:function`` or ``package.module:function`` string names; errors name it."""
    where, _, name = factory.rpartition(":")
    try:
        if where.endswith(".py"):
            path = Path(where)
            if not path.is_file():
                raise SpikefaError(f"factory {factory!r}: {path} is not a file")
            spec = importlib.util.spec_from_file_location(f"spikefa_factory_{path.stem}", path)
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        else:
            module = importlib.import_module(where)
    except SpikefaError:
        raise
    except Exception as exc:  # the user's code failed to import: one line, the cause named
        raise SpikefaError(f"factory {factory!r}: cannot import {where} ({type(exc).__name__}: {exc})") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise SpikefaError(f"factory {factory!r}: {where} has no function {name!r}")
    return fn  # type: ignore[no-any-return]


def _snntorch(card: ModelCard, shape: Shape, num_classes: int, seed: int) -> nn.Module:
    """The user's snnTorch network from the card's factory, made under the run seed (the global RNG
    is restored afterwards), as a SpikingNet over its own modules."""
    fn = load_factory(card.architecture.factory)  # type: ignore[union-attr]
    accepted = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in (("input_shape", shape), ("num_classes", num_classes)) if k in accepted}
    arguments = dict(card.architecture.arguments)  # type: ignore[union-attr]
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    unknown = [k for k in arguments if k not in accepted and not takes_any]
    if unknown:
        raise SpikefaError(f"factory {card.architecture.factory!r} takes no argument {unknown[0]!r} "  # type: ignore[union-attr]
                           f"([architecture] arguments); it takes: {', '.join(accepted) or 'none'}")
    kwargs.update(arguments)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = fn(**kwargs)
    if not isinstance(model, nn.Module):
        raise SpikefaError(f"factory {card.architecture.factory!r} returned {type(model).__name__}, "  # type: ignore[union-attr]
                           "not an nn.Module")
    return SpikingNet.of(model)


def _diehl_cook(card: ModelCard, shape: Shape, num_classes: int, seed: int) -> nn.Module:
    params = dataclasses.replace(card.architecture, n_input=math.prod(shape))  # type: ignore[type-var]
    return DiehlCookNet(params, num_classes, seed)


def _three_factor(card: ModelCard, shape: Shape, num_classes: int, seed: int) -> nn.Module:
    params = dataclasses.replace(card.architecture, n_input=math.prod(shape), num_classes=num_classes,  # type: ignore[type-var]
                                 seed=seed)
    return ThreeFactorNet(params)


# The builder of each architecture schema (`spikefa.schemas.card.ARCH_SCHEMAS` names them; a test
# checks every schema has one).
BUILDERS: dict[type, Callable[[ModelCard, Shape, int, int], nn.Module]] = {
    MLPArch: _plain(build_mlp), LeNetArch: _plain(build_lenet), ResNetArch: _plain(build_resnet),
    SpikingMLPArch: _spiking(mlp_synapses), SpikingLeNetArch: _spiking(lenet_synapses),
    SnnTorchArch: _snntorch, DiehlCookParams: _diehl_cook, ThreeFactorParams: _three_factor,
    KrotovArch: _plain(build_krotov), SoftHebbConvArch: _plain(build_softhebb_conv),
    ConvSTDPArch: _plain(build_conv_stdp),
}


def build(card: ModelCard, input_shape: tuple[int, int, int], num_classes: int,
          seed: int = 0) -> nn.Module:
    """The card's network for inputs of shape (C, H, W) and `num_classes` outputs, on CPU: a flat
    ``nn.Sequential`` for rate-coded cards, a `SpikingNet` (inputs [T, B, C, H, W]) for spiking
    ones, a `DiehlCookNet` / `ThreeFactorNet` for the STDP cards.

    Weights come from ``torch.Generator().manual_seed(seed)``; the global RNG is not used.
    """
    shape = _check_args(input_shape, num_classes, seed)
    return BUILDERS[type(card.architecture)](card, shape, num_classes, seed)
