"""Model cards: every card in models/ validates and builds; bad cards fail with one clear line."""

from __future__ import annotations

import math
import typing
from pathlib import Path

import pytest
import torch
from torch import nn

from spikefa.catalog import find_card, list_cards, load_card
from spikefa.errors import ConfigError
from spikefa.nn.build import ACTIVATIONS, BUILDERS, POOLS, BasicBlock, build
from spikefa.schemas.card import (
    ARCH_SCHEMAS,
    Activation,
    MLPArch,
    ModelCard,
    Pool,
    TrainPreset,
    parse_card,
)

CARDS = list_cards()
SHAPES = [(1, 28, 28), (3, 32, 32), (1, 8, 8)]
RULES = {"bp", "fa", "dfa", "sign"}
PLAIN_LEAVES = (nn.Linear, nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.Tanh, nn.Sigmoid, nn.MaxPool2d,
                nn.AvgPool2d, nn.Flatten, nn.AdaptiveAvgPool2d)


def _preset(**changes: object) -> TrainPreset:
    base: dict[str, object] = dict(optimizer="adam", lr=1e-3, batch_size=128, epochs=30,
                                   weight_decay=0.0, momentum=0.9, schedule="cosine",
                                   standardize=True)
    return TrainPreset(**{**base, **changes})  # type: ignore[arg-type]


# ---------------------------------------------------------------- the shipped cards


def test_the_catalog_holds_the_expected_cards() -> None:
    expected = {"mlp-1x2000-relu", "mlp-2x800-relu", "mlp-2x800-tanh", "mlp-1x800-tanh", "lenet",
                "resnet-cifar-small"}
    assert expected <= set(CARDS)


@pytest.mark.parametrize("name", CARDS)
def test_card_loads_and_validates(name: str) -> None:
    path = find_card(name)
    card = load_card(name)
    assert card.name == path.stem
    assert card.source == str(path)
    assert isinstance(card.architecture, ARCH_SCHEMAS[card.arch])
    from spikefa.rules import RULES as REGISTRY
    from spikefa.rules.registry import model_kind

    kind = model_kind(build(card, (1, 8, 8), 10))
    takes = {name for name, rule in REGISTRY.items() if kind in rule.takes}
    assert set(card.presets) <= takes and card.default_rule in takes, (kind, sorted(takes))
    if kind in ("rate", "spiking"):
        assert set(card.presets) == RULES
    assert card.description and card.reference
    assert path.read_text(encoding="utf-8").startswith("# Architecture:")


@pytest.mark.parametrize("name", CARDS)
def test_preset_merges_rule_overrides_over_defaults(name: str) -> None:
    card = load_card(name)
    for rule in RULES:
        preset = card.preset(rule)
        assert isinstance(preset, TrainPreset)
        assert preset.batch_size == card.defaults.batch_size
    import dataclasses
    import tomllib

    raw = tomllib.loads(open(card.source, "rb").read().decode())
    for rule, overrides in raw.get("presets", {}).items():
        expected = dataclasses.replace(card.defaults, **overrides)
        assert card.preset(rule) == expected
    assert card.preset("some-rule-without-overrides") == card.defaults


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", CARDS)
def test_card_builds_and_runs_forward(name: str, shape: tuple[int, int, int]) -> None:
    card = load_card(name)
    model = build(card, shape, num_classes=10, seed=0)
    if card.arch in ("diehl-cook", "three-factor"):  # their own modules: scores from static images
        gen = torch.Generator().manual_seed(0)
        out = model(torch.rand(3, *shape), gen)
        assert out.shape == (3, 10) and torch.isfinite(out).all()
        return
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


# ---------------------------------------------------------------- validation on construction


def test_dataclasses_validate_on_construction() -> None:
    with pytest.raises(ConfigError, match=r"lr = -1\.0 .*> 0"):
        _preset(lr=-1)
    with pytest.raises(ConfigError, match=r"momentum = 1\.0"):
        _preset(momentum=1.0)
    with pytest.raises(ConfigError, match="activation = 'swish'"):
        MLPArch(hidden=(8,), activation="swish", bias=True)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="architecture"):
        ModelCard(name="x", arch="lenet", architecture=MLPArch(hidden=(), activation="relu",
                  bias=True), default_rule="bp", defaults=_preset())
    listed = MLPArch(hidden=[8], activation="relu", bias=True)  # type: ignore[arg-type]
    assert listed.hidden == (8,)
    assert _preset(lr=1).lr == 1.0 and isinstance(_preset(lr=1).lr, float)


# ---------------------------------------------------------------- bad cards on disk

GOOD = Path(find_card("mlp-2x800-relu")).read_text(encoding="utf-8")

# (what to replace, replacement, strings the one-line error must contain)
BAD_CARDS = {
    "unknown-key": ("bias = true", "bias = true\ndropout = 0.5",
                    ["'architecture.dropout'", "0.5", "allowed keys: hidden, activation, bias"]),
    "negative-lr": ("lr = 1e-3", "lr = -0.001", ["defaults.lr", "-0.001", "> 0"]),
    "unknown-activation": ('activation = "relu"', 'activation = "swish"',
                           ["architecture.activation", "'swish'", "'relu', 'tanh', 'sigmoid'"]),
    "unknown-arch": ('arch = "mlp"', 'arch = "vgg"', ["arch", "'vgg'", "'lenet', 'mlp', 'resnet'"]),
    "missing-key": ("epochs = 30\n", "",
                    ["missing required key 'defaults.epochs'", "required keys"]),
    "missing-top-level": ('default_rule = "fa"\n', "", ["'default_rule'"]),
    "bad-override": ("lr = 5e-4", "lr = 0", ["presets.fa.lr", "= 0", "> 0"]),
    "unknown-override-key": ("lr = 5e-4", "lrr = 5e-4", ["'presets.fa.lrr'", "allowed keys"]),
    "float-batch": ("batch_size = 128", "batch_size = 12.5", ["defaults.batch_size", "12.5",
                                                               "an integer"]),
    "bool-epochs": ("epochs = 30", "epochs = true", ["defaults.epochs", "= true", "an integer"]),
    "negative-width": ("hidden = [800, 800]", "hidden = [800, -1]",
                       ["architecture.hidden", "[800, -1]", "positive integers"]),
    "bad-optimizer": ('optimizer = "adam"', 'optimizer = "lbfgs"',
                      ["defaults.optimizer", "'lbfgs'", "'adam', 'sgd'"]),
    "unknown-rule-option": ("lr = 5e-4", "lr = 5e-4\noptions = { bogus = 1 }", ["presets.fa.options", "bogus"]),
    "rule-option-below-minimum": ("[presets.dfa]\nlr = 5e-4", "[presets.dfa]\nlr = 5e-4\noptions = { error_every = 0 }",
                                  ["presets.dfa.options", "error_every=0", ">= 1"]),
    "options-in-defaults": ("epochs = 30\n", "epochs = 30\noptions = { scale = 1 }\n",
                            ["defaults.options", "presets.<rule>.options"]),
}


def test_preset_rule_options_apply_under_the_command_line() -> None:
    from spikefa.train.run import resolve_config

    assert load_card("snn-1x800-lif").preset("dfa").options == {"error": "count", "error_every": 5}
    preset = resolve_config("snn-1x800-lif", "dfa", "mnist").rule_options
    assert preset["error_every"] == 5 and preset["error"] == "count"
    given = resolve_config("snn-1x800-lif", "dfa", "mnist", rule_options={"error_every": "2"})
    assert given.rule_options["error_every"] == 2 and given.rule_options["error"] == "count"
    assert resolve_config("snn-1x800-lif", "bp", "mnist").rule_options == {}


@pytest.mark.parametrize("case", sorted(BAD_CARDS))
def test_bad_card_names_file_key_and_value(case: str, tmp_path: Path) -> None:
    old, new, expected = BAD_CARDS[case]
    assert old in GOOD
    path = tmp_path / f"{case}.toml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    from spikefa.rules import check_card

    with pytest.raises(ConfigError) as info:
        check_card(load_card(path))  # a preset's rule options are checked at the rules' floor
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    for part in expected:
        assert part in message, (part, message)


def test_parse_card_rejects_a_non_table_section() -> None:
    with pytest.raises(ConfigError, match=r"x\.toml: architecture = 3 .*table"):
        parse_card({"name": "x", "arch": "mlp", "architecture": 3, "default_rule": "bp",
                    "defaults": {}}, "x.toml")


def test_even_kernel_is_rejected(tmp_path: Path) -> None:
    text = find_card("lenet").read_text(encoding="utf-8").replace("kernel_size = 5",
                                                                  "kernel_size = 4")
    path = tmp_path / "even.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"architecture\.kernel_size = 4 .*odd"):
        load_card(path)
