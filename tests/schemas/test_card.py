"""Model cards (spikefa/schemas/card.py): every card in models/ validates and its presets merge;
the dataclasses validate on construction; bad cards fail with one clear line naming file, key and
value."""

from __future__ import annotations

from pathlib import Path

import pytest

from spikefa.catalog import find_card, list_cards, load_card
from spikefa.errors import ConfigError
from spikefa.nn.build import build
from spikefa.schemas.card import ARCH_SCHEMAS, MLPArch, ModelCard, TrainPreset, parse_card

CARDS = list_cards()
RULES = {"bp", "fa", "dfa", "sign"}


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
    if kind in ("rate", "spiking"):  # the FA family, and a card's own default rule (krotov, softhebb)
        assert RULES <= set(card.presets) <= RULES | {card.default_rule}
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
    "preset-name-typo": ("[presets.dfa]\nlr = 5e-4", "[presets.dfaa]\nlr = 5e-4",  # would silently fall to [defaults]
                         ["[presets.dfaa] names no registered rule", "did you mean [presets.dfa]"]),
}


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


def test_rate_card_with_a_neuron_section_is_refused() -> None:
    from spikefa.schemas.card import parse_card
    import tomllib
    from spikefa.catalog import find_card

    raw = tomllib.loads(find_card("mlp-1x800-tanh").read_text())
    raw["neuron"] = {"beta": 0.9, "threshold": 1.0, "reset": "zero", "dt": 1.0}
    with pytest.raises(ConfigError, match="neuron"):
        parse_card(raw, "x.toml")
