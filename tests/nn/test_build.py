"""Building cards (spikefa/nn/build.py): every card builds and runs forward on several input
shapes from plain modules, deterministically from its seed and without touching the global RNG;
the architectures have the stated shapes; the builder registry matches the schemas."""

from __future__ import annotations

import math
import typing

import pytest
import torch
from torch import nn

from spikefa.catalog import list_cards, load_card
from spikefa.errors import ConfigError
from spikefa.nn.build import ACTIVATIONS, BUILDERS, POOLS, BasicBlock, build
from spikefa.nn.competitive import RePU, Triangle, UnitNorm
from spikefa.nn.conv_stdp import DoGLatency, MapFeatures, SpikePool
from spikefa.nn.spiking import SpikingNet
from spikefa.schemas.card import ARCH_SCHEMAS, Activation, Pool

CARDS = list_cards()
STDP_CARDS = [name for name in CARDS if load_card(name).arch in ("diehl-cook", "three-factor")]
MODULE_CARDS = [name for name in CARDS if name not in STDP_CARDS]
SHAPES = [(1, 28, 28), (3, 32, 32), (1, 8, 8)]
PLAIN_LEAVES = (nn.Linear, nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.MaxPool2d,
                nn.AvgPool2d, nn.Flatten, nn.AdaptiveAvgPool2d, nn.Dropout, RePU, Triangle, UnitNorm,
                DoGLatency, SpikePool, MapFeatures, nn.LayerNorm)  # conv-stdp (its SpikingConv is an nn.Conv2d)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", MODULE_CARDS)
def test_card_builds_and_runs_forward(name: str, shape: tuple[int, int, int]) -> None:
    card = load_card(name)
    model = build(card, shape, num_classes=10, seed=0)
    if card.spiking:  # time-major spikes in, class scores out; the synapses are plain modules
        from spikefa.nn.spiking import scores

        out = scores(model(torch.rand(4, 3, *shape).round()))
        model = nn.Sequential(*model.synapses)
    else:
        out = model(torch.rand(3, *shape))
    assert out.shape == (3, 10) and torch.isfinite(out).all()
    assert isinstance(model, nn.Sequential)
    leaves = [m for m in model.modules()
              if not list(m.children()) and not isinstance(m, nn.Sequential)]  # [] = identity
    assert all(isinstance(m, PLAIN_LEAVES) for m in leaves), {type(m) for m in leaves}


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", STDP_CARDS)
def test_stdp_card_builds_and_scores_static_images(name: str, shape: tuple[int, int, int]) -> None:
    """The STDP cards build their own modules (not plain ones): class scores from static images."""
    model = build(load_card(name), shape, num_classes=10, seed=0)
    out = model(torch.rand(3, *shape), torch.Generator().manual_seed(0))
    assert out.shape == (3, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", CARDS)
def test_same_seed_same_bits_other_seed_other_bits(name: str) -> None:
    card = load_card(name)
    a, b, c = (build(card, (1, 8, 8), 10, seed=s).state_dict() for s in (7, 7, 8))
    assert a.keys() == b.keys() == c.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    weights = [k for k in a if k.endswith("weight") and a[k].dim() > 1 and a[k].any()]  # not zero-initialized
    assert all(not torch.equal(a[k], c[k]) for k in weights)


def test_build_leaves_the_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    for name in CARDS:
        build(load_card(name), (3, 32, 32), 10, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())


def test_init_is_pytorch_default_fan_in_uniform() -> None:
    model = build(load_card("lenet"), (1, 28, 28), 10, seed=0)
    for layer in (m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))):
        bound = 1 / math.sqrt(layer.weight[0].numel())
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.9 * bound
        assert layer.bias is not None and layer.bias.abs().max() <= bound


def test_lenet_shapes_and_tiny_inputs_skip_pooling() -> None:
    card = load_card("lenet")
    model = build(card, (1, 28, 28), 10)
    assert [m.in_features for m in model if isinstance(m, nn.Linear)] == [64 * 7 * 7, 1024]
    tiny = build(card, (1, 3, 3), 10)  # 3x3 -> pool -> 1x1 -> no second pool
    assert sum(isinstance(m, nn.MaxPool2d) for m in tiny) == 1
    assert tiny(torch.rand(2, 1, 3, 3)).shape == (2, 10)


def test_resnet_is_the_cifar_variant() -> None:
    model = build(load_card("resnet-cifar-small"), (3, 32, 32), 10)
    blocks = [m for m in model if isinstance(m, BasicBlock)]
    assert len(blocks) == 3
    assert len(blocks[0].shortcut) == 0  # identity: 16 -> 16 channels, stride 1
    for block, width in zip(blocks[1:], (32, 64), strict=True):
        projection = block.shortcut[0]
        assert isinstance(projection, nn.Conv2d)
        assert projection.kernel_size == (1, 1) and projection.stride == (2, 2)
        assert projection.out_channels == width
    assert isinstance(model[-1], nn.Linear) and model[-1].in_features == 64


def test_mlp_is_a_flat_sequential_with_biases() -> None:
    model = build(load_card("mlp-2x800-tanh"), (1, 28, 28), 10)
    kinds = [type(m) for m in model]
    assert kinds == [nn.Flatten, nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    assert all(m.bias is not None for m in model if isinstance(m, nn.Linear))


def test_registries_agree() -> None:
    """One architecture registry: every schema names itself and has exactly one builder."""
    assert set(BUILDERS) == set(ARCH_SCHEMAS.values())
    assert all(ARCH_SCHEMAS[schema.ARCH] is schema for schema in BUILDERS)
    assert set(ACTIVATIONS) == set(typing.get_args(Activation))
    assert set(POOLS) == set(typing.get_args(Pool))


@pytest.mark.parametrize("args", [((1, 28), 10), ((1, 0, 28), 10), ((1, 28, 28), 0)])
def test_build_rejects_bad_arguments(args: tuple[object, object]) -> None:
    with pytest.raises(ConfigError, match=r"input_shape|num_classes"):
        build(load_card("lenet"), *args)  # type: ignore[arg-type]


def test_card_builds_a_spiking_net_with_stated_neurons() -> None:
    card = load_card("snn-1x800-lif")
    assert card.spiking and card.neuron.reset == "subtract" and card.encoder.time_steps == 25
    net = build(card, (1, 28, 28), 10, seed=3)
    assert isinstance(net, SpikingNet) and len(net.lif) == 2
    again = build(card, (1, 28, 28), 10, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    out = net(torch.rand(25, 2, 1, 28, 28).round())
    assert out.spikes.shape == (25, 2, 10) and set(out.spikes.unique().tolist()) <= {0.0, 1.0}
